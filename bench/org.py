"""`cexguard org` at organisation scale: an org of real repositories (bare mirrors on this machine plus
hardlinked `git clone --mirror` copies) audited with 1, 2 and 4 local Dask workers, against the same
repositories audited one by one in a loop with `cexguard history`, betterleaks and kingfisher. Also
measured, for the cost model in bench/README.md: cluster start, per-repository overhead (an org of tiny
repositories, and the unchanged re-run), and clone cost (file:// mirrors through cexguard's mirror mode).

    python3 bench/org.py [--sources /tmp/bench] [--small python-binance,binance-spot-api-docs,...]
                         [--copies 50] [--workers 1,2,4] [--peer-sample 10] [--big freqtrade,...]

Standard library only (Dask comes with `pip install 'cexguard[org]'`). Results: bench/results/org.json
and a Markdown table on stdout. Nothing here plants keys: these are public repositories.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PEERS = Path(os.environ.get("SCANNER_BIN", "/tmp/peers/bin"))
ENV = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))


def sh(cmd: list[str], **kw: object) -> float:
    t = time.monotonic()
    p = subprocess.run(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, **kw)  # type: ignore[call-overload]
    if p.returncode not in (0, 1, 200):  # (kingfisher exits 200 when it found something)
        print(f"  ! {' '.join(cmd[:4])}... exit {p.returncode}: {p.stderr.strip()[-300:]}", file=sys.stderr)
    return time.monotonic() - t


def cg(*args: str) -> list[str]:
    return [sys.executable, "-m", "scanner", *args]


def make_org(sources: Path, names: list[str], copies: int, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    repos = []
    for i in range(copies):
        src = sources / f"{names[i % len(names)]}.git"
        dst = out / f"{src.stem}-{i:03d}.git"
        if not (dst / "HEAD").exists():  # a local clone hardlinks the object store: every object, unreachable too
            subprocess.run(["git", "clone", "-q", "--mirror", str(src), str(dst)], check=True)
        repos.append(dst)
    return repos


def org_run(repos_file: Path, workers: int, state: Path) -> tuple[float, dict]:  # type: ignore[type-arg]
    shutil.rmtree(state, ignore_errors=True)
    out = state.with_suffix(".json")
    t = sh(cg("org", str(repos_file), "--workers", str(workers), "--state-dir", str(state), "-q", "--format", "json",
              "-o", str(out)))
    return t, json.loads(out.read_text())


def loop(repos: list[Path], tool: str, tmp: Path) -> float:
    total = 0.0
    for r in repos:
        o = tmp / f"{tool}.json"
        if tool == "history":
            total += sh(cg("history", str(r), "-q", "--format", "json", "-o", str(o)))
        elif tool == "betterleaks":
            total += sh([str(PEERS / "betterleaks"), "git", str(r), "--no-banner", "-o", str(o)])
        else:
            total += sh([str(PEERS / "kingfisher"), "scan", str(r), "--no-validate", "--format", "json",
                         "--no-update-check", "--git-history", "full"], cwd=tmp)
    return total


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sources", default="/tmp/bench")
    ap.add_argument("--small", default="python-binance,binance-spot-api-docs,binance-connector-python")
    ap.add_argument("--big", default="", help="comma-separated big repositories audited once (org, 2 workers)")
    ap.add_argument("--copies", type=int, default=50)
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--peer-sample", type=int, default=0, help="loop the peers over the first N repos only (0: all)")
    ap.add_argument("--work", default="/tmp/org-bench")
    args = ap.parse_args()
    work = Path(args.work)
    sources = Path(args.sources)
    res: dict = {"machine": {"cores": os.cpu_count(), "load": os.getloadavg()}}  # type: ignore[type-arg]
    repos = make_org(sources, args.small.split(","), args.copies, work / "org")
    rf = work / "repos.txt"
    rf.write_text("".join(f"{r}\n" for r in repos))
    blob_bytes = 0

    # cluster start alone: an org of one empty repository
    tiny = work / "tiny"
    if not tiny.exists():
        for i in range(50):
            d = tiny / f"t{i:02d}"
            d.mkdir(parents=True)
            subprocess.run(["git", "init", "-q", str(d)], check=True)
            (d / "README").write_text(f"tiny {i}\n")
            subprocess.run(["git", "-C", str(d), "-c", "user.name=b", "-c", "user.email=b@b", "add", "."], check=True)
            subprocess.run(["git", "-C", str(d), "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "x"],
                           check=True)
    (work / "one.txt").write_text(f"{tiny / 't00'}\n")
    (work / "tiny.txt").write_text("".join(f"{tiny / f't{i:02d}'}\n" for i in range(50)))
    res["start_1_tiny_repo_s"] = round(org_run(work / "one.txt", 2, work / "st-one")[0], 2)
    t50, _ = org_run(work / "tiny.txt", 2, work / "st-tiny")
    res["tiny_50_repos_2_workers_s"] = round(t50, 2)
    res["per_repo_overhead_s"] = round((t50 - res["start_1_tiny_repo_s"]) / 49 * 2, 3)  # worker-seconds per repo
    print(json.dumps(res), flush=True)

    for w in [int(x) for x in args.workers.split(",")]:
        t, doc = org_run(rf, w, work / f"st-w{w}")
        blob_bytes = doc["stats"]["bytes_scanned"]
        res[f"org_{w}_workers_s"] = round(t, 1)
        res.setdefault("incidents", len(doc["incidents"]))
        res.setdefault("locations", sum(len(i["locations"]) for i in doc["incidents"]))
        print(json.dumps({k: v for k, v in res.items() if k.startswith("org_")}), flush=True)
    res["blob_bytes"] = blob_bytes
    w = max(int(x) for x in args.workers.split(","))
    t0 = time.monotonic()
    sh(cg("org", str(rf), "--workers", str(w), "--state-dir", str(work / f"st-w{w}"), "-q", "--format", "json",
          "-o", str(work / "rerun.json")))
    res["org_unchanged_rerun_s"] = round(time.monotonic() - t0, 1)

    tmp = work / "tmp"
    tmp.mkdir(exist_ok=True)
    sample = repos[: args.peer_sample] if args.peer_sample else repos
    res["loop_repos"] = len(sample)
    for tool in ("history", "betterleaks", "kingfisher"):
        res[f"loop_{tool}_s"] = round(loop(sample, tool, tmp), 1)
        print(json.dumps({k: v for k, v in res.items() if k.startswith("loop_")}), flush=True)

    # clone cost: file:// mirrors of the distinct sources through cexguard's mirror mode (1 worker)
    urls = work / "urls.txt"
    urls.write_text("".join(f"file://{sources / n}.git\n" for n in args.small.split(",")))
    shutil.rmtree(work / "st-url", ignore_errors=True)
    shutil.rmtree(work / "clones", ignore_errors=True)
    t_url = sum(sh(["git", "clone", "-q", "--mirror", f"file://{sources / n}.git", str(work / "clones" / n)])
                for n in args.small.split(","))
    size = sum(f.stat().st_size for n in args.small.split(",") for f in (sources / f"{n}.git" / "objects" / "pack").glob("*.pack"))
    res["clone_s"] = round(t_url, 2)
    res["clone_pack_mb"] = round(size / 2**20, 1)

    if args.big:
        bf = work / "big.txt"
        bf.write_text("".join(f"{sources / n}.git\n" for n in args.big.split(",")))
        t, doc = org_run(bf, 2, work / "st-big")
        res["big_org_2_workers_s"] = round(t, 1)
        res["big_history_loop_s"] = round(loop([sources / f"{n}.git" for n in args.big.split(",")], "history", tmp), 1)

    (ROOT / "bench" / "results").mkdir(exist_ok=True)
    (ROOT / "bench" / "results" / "org.json").write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
