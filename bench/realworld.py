#!/usr/bin/env python3
"""A real-world detection set: real public files that hold Binance credentials (and real files that hold
none but look like they might), rebuilt from a list of (repository, path, commit) and scored per tool.

  realworld.py build [--out /work/realworld] [--mirrors DIR ...]
  realworld.py score [--out /work/realworld] [--split dev|heldout|all] [--tools cexguard,betterleaks,detect-secrets] [-v]

`bench/realworld.json` (committed) lists each file: repository, path, commit, split (dev: tuned on;
heldout: scored at the end), language/format, and its labels as line numbers plus a kind. It holds no file
content and no key value: `build` reads each file from a local git copy of its repository (a bare mirror
such as /tmp/bench/NAME.git or a snapshot such as /work/.mirror/OWNER+NAME/repo) with `git show
COMMIT:PATH` and writes it under OUT/SPLIT/OWNER__NAME/PATH. Keep OUT outside the repository: the files
hold real keys.

Scoring: a finding matches a label when its path is the label's and its line range covers the label's
line (one line of slack either side for a PEM block). Findings are counted once per (path, first line).
precision = matching findings / findings, recall = matched labels / labels. cexguard is $CEXGUARD
(default `cexguard`); betterleaks and detect-secrets come from $SCANNER_BIN, else PATH, else next to this
Python.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
MANIFEST = os.path.join(HERE, "realworld.json")
MIRRORS = ["/tmp/bench", "/work/.mirror"]
PEM_KINDS = ("binance_private_key", "private_key")


def load_manifest() -> list[dict]:
    with open(MANIFEST, encoding="utf-8") as fh:
        files = json.load(fh)["files"]
    seen = Counter((e["repo"], e["path"]) for e in files)
    for e in files:  # two versions of one file: each in a folder of its own
        e["_dir"] = e["repo"].replace("/", "__") + (f"@{e['commit'][:8]}" if seen[(e["repo"], e["path"])] > 1 else "")
    return files


def git_dir(repo: str, mirrors: list[str], commit: str | None = None) -> str | None:
    """The first local git copy of `repo` (that holds `commit`, when given)."""
    owner, name = repo.split("/", 1)
    for m in mirrors:
        for cand in (os.path.join(m, f"{name}.git"), os.path.join(m, f"{owner}+{name}", "repo", ".git"),
                     os.path.join(m, f"{owner}+{name}", "repo"), os.path.join(m, f"{owner}+{name}.git")):
            if not os.path.isdir(cand) or not os.path.exists(os.path.join(cand, "HEAD")):
                continue
            if commit is None or subprocess.run(["git", "--git-dir", cand, "cat-file", "-e", f"{commit}^{{commit}}"],
                                                capture_output=True).returncode == 0:
                return cand
    return None


def local_path(entry: dict) -> str:
    return f"{entry['_dir']}/{entry['path']}"


def build(out: str, mirrors: list[str]) -> int:
    missing = 0
    files = load_manifest()
    for split in ("dev", "heldout"):
        shutil.rmtree(os.path.join(out, split), ignore_errors=True)
    for e in files:
        gd = git_dir(e["repo"], mirrors, e["commit"])
        if gd is None:
            print(f"missing repository: {e['repo']} (fetch it into one of {', '.join(mirrors)})", file=sys.stderr)
            missing += 1
            continue
        p = subprocess.run(["git", "--git-dir", gd, "show", f"{e['commit']}:{e['path']}"], capture_output=True)
        if p.returncode:
            print(f"missing file: {e['repo']} {e['commit'][:12]}:{e['path']}", file=sys.stderr)
            missing += 1
            continue
        dst = os.path.join(out, e["split"], local_path(e))
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with open(dst, "wb") as fh:
            fh.write(p.stdout)
    repos = {e["repo"] for e in files}
    langs = Counter(e["lang"] for e in files)
    labels = sum(len(e["labels"]) for e in files)
    print(f"{len(files) - missing}/{len(files)} files from {len(repos)} repositories, {labels} labels, "
          f"{len(langs)} languages/formats: {', '.join(f'{k} {v}' for k, v in sorted(langs.items()))}")
    return 1 if missing else 0


# -- tools ------------------------------------------------------------------------------------------------

def _bin(name: str) -> str:
    if os.environ.get("SCANNER_BIN"):
        return os.path.join(os.environ["SCANNER_BIN"], name)
    return shutil.which(name) or os.path.join(os.path.dirname(sys.executable), name)


def run_cexguard(root: str) -> list[tuple[str, int, int]]:
    exe = shlex.split(os.environ.get("CEXGUARD", "cexguard"))
    p = subprocess.run([*exe, "scan", root, "--format", "json", "-q"], capture_output=True, text=True)
    if p.returncode not in (0, 1):
        sys.exit(f"cexguard failed: {p.stderr.strip()[-500:]}")
    return [(f["path"], f["line"], f["end_line"]) for f in json.loads(p.stdout)["findings"]]


def run_betterleaks(root: str) -> list[tuple[str, int, int]]:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.json")
        subprocess.run([_bin("betterleaks"), "fs", root, "-o", out, "--no-banner", "--exit-code", "0"],
                       capture_output=True, text=True)
        data = json.load(open(out)) if os.path.exists(out) and os.path.getsize(out) else {}
    items = data.get("findings", []) if isinstance(data, dict) else data
    out_rows = []
    for x in items:
        loc = x.get("location") or {}
        path = loc.get("path") or x.get("File", "")
        start = loc.get("start_line") or x.get("StartLine")
        end = loc.get("end_line") or x.get("EndLine") or start
        out_rows.append((os.path.relpath(path, root) if os.path.isabs(path) else path, start, end))
    return out_rows


def run_detect_secrets(root: str) -> list[tuple[str, int, int]]:
    p = subprocess.run([_bin("detect-secrets"), "scan", "--all-files", "."], cwd=root, capture_output=True, text=True)
    data = json.loads(p.stdout or "{}")
    return [(path, x["line_number"], x["line_number"]) for path, items in data.get("results", {}).items() for x in items]


TOOLS = {"cexguard": run_cexguard, "betterleaks": run_betterleaks, "detect-secrets": run_detect_secrets}


def score(out: str, split: str, tools: list[str], verbose: bool) -> int:
    files = [e for e in load_manifest() if split == "all" or e["split"] == split]
    labels = [(local_path(e), lab["line"], lab["kind"], lab.get("class", "alnum")) for e in files for lab in e["labels"]]
    dup = {i: next(j for j, o in enumerate(labels) if o[0] == labels[i][0] and o[1] == lab["dup_of"])
           for i, lab in enumerate(lab for e in files for lab in e["labels"]) if lab.get("dup_of")}
    neg_class = {local_path(e): e.get("negative", "positive-file") for e in files}
    roots = [os.path.join(out, s) for s in (("dev", "heldout") if split == "all" else (split,))]
    for r in roots:
        if not os.path.isdir(r):
            sys.exit(f"{r} is missing: run `realworld.py build` first")
    print(f"split={split} files={len(files)} repositories={len({e['repo'] for e in files})} labels={len(labels)} "
          f"languages/formats={len({e['lang'] for e in files})} negative files={sum(1 for e in files if not e['labels'])}")
    for tool in tools:
        found: dict[tuple[str, int], int] = {}
        for r in roots:
            for path, line, end in TOOLS[tool](r):
                path = os.path.normpath(path).replace(os.sep, "/")
                if path not in neg_class:
                    continue  # a file outside the set (cannot happen with a clean build)
                found.setdefault((path, line), end)
        hit_labels = set()
        good = 0
        fps = []
        for (path, line), end in found.items():
            ok = False
            for i, (lp, ll, kind, _cls) in enumerate(labels):
                tol = 1 if kind in PEM_KINDS else 0
                if lp == path and line - tol <= ll <= end + tol:
                    hit_labels.add(i)
                    ok = True
            good += ok
            if not ok:
                fps.append((path, line))
        for i, j in dup.items():  # the same value again in the file: one finding (with a count) covers both
            if i in hit_labels or j in hit_labels:
                hit_labels.update((i, j))
        p = good / len(found) if found else 1.0
        rc = len(hit_labels) / len(labels) if labels else 1.0
        print(f"{tool:15s} precision={p:.3f} recall={rc:.3f} findings={len(found)} fp={len(fps)} "
              f"fn={len(labels) - len(hit_labels)}")
        per = Counter(c for _, _, _, c in labels)
        got = Counter(labels[i][3] for i in hit_labels)
        fpc = Counter(neg_class[p] for p, _ in fps)
        print("    recall by class: " + ", ".join(f"{c} {got[c]}/{n}" for c, n in sorted(per.items())))
        if fpc:
            print("    false positives by file class: " + ", ".join(f"{c} {n}" for c, n in sorted(fpc.items())))
        if verbose:
            for path, line in sorted(fps):
                print(f"    FP {path}:{line} [{neg_class[path]}]")
            for i, (lp, ll, kind, cls) in enumerate(labels):
                if i not in hit_labels:
                    print(f"    FN {lp}:{ll} {kind} [{cls}]")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("--out", default="/work/realworld")
    b.add_argument("--mirrors", nargs="*", default=MIRRORS)
    s = sub.add_parser("score")
    s.add_argument("--out", default="/work/realworld")
    s.add_argument("--split", default="dev", choices=("dev", "heldout", "all"))
    s.add_argument("--tools", default="cexguard,betterleaks,detect-secrets")
    s.add_argument("-v", action="store_true")
    a = ap.parse_args()
    if a.cmd == "build":
        return build(a.out, a.mirrors)
    return score(a.out, a.split, a.tools.split(","), a.v)


if __name__ == "__main__":
    sys.exit(main())
