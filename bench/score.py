#!/usr/bin/env python3
"""Detection quality side by side: the shared corpus scorer over several seeds, for every tool.

  score.py [--seeds 1,2,3,4,5 | --n-seeds 5] [--tools cexguard,betterleaks,kingfisher] [--corpus DIR] [-v]

For each seed: `make_corpus.py --seed N --out TMP` once, then `score.py --tool T --labels TMP/labels.json
--root TMP` for each tool (the corpus scorer copies the tree without the answer files and runs the tool).
Prints one row per (seed, tool) and per-tool means of precision, recall and F1 (the means of the per-seed
values) plus the pooled TP/FP/FN figures recomputed from the per-seed counts.

The corpus lives in ../shared/corpus relative to the repository root (found from this file; --corpus overrides).
cexguard's command is $CEXGUARD (default `cexguard`); the other tools come from $SCANNER_BIN, else from the
folder holding `kingfisher` / `betterleaks` on PATH, else next to this Python.
"""
from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SCORE_RE = re.compile(r"score: precision=([\d.]+|n/a) recall=([\d.]+|n/a) f1=([\d.]+|n/a)")
HEAD_RE = re.compile(r"labels=(\d+) findings=(\d+)")


def scanner_bin() -> str:
    if os.environ.get("SCANNER_BIN"):
        return os.environ["SCANNER_BIN"]
    cex = shutil.which(shlex.split(os.environ.get("CEXGUARD", "cexguard"))[0])
    for d in [*os.environ.get("PATH", "").split(os.pathsep), os.path.dirname(cex) if cex else "",
              os.path.dirname(sys.executable)]:
        if d and all(os.access(os.path.join(d, n), os.X_OK) for n in ("kingfisher", "betterleaks")):
            return d
    return ""


def kind_counts(report: str) -> tuple[int, int, int] | None:
    """Exact TP/FP/FN summed over the scorer's `kind` table (rows: name TP FP FN prec recall F1, or, for false
    positives that mimic no planted kind, name - FP -)."""
    lines = report.splitlines()
    try:
        i = next(n for n, ln in enumerate(lines) if ln.split()[:1] == ["kind"] and "TP" in ln)
    except StopIteration:
        return None
    tp = fp = fn = 0
    for ln in lines[i + 1:]:
        toks = ln.split()
        if not toks:
            break
        try:
            if len(toks) >= 7 and toks[-6] != "-":
                tp, fp, fn = tp + int(toks[-6]), fp + (int(toks[-5]) if toks[-5] != "-" else 0), fn + int(toks[-4])
            elif len(toks) >= 4 and toks[-3] == "-":
                fp += int(toks[-2])
        except ValueError:
            return None
    return tp, fp, fn


