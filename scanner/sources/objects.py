"""Listing the blobs a history audit reads: every object in the store (`git cat-file
--batch-all-objects --batch-check`, in delta order), or those refs and reflogs reach (`git rev-list
--objects`), or given ids; and the walk for objects refs reach but the store lacks."""
from __future__ import annotations

import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO

from scanner.models import UNREADABLE_SHOWN
from scanner.sources.git import GitError, GitProc, Repo, popen

_BATCH = 1 << 16


# --------------------------------------------------------------------------------------------
# listing blobs
#
# Listing first, then streaming: the lister (`cat-file --batch-all-objects --batch-check` keeps an
# id set of every object: ~150 MB for a million objects) and the reader run one after the other,
# so the whole process tree stays under 200 MB; the listing also gives the progress bar its totals.
#
# The order blobs are read in decides what git costs. Real histories are deep delta chains: each
# version of a file is stored as a delta against another version, and git rebuilds a blob from its
# chain's base, keeping rebuilt bases in its delta-base cache. In pack order (`--unordered`) the
# versions of one file are spread over the whole pack, so only a large cache keeps their bases:
# streaming sqlalchemy's 86,856 blobs (4.5 GB) through `cat-file --batch` took 6.5 s / 163 MB RSS
# with a 96 MB cache, 9.9 s with 32 MB, 12.5 s with 16 MB, 15 s with 8 MB. The listing asks git
# for each blob's delta base (`%(deltabase)`) and the blobs are read depth first along each delta
# tree, every base just before the blobs built on it: then a small cache holds what is needed and
# each blob is one delta away from a cached one: 3.8 s / 69 MB RSS with 16 MB (8 MB: 4.1 s). On
# hummingbot (128,088 blobs, 2.3 GB, fewer deltas) 7.2 s / 86 MB against 8.2 s / 236 MB.
# Faster than `cat-file --batch-all-objects --batch --unordered` itself (5.3 s on sqlalchemy).
# Pack windows (mapped pack pages count in RSS): 1 MB windows, up to 32 MB mapped for the listing
# and 16 MB for the stream (hummingbot 72 MB RSS instead of 87, sqlalchemy 54 instead of 67: the
# log and the missing-object walk run beside it, and the whole tree stays under 200 MB). The listing
# jumps back along delta chains for each delta's type: with 8 MB windows git spent 1.0 s of system
# time re-mapping them on sqlalchemy (2.0 s in all), with 1 MB windows 0.1 s (1.0 s, 51 MB RSS);
# with git's defaults (the whole pack mapped) 0.8 s but 140 MB RSS.

LOWMEM = ("-c", "core.deltaBaseCacheLimit=96m", "-c", "core.packedGitWindowSize=8m",
          "-c", "core.packedGitLimit=32m")  # a listing not in delta order (--reachable-only, a range)
DELTA_MEM = ("-c", "core.deltaBaseCacheLimit=16m", "-c", "core.packedGitWindowSize=1m",
             "-c", "core.packedGitLimit=16m")  # a listing in delta order
LIST_MEM = ("-c", "core.packedGitWindowSize=1m", "-c", "core.packedGitLimit=32m")  # the lister
DELTA_ORDER_MAX = 1_500_000  # blobs; beyond, pack order (the ordering holds ~100 bytes per blob in Python)


@dataclass
class Listing:
    """Blob ids to read (a temporary file, one per line, in pack order), with their totals."""

    blobs: IO[bytes]
    count: int = 0
    nbytes: int = 0
    too_large: int = 0
    missing: int = 0
    missing_ids: list[str] = field(default_factory=list)  # the first UNREADABLE_SHOWN of them
    git_mem: tuple[str, ...] = LOWMEM  # git settings for reading in this listing's order
    commits: IO[bytes] | None = None  # every commit id in the store (for the unreachable pass)
    trees: IO[bytes] | None = None  # every tree in the store, 'id size' lines, pack order (treeprov.py)
    error: str | None = None  # why the listing is incomplete (git stopped at an unreadable object)

    def lost(self, oid: bytes) -> None:
        """An object the listing names but git cannot read (absent, or a corrupt header)."""
        self.missing += 1
        if len(self.missing_ids) < UNREADABLE_SHOWN:
            self.missing_ids.append(oid.decode("ascii", "replace"))

    def close(self) -> None:
        self.blobs.close()
        for f in (self.commits, self.trees):
            if f is not None:
                f.close()


def _tempfile() -> IO[bytes]:
    import tempfile

    return tempfile.TemporaryFile()


