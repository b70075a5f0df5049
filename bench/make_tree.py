#!/usr/bin/env python3
"""Build a large working tree of real source for the `run.py tree` benchmark, offline.

  make_tree.py --out DIR [--mb 100] [--min-files 5000] [--force]

Copies text source files (Python stdlib, installed packages, /usr/include, ...; see _common.source_roots)
into DIR/<root label>/<relative path> until --mb megabytes and --min-files files are reached, then plants a
handful of freshly generated Binance credentials. The file selection is fixed for a given machine (files
are ordered by a hash of their relative path, so the sample mixes every root without depending on mtime or
os.walk order); only the planted key values change between runs.

What was planted (redacted) is printed; the plaintext goes to DIR.planted.json, next to the tree and never
inside it, so that no scanner reads it.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import binance_key, ed25519_pem, iter_source_files, redact, source_roots


def plant(out: str) -> list[dict]:
    """Write the planted files; return [{file, line, kind, value}] (plaintext, for DIR.planted.json)."""
    k1, s1, k2, s2, k3, s3 = (binance_key() for _ in range(6))
    pem = ed25519_pem()
    files = {
        ".env": (f"# local settings, do not commit\nDEBUG=1\nBINANCE_API_KEY={k1}\nBINANCE_API_SECRET={s1}\n"
                 "LOG_LEVEL=info\n"),
        "app/trading/client.py": ('"""Exchange client factory."""\nfrom binance.client import Client\n\n\n'
                                  "def make_client():\n"
                                  f'    client = Client("{k2}", "{s2}")\n'
                                  "    return client\n"),
        "deploy/helm/values-prod.yaml": ("replicaCount: 2\nexchange:\n  name: binance\n"
                                         f"  apiKey: \"{k3}\"\n  apiSecret: \"{s3}\"\n"),
        "keys/binance_ed25519.pem": pem,
    }
    planted = []
    for rel, text in files.items():
        path = os.path.join(out, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as fh:
            fh.write(text)
        lines = text.splitlines()
        for kind, value in (("binance_api_key", k1), ("binance_secret_key", s1), ("binance_api_key", k2),
                            ("binance_secret_key", s2), ("binance_api_key", k3), ("binance_secret_key", s3),
                            ("binance_private_key", pem)):
            probe = value if kind != "binance_private_key" else value.splitlines()[0]
            for i, line in enumerate(lines, 1):
                if probe in line and (kind != "binance_private_key" or value in text):
                    planted.append({"file": rel, "line": i, "kind": kind, "value": value})
                    break
    return planted


def build(out: str, mb: float, min_files: int, force: bool = False, quiet: bool = False) -> dict:
    t0 = time.monotonic()
    out = os.path.abspath(out)
    if os.path.exists(out):
        if not force and os.listdir(out):
            sys.exit(f"make_tree: {out} exists and is not empty (use --force to replace it)")
        shutil.rmtree(out)
    os.makedirs(out)
    roots = source_roots()
    skip = (out, os.path.dirname(out), os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    cands = list(iter_source_files(roots, skip_prefixes=skip))
    # fixed, well-mixed order: hash of "label/relpath"
    cands.sort(key=lambda c: hashlib.sha1(f"{c[0]}/{c[1]}".encode()).digest())
    target = int(mb * 1024 * 1024)
    total = n = 0
    for label, rel, src, size in cands:
        if total >= target and n >= min_files:
            break
        dst = os.path.join(out, label, rel)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        try:
            shutil.copyfile(src, dst)
        except OSError:
            continue
        total += size
        n += 1
    if total < target or n < min_files:
        print(f"make_tree: warning: only {n} files / {total / 2**20:.1f} MiB of source found on this machine "
              f"(wanted {mb} MiB, {min_files} files)", file=sys.stderr)
    planted = plant(out)
    manifest = {"tree": out, "files": n + len({p["file"] for p in planted}), "bytes": total,
                "roots": roots, "planted": planted}
    with open(out.rstrip("/") + ".planted.json", "w") as fh:
        json.dump(manifest, fh, indent=1)
    dt = time.monotonic() - t0
    if not quiet:
        print(f"make_tree: {manifest['files']} files, {total / 2**20:.1f} MiB of source from "
              f"{', '.join(label for label, _ in roots)} in {dt:.1f}s -> {out}")
        print(f"planted ({len(planted)} secrets, plaintext in {out.rstrip('/')}.planted.json):")
        for p in planted:
            print(f"  {p['file']}:{p['line']}  {p['kind']:<20} {redact(p['value'])}")
    return manifest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="directory to create (e.g. /tmp/bench/tree)")
    ap.add_argument("--mb", type=float, default=100, help="megabytes of source to copy (default 100)")
    ap.add_argument("--min-files", type=int, default=5000, help="at least this many files (default 5000)")
    ap.add_argument("--force", action="store_true", help="replace DIR if it exists")
    a = ap.parse_args()
    build(a.out, a.mb, a.min_files, a.force)


if __name__ == "__main__":
    main()
