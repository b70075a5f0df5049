#!/usr/bin/env python3
"""The history audit on real repositories: cexguard vs betterleaks vs kingfisher vs the git floor.

  real.py clone [--from DIR]       clone every repository of REPOS into /tmp/bench/NAME.git (bare mirrors)
  real.py run [NAME ...] [--reps 1] time them side by side (run.py's measurement), smallest first, and
        [--base DIR]                write a Markdown table of cost against blobs and bytes; --base: also an
                                    earlier cexguard (PYTHONPATH=DIR), interleaved

Real histories are what matter: long delta chains, thousands of refs, missing objects. A history written by
`git fast-import` (make_history.py) has almost no deltas and hides those costs; it stays for scale beyond
these. Nothing of these repositories is ever committed here: this file is the recipe (which repository,
cloned how) and the scripts rebuild and score it.

Where the repositories come from: `clone` takes `--from DIR` holding `OWNER+NAME/repo` git directories (how
the development machine's mirror keeps them), else `https://github.com/OWNER/NAME`. A mirror clone
(`git clone --mirror`) keeps every ref (pull-request refs included, where the source has them), which is
what an audit of "everything the repository ever held" reads.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import run as R  # noqa: E402  (run.py: measure, contenders, summarize)

# (name, owner/repository): growing size. The commit each was measured at is printed by `run` (HEAD of the
# mirror) and written into the table, so a result can be reproduced.
REPOS = [
    ("binance-spot-api-docs", "binance/binance-spot-api-docs"),
    ("python-binance", "sammchardy/python-binance"),
    ("binance-connector-python", "binance/binance-connector-python"),
    ("flask", "pallets/flask"),
    ("sqlalchemy", "sqlalchemy/sqlalchemy"),
    ("freqtrade", "freqtrade/freqtrade"),
    ("hummingbot", "hummingbot/hummingbot"),
]
DEST = os.environ.get("CEXGUARD_BENCH_DIR", "/tmp/bench")


def cmd_clone(a) -> None:
    os.makedirs(DEST, exist_ok=True)
    for name, slug in REPOS:
        dest = os.path.join(DEST, f"{name}.git")
        if os.path.isdir(dest):
            print(f"{dest}: present")
            continue
        src = os.path.join(a.from_dir, slug.replace("/", "+"), "repo") if a.from_dir else None
        src = src if src and os.path.isdir(src) else f"https://github.com/{slug}"
        print(f"{dest} <- {src}")
        subprocess.run(["git", "clone", "-q", "--mirror", src, dest], check=True)


def facts(repo: str) -> dict:
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", repo, *args], capture_output=True, text=True).stdout
    blobs = nbytes = 0
    for line in git("cat-file", "--batch-all-objects", "--unordered",
                    "--batch-check=%(objecttype) %(objectsize)").splitlines():
        kind, _, size = line.partition(" ")
        if kind == "blob":
            blobs += 1
            nbytes += int(size)
    return {"head": git("rev-parse", "HEAD").strip()[:12], "commits": int(git("rev-list", "--all", "--count") or 0),
            "refs": len(git("for-each-ref").splitlines()), "blobs": blobs, "blob_bytes": nbytes}


def cmd_run(a) -> None:
    names = a.names or [n for n, _ in REPOS]
    rows = []
    load = R.check_load()
    for name in names:
        repo = os.path.join(DEST, f"{name}.git")
        if not os.path.isdir(repo):
            print(f"{repo}: missing (real.py clone)", file=sys.stderr)
            continue
        f = facts(repo)
        print(f"\n== {name}: {f['commits']} commits, {f['refs']} refs, {f['blobs']} blobs, "
              f"{f['blob_bytes'] / 1e9:.2f} GB of blob content (HEAD {f['head']})")
        tools = R.contenders(repo, "history", a)
        if a.base:  # an earlier revision of cexguard, timed in the same interleaved run
            R.ensure_bytecode(R.cexguard_argv(), a.base)
            argv = ["env", f"PYTHONPATH={a.base}", *R.cexguard_argv(), "history", repo, "--format", "json", "-q"]
            tools.insert(1, R.Tool("cexguard@base", lambda out, argv=argv: argv, ok_rcs=(0, 1, 4)))
        floor = R.Tool("cat-file -u", lambda out, repo=repo: ["git", "-C", repo, "cat-file", "--batch-all-objects",
                                                               "--batch", "--unordered"],
                       ok_rcs=(0,), needs_json=False, report=None)
        R.bench(tools + [floor], a.reps, a.timeout, warmup=not a.no_warmup)
        res = R.summarize("history", tools, refs=[floor], title=name)
        rows.append((name, f, res))
    lines = [f"# History audit on real repositories ({time.strftime('%Y-%m-%d')})", "",
             f"Machine: {R.machine()}; before: {load}. Median of {a.reps} run(s) after a warm-up, interleaved. "
             "Ratios are cexguard / other; `failed` = the tool aborted (its message is in the log).", "",
             "| repository | commits | refs | blobs | GB | cexguard s | tree MiB | betterleaks | kingfisher | "
             "cat-file -u | s per GB | s per 10k blobs |" + (" cexguard@base |" if a.base else ""),
             "|" + " --- |" * (13 if a.base else 12)]
    for name, f, res in rows:
        by = {r["tool"]: r for r in res["rows"]}
        cex = by.get("cexguard", {})

        def cell(tool: str, by: dict = by, cex: dict = cex) -> str:
            r = by.get(tool)
            if not r or r["wall"] is None:
                return f"failed ({r['failed']})" if r and r.get("failed") else "-"
            ratio = cex.get("wall") / r["wall"] if cex.get("wall") and r["wall"] else None
            return f"{r['wall']:.1f} s ({ratio:.2f}x)" if ratio else f"{r['wall']:.1f} s"
        wall = cex.get("wall")
        gb = f["blob_bytes"] / 1e9
        lines.append(f"| {name} | {f['commits']} | {f['refs']} | {f['blobs']} | {gb:.2f} | "
                     f"{wall:.1f} | {cex.get('tree_mib') or 0:.0f} | {cell('betterleaks')} | {cell('kingfisher')} | "
                     f"{cell('cat-file -u')} | {wall / gb if wall and gb else 0:.1f} | "
                     f"{wall / f['blobs'] * 1e4 if wall and f['blobs'] else 0:.2f} |"
                     + (f" {cell('cexguard@base')} |" if a.base else "")
                     if wall else f"| {name} | {f['commits']} | {f['refs']} | {f['blobs']} | {gb:.2f} | failed | | "
                     f"{cell('betterleaks')} | {cell('kingfisher')} | {cell('cat-file -u')} | | |")
    text = "\n".join(lines) + "\n"
    print("\n" + text)
    if a.md:
        os.makedirs(os.path.dirname(os.path.abspath(a.md)), exist_ok=True)
        with open(a.md, "w") as fh:
            fh.write(text)
        with open(os.path.splitext(a.md)[0] + ".json", "w") as fh:
            json.dump([{"name": n, **f, "result": r} for n, f, r in rows], fh, indent=1, default=str)
        print(f"wrote {a.md}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--wrappers", action="store_true")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("clone")
    p.add_argument("--from", dest="from_dir", default=os.environ.get("CEXGUARD_MIRRORS", "/work/.mirror"))
    p = sub.add_parser("run")
    p.add_argument("names", nargs="*")
    p.add_argument("--reps", type=int, default=1)
    p.add_argument("--no-warmup", action="store_true")
    p.add_argument("--md", default=os.path.join(HERE, "results", "real.md"))
    p.add_argument("--base", metavar="DIR", help="also time cexguard with PYTHONPATH=DIR (a snapshot of an earlier "
                   "commit, see README), interleaved: its column is cexguard / base")
    a = ap.parse_args()
    (cmd_clone if a.cmd == "clone" else cmd_run)(a)


if __name__ == "__main__":
    main()