def _lines(stream: IO[bytes]) -> Iterator[list[bytes]]:
    """A process's output as lists of lines, a megabyte at a time (cheaper than line by line)."""
    rest = b""
    while True:
        block = stream.read(1 << 20)
        if not block:
            if rest:
                yield [rest]
            return
        lines = (rest + block).split(b"\n")
        rest = lines.pop()
        yield lines


def list_all_objects(repo: Repo, *, max_size: int, procs: list[GitProc]) -> Listing:
    """Every blob in the object store (reachable or not), in delta order (see DELTA_MEM; pack order
    past DELTA_ORDER_MAX blobs); and every commit."""
    listing = Listing(blobs=_tempfile(), commits=_tempfile(), trees=_tempfile())
    assert listing.commits is not None and listing.trees is not None
    p = popen(repo.cwd, *LIST_MEM, "cat-file", "--batch-all-objects", "--unordered",
              "--batch-check=%(objecttype) %(objectname) %(objectsize) %(deltabase)", bufsize=0)
    procs.append(p)
    assert p.stdout is not None
    out, commits, trees = listing.blobs, listing.commits, listing.trees
    order: _DeltaOrder | None = _DeltaOrder()
    for lines in _lines(p.stdout):
        keep, tree_ids = [], []
        for line in lines:
            if line[:5] == b"blob ":
                _, oid, size_b, base = line.split(b" ")
                size = int(size_b)
                if size > max_size:
                    listing.too_large += 1
                    continue
                listing.nbytes += size
                keep.append(oid)
                if order is not None:
                    order.add(oid, base)
            elif line[:5] == b"tree ":
                tree_ids.append(line[5:].rsplit(b" ", 1)[0])  # 'id size'

            elif line[:7] == b"commit ":
                commits.write(line[7:].split(b" ", 1)[0] + b"\n")
            elif line.endswith(b" missing"):  # in the store, but its header cannot be read (corrupt)
                listing.lost(line.split(b" ", 1)[0])
        if keep:
            listing.count += len(keep)
            keep.append(b"")
            out.write(b"\n".join(keep))
        if tree_ids:
            tree_ids.append(b"")
            trees.write(b"\n".join(tree_ids))
        if order is not None and listing.count > DELTA_ORDER_MAX:
            order = None  # too many to order in memory: pack order, with git's larger cache
    p.check()
    if order is not None and listing.count:
        out.seek(0)
        out.truncate()
        order.write(out)  # (the lister has exited: its memory and the ordering's are never held together)
        listing.git_mem = DELTA_MEM
    return listing


class _DeltaOrder:
    """Blobs in an order where each delta base comes just before the blobs built on it: depth first
    along each delta tree (roots and siblings in pack order), so git's delta-base cache always
    holds the base a blob needs. Any order lists every blob once: a base outside the listing (too
    large, in another pack, absent) makes its deltas roots, and a cycle (duplicate objects in two
    packs) is read in pack order."""

    _NONE = {b"0" * 40, b"0" * 64, b""}

    def __init__(self) -> None:
        from array import array

        self.index: dict[bytes, int] = {}  # oid -> position in pack order (the keys, in that order)
        self.parent = array("i")  # position of each blob's base, -1 for none (yet)
        self.later: dict[int, bytes] = {}  # blob -> its base, listed after it

    def add(self, oid: bytes, base: bytes) -> None:
        i = len(self.index)
        self.index[oid] = i
        j = self.index.get(base, -1)
        self.parent.append(j)
        if j < 0 and base not in self._NONE:
            self.later[i] = base

    def positions(self) -> list[int]:
        from array import array

        parent, n = self.parent, len(self.parent)
        for i, base in self.later.items():
            parent[i] = self.index.get(base, -1)
        first = array("i", [-1]) * n  # first child, next sibling: the delta trees without a list per blob
        nxt = array("i", [-1]) * n
        for i in range(n - 1, -1, -1):
            p = parent[i]
            if p >= 0:
                nxt[i] = first[p]
                first[p] = i
        seen = bytearray(n)
        order: list[int] = []
        for roots_only in (True, False):
            for r in range(n):
                if seen[r] or (roots_only and parent[r] >= 0):
                    continue
                stack = [r]
                while stack:
                    x = stack.pop()
                    if seen[x]:
                        continue
                    seen[x] = 1
                    order.append(x)
                    kids = []
                    c = first[x]
                    while c >= 0:
                        kids.append(c)
                        c = nxt[c]
                    stack.extend(reversed(kids))
        return order

    def write(self, out: IO[bytes]) -> None:
        oids = list(self.index)
        order = self.positions()
        self.index.clear()
        step = 1 << 16
        for k in range(0, len(order), step):
            out.write(b"\n".join([oids[i] for i in order[k:k + step]]) + b"\n")


