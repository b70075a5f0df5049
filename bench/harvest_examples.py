#!/usr/bin/env python3
"""List the keys Binance publishes in its docs and official SDKs, by fingerprint, for rules/binance_examples.yaml.

  harvest_examples.py REPO.git [REPO.git ...] [--exclude GLOB ...] [--min-repos 1] > entries.yaml

Runs `cexguard history REPO --include-examples` over each (bare or work-tree) repository of Binance's own
docs and connectors and prints one YAML entry per distinct secret: its fingerprint (never the value) and
the first repository and path that published it. Review the list before committing it: a repository's
history can also hold a contributor's real key committed by mistake (--exclude drops such paths).
cexguard's command is $CEXGUARD (default `cexguard`).
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import os
import shlex
import subprocess
import sys


def scan(repo: str) -> list[dict]:
    exe = shlex.split(os.environ.get("CEXGUARD", "cexguard"))
    p = subprocess.run([*exe, "history", repo, "--include-examples", "--format", "json", "-q"],
                       capture_output=True, text=True)
    if p.returncode not in (0, 1):
        sys.exit(f"cexguard failed on {repo}: {p.stderr.strip()[-500:]}")
    return json.loads(p.stdout)["findings"]


def repo_name(path: str) -> str:
    """`/work/.mirror/binance+binance-connector-js/repo` -> binance/binance-connector-js."""
    parts = [p for p in path.rstrip("/").split("/") if p not in ("repo", "")]
    name = parts[-1].removesuffix(".git")
    return name.replace("+", "/", 1) if "+" in name else f"binance/{name}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("repos", nargs="+")
    ap.add_argument("--exclude", action="append", default=[], help="glob on paths to leave out (repeatable)")
    args = ap.parse_args()
    seen: dict[str, tuple[str, str, str]] = {}
    for repo in args.repos:
        name = repo_name(repo)
        for f in scan(repo):
            if any(fnmatch.fnmatch(f["path"], g) for g in args.exclude):
                continue
            seen.setdefault(f["fingerprint"], (name, f["path"], f["kind"]))
    for fp, (name, path, kind) in sorted(seen.items(), key=lambda x: (x[1], x[0])):
        src = f"{name} {path} ({kind})".replace("'", "''")
        print(f"  - {{fingerprint: '{fp}', source: '{src}'}}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