def run_score(corpus: str, tool: str, root: str, env: dict, timeout: float) -> dict:
    argv = [sys.executable, os.path.join(corpus, "score.py"), "--tool", tool,
            "--labels", os.path.join(root, "labels.json"), "--root", root]
    t0 = time.monotonic()
    try:
        p = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"timed out after {timeout:.0f}s", "seconds": timeout}
    dt = time.monotonic() - t0
    m = SCORE_RE.search(p.stdout)
    if p.returncode != 0 or not m:
        tail = (p.stderr.strip() or p.stdout.strip()).splitlines()[-3:]
        return {"ok": False, "error": f"exit {p.returncode}: " + " | ".join(tail), "seconds": dt}
    vals = [None if v == "n/a" else float(v) for v in m.groups()]
    head = HEAD_RE.search(p.stdout)
    labels, findings = (int(head.group(1)), int(head.group(2))) if head else (None, None)
    res = {"ok": True, "precision": vals[0], "recall": vals[1], "f1": vals[2], "labels": labels,
           "findings": findings, "seconds": dt, "stdout": p.stdout}
    counts = kind_counts(p.stdout)
    if counts:
        res.update(zip(("tp", "fp", "fn"), counts))
    elif labels is not None and vals[1] is not None:  # from the ratios: TP = recall * labels, FP = TP/P - TP
        tp = round(vals[1] * labels)
        fp = round(tp / vals[0] - tp) if vals[0] else (findings or 0)
        res.update(tp=tp, fn=labels - tp, fp=fp)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default=os.path.join(REPO, "..", "shared", "corpus"),
                    help="folder holding make_corpus.py and score.py (default: ../shared/corpus from the repo root)")
    ap.add_argument("--seeds", help="comma-separated seeds (default: 1..--n-seeds)")
    ap.add_argument("--n-seeds", type=int, default=5)
    ap.add_argument("--tools", default="cexguard,betterleaks,kingfisher")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per tool run")
    ap.add_argument("-v", "--verbose", action="store_true", help="print each run's full scorer report")
    a = ap.parse_args()

    corpus = os.path.abspath(a.corpus)
    for f in ("make_corpus.py", "score.py"):
        if not os.path.exists(os.path.join(corpus, f)):
            sys.exit(f"bench/score.py: {corpus}/{f} not found (use --corpus)")
    seeds = [int(s) for s in a.seeds.split(",")] if a.seeds else list(range(1, a.n_seeds + 1))
    tools = [t.strip() for t in a.tools.split(",") if t.strip()]
    env = dict(os.environ, SCANNER_BIN=scanner_bin())
    print(f"corpus {corpus}; seeds {seeds}; SCANNER_BIN={env['SCANNER_BIN']}; "
          f"CEXGUARD={os.environ.get('CEXGUARD', 'cexguard')}")

    results: dict[str, list[dict]] = {t: [] for t in tools}
    print(f"\n{'seed':>4}  {'tool':<12}{'labels':>7}{'found':>7}{'TP':>6}{'FP':>6}{'FN':>6}"
          f"{'prec':>8}{'recall':>8}{'F1':>8}{'sec':>7}")
    for seed in seeds:
        work = tempfile.mkdtemp(prefix=f"cexguard-score-{seed}-")
        try:
            root = os.path.join(work, "corpus")
            p = subprocess.run([sys.executable, os.path.join(corpus, "make_corpus.py"), "--seed", str(seed),
                                "--out", root], capture_output=True, text=True)
            if p.returncode != 0:
                sys.exit(f"make_corpus.py --seed {seed} failed:\n{p.stderr[-2000:]}")
            for tool in tools:
                r = run_score(corpus, tool, root, env, a.timeout)
                r["seed"] = seed
                results[tool].append(r)
                if not r["ok"]:
                    print(f"{seed:>4}  {tool:<12}FAILED ({r['error'][:300]})")
                    continue
                f = lambda v, spec: format(v, spec) if v is not None else "-".rjust(int(spec.split(".")[0] or 0))  # noqa: E731
                print(f"{seed:>4}  {tool:<12}{f(r['labels'], '7d')}{f(r['findings'], '7d')}{f(r.get('tp'), '6d')}"
                      f"{f(r.get('fp'), '6d')}{f(r.get('fn'), '6d')}{f(r['precision'], '8.3f')}"
                      f"{f(r['recall'], '8.3f')}{f(r['f1'], '8.3f')}{r['seconds']:7.1f}", flush=True)
                if a.verbose:
                    print("      " + r["stdout"].replace("\n", "\n      "))
        finally:
            shutil.rmtree(work, ignore_errors=True)

    print(f"\nmeans over {len(seeds)} seeds (per-seed mean; pooled = from summed TP/FP/FN)")
    print(f"{'tool':<12}{'seeds ok':>9}{'precision':>11}{'recall':>9}{'F1':>8}   {'pooled P':>9}{'pooled R':>9}"
          f"{'pooled F1':>10}")
    for tool in tools:
        ok = [r for r in results[tool] if r["ok"]]
        if not ok:
            print(f"{tool:<12}{0:>5}/{len(seeds):<3}  (all runs failed)")
            continue

        def mean(k):
            vals = [r[k] for r in ok if r.get(k) is not None]  # noqa: B023 (used at once, inside the loop)
            return statistics.mean(vals) if vals else None
        tp, fp, fn = (sum(r.get(k, 0) for r in ok) for k in ("tp", "fp", "fn"))
        pp = tp / (tp + fp) if tp + fp else 0.0
        pr = tp / (tp + fn) if tp + fn else 0.0
        pf = 2 * pp * pr / (pp + pr) if pp + pr else 0.0
        mp, mr, mf = mean("precision"), mean("recall"), mean("f1")
        print(f"{tool:<12}{len(ok):>5}/{len(seeds):<3}{mp:>11.3f}{mr:>9.3f}{mf:>8.3f}   {pp:>9.3f}{pr:>9.3f}{pf:>10.3f}")


if __name__ == "__main__":
    main()