def list_reachable(repo: Repo, *, procs: list[GitProc]) -> Listing:
    """Blobs that refs and reflogs reach, each with the first path it was found at (--reachable-only)."""
    listing = Listing(blobs=_tempfile())
    p = popen(repo.cwd, *LOWMEM, "rev-list", "--objects", "--all", "--reflog", "--filter=object:type=blob",
              "--filter-provided-objects", "--missing=print", bufsize=0)
    procs.append(p)
    assert p.stdout is not None
    hexlen = repo.hexlen
    for lines in _lines(p.stdout):
        keep = []
        for line in lines:
            if line[:1] == b"?":
                listing.lost(line[1:])
            elif len(line) == hexlen or line[hexlen:hexlen + 1] == b" ":
                keep.append(line)  # 'oid path', or 'oid ' for a blob a ref names directly
        if keep:
            listing.count += len(keep)
            keep.append(b"")
            listing.blobs.write(b"\n".join(keep))
    try:
        p.check()
    except GitError:  # a corrupt tree or commit stops the walk: scan what it listed, say what it did not
        listing.error = f"the walk from refs stopped: {_fatal_line(p)}; objects past it were not listed"
    return listing


def list_given(oids: Iterable[str]) -> Listing:
    listing = Listing(blobs=_tempfile())
    for oid in oids:
        listing.count += 1
        listing.blobs.write(oid.encode() + b"\n")
    return listing


@dataclass
class _Walk:
    count: int = 0
    ids: list[str] = field(default_factory=list)  # the first UNREADABLE_SHOWN
    error: str | None = None  # git stopped (a corrupt tree or commit): its message


# The walk from refs and reflogs reads every tree: git's object table is most of its memory
# (hummingbot: 64 MB RSS with these settings, 113 MB with LOWMEM; 1.2 s either way).
WALK_MEM = ("-c", "core.deltaBaseCacheLimit=8m", "-c", "core.packedGitWindowSize=1m",
            "-c", "core.packedGitLimit=16m")


class MissingWalk:
    """Objects reachable from refs and reflogs but absent from the store (`git rev-list --objects
    --missing=print --quiet`: it checks that blobs exist without reading them, and prints only the
    absent ones); never fetches. Started beside the object listing (both ~1 s on hummingbot, one
    core each), read when the audit reports what it could not read."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self.proc: GitProc | None = None
        self.out: IO[bytes] | None = None

    def start(self) -> None:
        if self.proc is None:
            self.out = _tempfile()
            self.proc = popen(self.repo.cwd, *WALK_MEM, "rev-list", "--objects", "--all", "--reflog",
                              "--missing=print", "--quiet", stdin=subprocess.DEVNULL, stdout=self.out)

    def result(self) -> _Walk:
        self.start()
        assert self.proc is not None and self.out is not None
        res = _Walk()
        try:
            self.proc.check()
        except GitError:
            res.error = _fatal_line(self.proc)
        self.out.seek(0)
        for lines in _lines(self.out):
            for line in lines:
                if line[:1] == b"?":
                    res.count += 1
                    if len(res.ids) < UNREADABLE_SHOWN:
                        res.ids.append(line[1:].decode("ascii", "replace"))
        return res

    def close(self) -> None:
        if self.proc is not None:
            self.proc.stop()
        if self.out is not None:
            self.out.close()


def missing_reachable(repo: Repo) -> _Walk:
    walk = MissingWalk(repo)
    try:
        return walk.result()
    finally:
        walk.close()


def _fatal_line(p: GitProc) -> str:
    """Why git stopped: the `error:` line just before its last `fatal:` line (zlib's own words),
    else that `fatal:` line (it names the object), else its last line."""
    try:
        p.errfile.seek(0)
        lines = [x.strip() for x in p.errfile.read().decode("utf-8", "replace").splitlines() if x.strip()]
    except (OSError, ValueError):
        lines = []
    last = max((i for i, x in enumerate(lines) if x.startswith("fatal: ")), default=len(lines) - 1)
    if last < 0:
        return "no message"
    line = lines[last - 1] if last > 0 and lines[last - 1].startswith("error: ") else lines[last]
    return line.removeprefix("fatal: ").removeprefix("error: ")[:300]
