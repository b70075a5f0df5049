"""Check the full audit's provenance on a real repository: the entries the tree search gives
(scanner/sources/treeprov.py) against those of the whole-history log it replaced, for given blobs or a
random sample of every blob in the store (a sample exercises what findings rarely do: blobs at many
paths, renamed and copied folders, merges).

    python bench/check_provenance.py REPO [--sample 300] [--seed 1] [--want FILE]

Entries are compared in order, as (commit, path, old, new) with a side that is not a wanted blob as
None (the tree search does not read it; a finding does not depend on it). Prints the CPU of each way
(git and Python) and exits 1 on any difference."""
from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from scanner.sources.git import open_repo
from scanner.sources.gitlog import HistoryLog
from scanner.sources.objects import list_all_objects
from scanner.sources.treeprov import TreeSearch


def cpu() -> tuple[float, float, float]:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime, c.ru_utime + c.ru_stime, time.time()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("repo")
    ap.add_argument("--want", help="blob ids, one a line")
    ap.add_argument("--sample", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    repo = open_repo(a.repo)
    listing = list_all_objects(repo, max_size=1 << 62, procs=[])
    if a.want:
        want = set(open(a.want).read().split())
    else:
        listing.blobs.seek(0)
        blobs = listing.blobs.read().split()
        want = {b.decode() for b in random.Random(a.seed).sample(blobs, min(a.sample, len(blobs)))}
    t0 = cpu()
    search = TreeSearch(repo, listing.trees)  # type: ignore[arg-type]
    got = search.events(want)
    t1 = cpu()
    if got is None:
        print("the tree search could not answer (no Hyperscan, or a tree git cannot read)")
        return 1
    log = HistoryLog(repo)
    ref = log.events(want)
    t2 = cpu()
    log.close()
    search.close()

    def norm(e):  # type: ignore[no-untyped-def]
        return (e.commit, e.path, e.old if e.old in want else None, e.new if e.new in want else None)

    new, old = [norm(e) for e in got], [norm(e) for e in ref]
    for name, (x, y) in (("tree search", (t0, t1)), ("whole-history log", (t1, t2))):
        print(f"{name:18s} python {y[0] - x[0]:6.2f} s  git {y[1] - x[1]:6.2f} s  wall {y[2] - x[2]:6.2f} s")
    print(f"{len(want)} blobs, {len({e[1] for e in old})} paths: entries {len(new)} / {len(old)}, "
          f"equal in order: {new == old}")
    if new != old:
        print("only tree search:", [(c.oid, p) for c, p, _, _ in new if (c, p, _, _) not in old][:5])
        print("only whole log:", [(c.oid, p) for c, p, _, _ in old if (c, p, _, _) not in new][:5])
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
