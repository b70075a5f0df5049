"""The full-history audit: every blob in the object store scanned once, then provenance for hits.

The common path: list the blobs (`git cat-file --batch-all-objects --batch-check`, or `git rev-list
--objects` with --reachable-only) into a temporary file, then stream them through one `git cat-file
--batch`: git inflates on one core while a reader thread runs the engine's prefilter and the main
thread judges the few blobs that pass. Only blobs with findings are then mapped to history: `git
log --all --reflog -m --raw` (started at the first finding, at low priority, with a small delta
cache; filtered for the hit blob ids in one Hyperscan pass) gives the commits that added or removed them at each path; from that come the introducing commit,
author, date, the refs containing it, whether it is still at HEAD and the exposure window. Blobs no
ref or reflog reaches are looked up in unreachable commits and the index, else reported as
unreachable blobs. One finding per (secret, path).

Range mode (`revs`, e.g. ["BASE..HEAD"]) scans only the blobs those commits add, and keeps only the
secrets each commit adds to its file (absent from the parent's version), for CI and pre-push.

Never `git gc`/`prune`/`fsck`; never the network (a partial clone's missing objects are counted).
"""
from __future__ import annotations

import datetime as _dt
import subprocess
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from scanner.errors import CexguardError
from scanner.models import UNREADABLE_SHOWN, Chunk, Finding, GitProvenance, ScanStats
from scanner.sources.git import CatFile, GitError, GitProc, Repo, decode_path, ls_tree_blobs, popen, skip, split_z

if TYPE_CHECKING:
    from scanner.engine import Engine
    from scanner.sources.progress import Progress

UNREACHABLE_PATH = "(unreachable)"
FIND_OBJECT_MAX = 400  # beyond this many hit blobs, filter `git log --raw` in Python instead
_BATCH = 1 << 16


# --------------------------------------------------------------------------------------------
# listing and streaming blobs
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

# `git log --raw` reads trees, not blobs: a smaller delta-base cache costs it little (hummingbot's
# whole-history log: 96 MB 7.6 s / 91 MB RSS, 24 MB 7.7 s / 81 MB, 8 MB 8.6 s / 62 MB); it runs beside
# the stream, so it gets 8 MB in 1 MB windows up to 16 MB (5.7 s / 68 MB; 8 MB windows: 87 MB).
LOG_MEM = ("-c", "core.deltaBaseCacheLimit=8m", "-c", "core.packedGitWindowSize=1m",
           "-c", "core.packedGitLimit=16m")


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
    error: str | None = None  # why the listing is incomplete (git stopped at an unreadable object)

    def lost(self, oid: bytes) -> None:
        """An object the listing names but git cannot read (absent, or a corrupt header)."""
        self.missing += 1
        if len(self.missing_ids) < UNREADABLE_SHOWN:
            self.missing_ids.append(oid.decode("ascii", "replace"))

    def close(self) -> None:
        self.blobs.close()
        if self.commits is not None:
            self.commits.close()


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
    listing = Listing(blobs=_tempfile(), commits=_tempfile())
    assert listing.commits is not None
    p = popen(repo.cwd, *LIST_MEM, "cat-file", "--batch-all-objects", "--unordered",
              "--batch-check=%(objecttype) %(objectname) %(objectsize) %(deltabase)", bufsize=0)
    procs.append(p)
    assert p.stdout is not None
    out, commits = listing.blobs, listing.commits
    order: _DeltaOrder | None = _DeltaOrder()
    for lines in _lines(p.stdout):
        keep = []
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
            elif line[:7] == b"commit ":
                commits.write(line[7:].split(b" ", 1)[0] + b"\n")
            elif line.endswith(b" missing"):  # in the store, but its header cannot be read (corrupt)
                listing.lost(line.split(b" ", 1)[0])
        if keep:
            listing.count += len(keep)
            keep.append(b"")
            out.write(b"\n".join(keep))
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
class _Scan:
    """What the streaming pass learned."""

    hits: dict[str, list[Finding]] = field(default_factory=dict)  # blob -> findings (paths unknown yet)
    blobs: int = 0
    nbytes: int = 0


def stream_scan(repo: Repo, engine: Engine, stats: ScanStats, listing: Listing, *, with_rest: bool,
                max_size: int, progress: Progress | None, procs: list[GitProc],
                on_hit: Callable[[], None] | None = None) -> _Scan:
    """Read the listed blobs through one `git cat-file --batch`; each through the prefilter once.
    `on_hit` is called when a blob has findings.

    Two threads: a reader takes each blob from git and runs stage one on it (Hyperscan releases the
    GIL), and hands the few blobs that pass to this thread, which runs stage two (Python). So git
    never waits while Python judges a blob full of candidates (a documentation repository's every
    version of a page of example keys): git inflating, stage one and stage two overlap on both cores.
    The hand-over is bounded in bytes (HANDOVER_BYTES, or one blob however large)."""
    res = _Scan()
    if listing.count == 0:
        return res
    listing.blobs.flush()
    listing.blobs.seek(0)
    fmt = "%(objectname) %(objecttype) %(objectsize)" + (" %(rest)" if with_rest else "")
    cat = _BatchReader(repo, listing, fmt, procs, stats)
    if progress is not None:
        progress.set_total(listing.count, listing.nbytes or None)
    handover = _Handover(HANDOVER_BYTES)
    counts = _ReadCounts()
    reader = threading.Thread(target=_read_blobs, args=(cat, engine, stats, counts, handover, max_size, progress),
                              name="cexguard-reader", daemon=True)
    reader.start()
    scan = engine.scan
    try:
        while True:
            item = handover.get()
            if item is None:
                break
            oid, path, data, pre = item
            found = scan(Chunk(data=data, path=path, provenance=GitProvenance(blob=oid)), stats, pre)
            if found:
                res.hits[oid] = found
                if on_hit is not None:
                    on_hit()
    finally:
        handover.close()
    reader.join()
    if counts.error is not None:
        raise counts.error
    stats.files_scanned += counts.dropped
    stats.bytes_scanned += counts.dropped_bytes
    res.blobs, res.nbytes = counts.n, counts.nbytes
    if counts.missing:
        stats.skip("missing_object", counts.missing)
    if counts.too_large:
        stats.skip("too_large", counts.too_large)
    return res


HANDOVER_BYTES = 16 << 20


@dataclass
class _ReadCounts:
    n: int = 0
    nbytes: int = 0
    missing: int = 0
    too_large: int = 0
    dropped: int = 0
    dropped_bytes: int = 0
    error: BaseException | None = None


class _Handover:
    """A queue of blobs from the reader thread, bounded by their total size (one blob always fits)."""

    def __init__(self, limit: int) -> None:
        import collections

        self.limit = limit
        self.items: collections.deque[tuple[str, str, bytes, Any] | None] = collections.deque()
        self.held = 0
        self.closed = False
        self.cond = threading.Condition()

    def put(self, item: tuple[str, str, bytes, Any] | None) -> bool:
        """Add a blob (None: the end); wait while the queue is full. False once the consumer left."""
        size = len(item[2]) if item is not None else 0
        with self.cond:
            while not self.closed and self.items and self.held + size > self.limit:
                self.cond.wait()
            if self.closed:
                return False
            self.items.append(item)
            self.held += size
            self.cond.notify_all()
            return True

    def get(self) -> tuple[str, str, bytes, Any] | None:
        with self.cond:
            while not self.items:
                self.cond.wait()
            item = self.items.popleft()
            if item is not None:
                self.held -= len(item[2])
            self.cond.notify_all()
            return item

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.items.clear()
            self.cond.notify_all()


def _read_blobs(cat: _BatchReader, engine: Engine, stats: ScanStats, c: _ReadCounts, handover: _Handover,
                max_size: int, progress: Progress | None) -> None:
    """The reader thread: every listed blob from git, through stage one; hits handed over."""
    readline = cat.header
    prepare, hit, path_named = engine.prepare, engine.hit, engine.path_named
    try:
        while True:
            header = readline()
            if not header:
                break
            parts = header.rstrip(b"\n").split(b" ", 3)
            if len(parts) < 3 or not parts[2].isdigit():
                c.missing += 1  # '<oid> missing': gone since listed (a concurrent gc), a damaged pack, a partial clone
                stats.unread(f"{parts[0].decode('ascii', 'replace')} (missing)")
                continue
            size = int(parts[2])
            if parts[1] != b"blob":  # e.g. a tag or tree a ref names directly
                cat.drop(parts[0], size)
                continue
            c.n += 1
            c.nbytes += size
            if size > max_size:
                if cat.drop(parts[0], size):
                    c.too_large += 1
                continue
            data = cat.body(parts[0], size)
            if data is None:  # git stopped inside it (a corrupt object): reported, and reading goes on
                continue
            pre = prepare(data)
            path = decode_path(parts[3]) if len(parts) > 3 and parts[3] else ""
            if hit(pre) or path_named(path):  # (a path naming an exchange is context of its own)
                if not handover.put((parts[0].decode(), path, data, pre)):
                    return
            else:  # ruled out by the prefilter: scanned all the same (the engine counts the rest)
                c.dropped += 1
                c.dropped_bytes += size
            if progress is not None:
                progress.update(c.n, c.nbytes)
    except BaseException as e:  # handed to the main thread, raised there
        c.error = e
    finally:
        handover.put(None)


class _BatchReader:
    """`git cat-file --batch` over a listing, one header and body at a time, that goes on past any
    object git cannot read. A missing object or a corrupt header is answered `<oid> missing`; a
    corrupt body (zlib garbage) makes git stop inside the object ("unable to stream"): that object is
    reported unreadable, with its id, and a new git resumes at the next listed line."""

    def __init__(self, repo: Repo, listing: Listing, fmt: str, procs: list[GitProc], stats: ScanStats) -> None:
        self.repo, self.listing, self.fmt, self.procs, self.stats = repo, listing, fmt, procs, stats
        self.fd = listing.blobs.fileno()
        self.answered = 0  # listing lines git has answered so far (one header each)
        self._known = (0, 0)  # (line, byte offset) of a line start in the listing, to seek from
        self.done = False
        self._start(0)

    def _start(self, offset: int) -> None:
        import os

        os.lseek(self.fd, offset, os.SEEK_SET)
        self.cat = popen(self.repo.cwd, *self.listing.git_mem, "cat-file", f"--batch={self.fmt}", "--buffer", stdin=self.fd,
                         bufsize=_BATCH)
        self.procs.append(self.cat)
        assert self.cat.stdout is not None
        _grow_pipe(self.cat.stdout)
        self.stdout = self.cat.stdout

    def header(self) -> bytes:
        """The next header line; b"" once every listed line is answered."""
        while not self.done:
            line = self.stdout.readline()
            if line:
                self.answered += 1
                return line
            if self.answered >= self.listing.count:
                self.cat.check()
                return b""
            # git stopped before answering the next listed line: that object is the one it cannot read
            oid = self._oid_at(self.answered)
            self.answered += 1
            self._failed(oid, named=True)
        return b""

    def body(self, oid: bytes, size: int) -> bytes | None:
        data = self.stdout.read(size)
        if len(data) == size and self.stdout.read(1) == b"\n":
            return data
        self._failed(oid)
        return None

    def drop(self, oid: bytes, size: int) -> bool:
        """Read past an object not scanned (too large, not a blob); False if git stopped inside it."""
        try:
            skip(self.stdout, size + 1)
        except GitError:
            self._failed(oid)
            return False
        return True

    def _failed(self, oid: bytes, *, named: bool = False) -> None:
        """git stopped at `oid`: report it and resume after it (GitError if git failed for another
        reason: it stopped between objects without naming the next one, e.g. it cannot start)."""
        try:
            self.cat.check()
        except GitError:
            pass
        msg = _fatal_line(self.cat)
        if named and oid.decode("ascii", "replace") not in self._stderr():
            raise GitError(f"git cat-file failed: {msg}")
        self.cat.stop()
        why = "missing: not in this partial clone, never fetched" if "promisor" in msg else f"corrupt: {msg}"
        self.stats.unread(f"{oid.decode('ascii', 'replace')} ({why})")
        offset = self._offset_of(self.answered)
        if offset is None or self.answered >= self.listing.count:
            self.done = True
            return
        self._start(offset)

    def _stderr(self) -> str:
        try:
            self.cat.errfile.seek(0)
            return self.cat.errfile.read().decode("utf-8", "replace")
        except (OSError, ValueError):
            return ""

    def _offset_of(self, line: int) -> int | None:
        """Byte offset of listing line `line` (0-based), or None past the end; reads forward from the
        last one found (os.pread: the shared file offset is left alone)."""
        import os

        n, off = self._known if self._known[0] <= line else (0, 0)
        while n < line:
            block = os.pread(self.fd, 1 << 20, off)
            if not block:
                return None
            k = block.count(b"\n")
            if n + k < line:
                n, off = n + k, off + len(block)
                continue
            pos = -1
            for _ in range(line - n):
                pos = block.index(b"\n", pos + 1)
            n, off = line, off + pos + 1
        self._known = (n, off)
        return off

    def _oid_at(self, line: int) -> bytes:
        import os

        off = self._offset_of(line)
        text = os.pread(self.fd, 300, off) if off is not None else b""
        return text.split(b"\n", 1)[0].split(b" ", 1)[0] or b"?"


def _grow_pipe(stream: IO[bytes]) -> None:
    """A 1 MiB pipe (Linux): ~16x fewer wake-ups between git and the reader for the same bytes."""
    try:
        import fcntl

        fcntl.fcntl(stream.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except (ImportError, OSError, ValueError):
        pass


# --------------------------------------------------------------------------------------------
# provenance


@dataclass(frozen=True)
class Commit:
    oid: str
    at: int  # author time (epoch seconds)
    ct: int  # committer time
    date: str  # author date, ISO 8601
    author: str  # 'Name <email>'


@dataclass(frozen=True)
class Event:
    """One raw diff entry of a commit: `path` went from blob `old` to blob `new` (None = absent)."""

    commit: Commit
    path: str
    old: str | None
    new: str | None
    unreachable: bool = False  # found by walking commits that no ref or reflog reaches


LOG_FORMAT = "--format=%x01%H %at %ct%x00%aI%x00%an <%ae>%x00"


def _log_args(revs: Sequence[str], *, find: Sequence[str], merges: bool, renames: bool, stdin: bool) -> list[str]:
    args = [*LOG_MEM, "log", "--raw", "-z", "--no-abbrev", "--no-ext-diff", "--no-textconv", LOG_FORMAT,
            "-M" if renames else "--no-renames"]
    if merges:
        args.append("-m")
    args += [f"--find-object={oid}" for oid in find]
    if stdin:
        args.append("--stdin")
    return args + list(revs)


def log_events(repo: Repo, revs: Sequence[str], *, find: Sequence[str] = (), want: set[str] | None = None,
               merges: bool, renames: bool = False, stdin: IO[bytes] | None = None,
               unreachable: bool = False) -> Iterator[Event]:
    """Raw diff entries of the commits `revs` selects (`git log --raw`), streamed.

    `find` passes `--find-object` for each id (git filters); `want` filters in Python instead (an
    entry is kept when its old or new blob is in it); neither: every entry.
    """
    if stdin is not None:
        stdin.flush()
        stdin.seek(0)
    p = popen(repo.cwd, *_log_args(revs, find=find, merges=merges, renames=renames, stdin=stdin is not None),
              stdin=stdin.fileno() if stdin is not None else subprocess.DEVNULL, bufsize=_BATCH)
    assert p.stdout is not None
    try:
        yield from parse_log(p.stdout, want, unreachable)
    finally:
        p.stdout.close()
        try:
            p.check()
        finally:
            p.errfile.close()


def parse_log(stream: IO[bytes], want: set[str] | None, unreachable: bool = False) -> Iterator[Event]:
    """Events from `git log --raw -z` output with LOG_FORMAT (each commit starts with \\x01)."""
    want_b = {w.encode() for w in want} if want is not None else None
    buf = b""
    while True:
        chunk = stream.read(1 << 20)
        if not chunk:
            if buf:
                yield from _record_events(buf, want_b, unreachable)
            return
        pieces = (buf + chunk).split(b"\x01")
        buf = pieces.pop()
        for rec in pieces:
            if rec:
                yield from _record_events(rec, want_b, unreachable)


def _records_mentioning(stream: IO[bytes], want: set[bytes]) -> Iterator[bytes]:
    """The commit records (split at \\x01) of `git log` output that mention any of the `want` ids
    (every record without a way to find ids fast: see _id_finder)."""
    finder = _id_finder(want)
    rest = b""
    while True:
        block = stream.read(4 << 20)
        data = rest + block
        if not block:
            cut = len(data)
        else:
            cut = data.rfind(b"\x01") + 1
            if cut <= 0:  # one record longer than the block: keep reading
                rest = data
                continue
        chunk, rest = data[:cut], data[cut:]
        if finder is None:
            yield from (r for r in chunk.split(b"\x01") if r)
        else:
            starts: set[int] = set()
            for off in finder(chunk):
                starts.add(chunk.rfind(b"\x01", 0, off) + 1)
            for start in sorted(starts):
                end = chunk.find(b"\x01", start)
                rec = chunk[start:end if end >= 0 else len(chunk)]
                if rec:
                    yield rec
        if not block:
            return


_BLOCK = 4 << 20
_OVERLAP = 128  # >= the longest id (64): an id cut by a block's end is found whole in the next


def _entries_mentioning(f: IO[bytes], want: set[bytes], finder: Callable[[Any], list[int]]) -> list[Event]:
    """The events of a `git log --raw -z` output file (LOG_FORMAT) whose entry names a `want` id.

    The whole-history log is big (229 MB for hummingbot) and one merge's entries against its second
    parent can run to tens of MB, so records are never held whole: the file is read in blocks into
    one buffer, the ids are found by one Hyperscan pass per block, and for each hit only the entry
    around it and its record's header are read back (os.pread). (Holding records whole took the
    Python process from 59 to 122 MB on hummingbot.)"""
    import os

    fd = f.fileno()
    buf = bytearray(_OVERLAP + _BLOCK)
    view = memoryview(buf)
    base = 0  # file offset of buf[_OVERLAP]
    record = -1  # file offset of the last \x01 before the current block
    keep = 0  # bytes of the previous block carried into buf[_OVERLAP - keep:_OVERLAP]
    hits: list[tuple[int, int]] = []  # (id offset, its record's \x01 offset)
    while True:
        n = os.preadv(fd, [view[_OVERLAP:]], base) if hasattr(os, "preadv") else f.readinto(view[_OVERLAP:])  # type: ignore[attr-defined]
        if not n:
            break
        lo = _OVERLAP - keep
        for end in finder(view[lo:_OVERLAP + n]):
            off = base - keep + end  # file offset of the id's last byte
            if end >= keep:  # (an id ending in the carried bytes was found in the previous block)
                at = buf.rfind(b"\x01", lo, lo + end)
                hits.append((off, base - keep + (at - lo) if at >= 0 else record))
        at = buf.rfind(b"\x01", _OVERLAP, _OVERLAP + n)
        if at >= 0:
            record = base + at - _OVERLAP
        keep = min(keep + n, _OVERLAP)  # the stream's last bytes (from this block and the carried ones)
        buf[_OVERLAP - keep:_OVERLAP] = buf[_OVERLAP + n - keep:_OVERLAP + n]
        base += n
    events: list[Event] = []
    seen: set[int] = set()
    commits: dict[int, Commit | None] = {}
    for off, rec in hits:
        if rec < 0:
            continue
        entry = _entry_at(fd, off)
        if entry is None or entry[0] in seen:
            continue
        start, meta, src, dst = entry
        seen.add(start)
        if rec not in commits:
            commits[rec] = _commit_at(fd, rec)
        commit = commits[rec]
        if commit is not None:
            events.extend(_entry_events(commit, meta, src, dst, want, False))
    return events


def _entry_at(fd: int, off: int) -> tuple[int, bytes, bytes, bytes] | None:
    """The raw entry (':meta', its path or paths) holding the id whose last byte is at file offset
    `off`: (the entry's offset, meta, source path, destination path); None if the id is not in an
    entry's meta (a path or a commit header that happens to hold it)."""
    import os

    lo = max(0, off - 300)
    text = os.pread(fd, 300 + 2 * 4096 + 64, lo)
    i = off - lo
    start = max(text.rfind(b"\0", 0, i), text.rfind(b"\n", 0, i), text.rfind(b"\x01", 0, i)) + 1
    end = text.find(b"\0", i)
    if end < 0 or text[start:start + 1] != b":":
        return None
    meta = text[start:end]
    parts = meta[1:].split(b" ")
    if len(parts) != 5:
        return None
    fields = text[end + 1:].split(b"\0", 2)
    if len(fields) < 2 or (parts[4][:1] in (b"R", b"C") and len(fields) < 3):
        return None  # (paths longer than PATH_MAX: not an entry git writes)
    src = fields[0]
    dst = fields[1] if parts[4][:1] in (b"R", b"C") else src
    return lo + start, meta, src, dst


def _commit_at(fd: int, rec: int) -> Commit | None:
    """The commit whose record starts with the \\x01 at file offset `rec` (LOG_FORMAT's header)."""
    import os

    head = b""
    for size in (1 << 12, 1 << 16, 1 << 20):
        head = os.pread(fd, size, rec + 1)
        if head.count(b"\0") >= 3:
            break
    fields = head.split(b"\0", 3)
    if len(fields) < 4:
        return None
    ids = fields[0].split(b" ")
    if len(ids) != 3:
        return None
    return Commit(oid=ids[0].decode(), at=int(ids[1]), ct=int(ids[2]), date=fields[1].decode(),
                  author=fields[2].decode("utf-8", "replace"))


def _id_finder(want: set[bytes]) -> Callable[[Any], list[int]] | None:
    """A function giving where the `want` ids end in a buffer (the offset of each one's last byte, in
    order), or None: no fast way, parse every record."""
    try:
        import hyperscan
    except ImportError:
        hyperscan = None  # type: ignore[assignment]
    if hyperscan is not None and want:
        ids = sorted(want)
        db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        db.compile(expressions=ids, ids=list(range(len(ids))), elements=len(ids),
                   flags=[0] * len(ids))
        scratch = hyperscan.Scratch(db)

        def hs_find(buf: Any) -> list[int]:
            offs: list[int] = []
            db.scan(buf, match_event_handler=lambda _i, _f, to, _fl, _c: offs.append(to - 1), scratch=scratch)
            return offs

        return hs_find
    if len(want) <= 64:
        def py_find(buf: Any) -> list[int]:
            data = bytes(buf) if isinstance(buf, memoryview) else buf
            offs = []
            for oid in want:
                i = data.find(oid)
                while i >= 0:
                    offs.append(i + len(oid) - 1)
                    i = data.find(oid, i + len(oid))
            return sorted(offs)

        return py_find
    return None


class HistoryLog:
    """`git log --all --reflog -m --raw` of the whole history into a temporary file, at a lower
    priority, started at the first finding: it takes what CPU the stream leaves, so provenance is
    mostly ready when the stream ends (measured on hummingbot: started after the stream instead,
    the audit took 31 s rather than 17-21 s). Never started for a repository without findings."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self.proc: GitProc | None = None
        self.out: IO[bytes] | None = None

    def start(self) -> None:
        if self.proc is not None:
            return
        self.out = _tempfile()
        self.proc = popen(self.repo.cwd, *_log_args(["--all", "--reflog"], find=(), merges=True, renames=False,
                                                   stdin=False),
                          stdin=subprocess.DEVNULL, stdout=self.out, nice=10)

    def events(self, want: set[str]) -> list[Event]:
        """The entries touching `want` (starting the log now if it was not yet running)."""
        self.start()
        assert self.proc is not None and self.out is not None
        try:
            self.proc.check()
        finally:
            self.proc.errfile.close()
        self.out.flush()
        self.out.seek(0)
        want_b = {w.encode() for w in want}
        finder = _id_finder(want_b)
        if finder is not None:
            return _entries_mentioning(self.out, want_b, finder)
        return [e for rec in _records_mentioning(self.out, want_b) for e in _record_events(rec, want_b, False)]

    def close(self) -> None:
        if self.proc is not None:
            self.proc.stop()
        if self.out is not None:
            self.out.close()


_ZEROS = {b"0" * 40, b"0" * 64}


def _record_events(rec: bytes, want: set[bytes] | None, unreachable: bool) -> Iterator[Event]:
    head, _, rest = rec.partition(b"\0")
    date, _, rest = rest.partition(b"\0")
    author, _, rest = rest.partition(b"\0")
    oid_b, at_b, ct_b = head.split(b" ")
    commit: Commit | None = None
    fields = split_z(rest.lstrip(b"\n"))
    for meta in fields:
        meta = meta.lstrip(b"\n")
        if not meta.startswith(b":"):
            continue
        status = meta.rsplit(b" ", 1)[-1]
        src = next(fields, b"")
        dst = next(fields, b"") if status[:1] in (b"R", b"C") else src
        if commit is None:
            commit = Commit(oid=oid_b.decode(), at=int(at_b), ct=int(ct_b), date=date.decode(),
                            author=author.decode("utf-8", "replace"))
        yield from _entry_events(commit, meta, src, dst, want, unreachable)


def _entry_events(commit: Commit, meta: bytes, src: bytes, dst: bytes, want: set[bytes] | None,
                  unreachable: bool) -> Iterator[Event]:
    """The event of one raw entry (`:oldmode newmode old new status`), if it is wanted."""
    parts = meta[1:].split(b" ")
    if len(parts) != 5:
        return
    old_mode, new_mode, old_oid, new_oid, _status = parts
    if old_mode == b"160000" or new_mode == b"160000":
        return  # a submodule's commit
    if want is not None and old_oid not in want and new_oid not in want:
        return
    yield Event(commit=commit, path=decode_path(dst), old=None if old_oid in _ZEROS else old_oid.decode(),
                new=None if new_oid in _ZEROS else new_oid.decode(), unreachable=unreachable)


class RefIndex:
    """Which refs hold which commits, and which refs name which objects, for every finding at once.

    One `git for-each-ref` and one `git rev-list --parents` over the ref tips, then one pass in
    Python: each commit's set of target commits it contains is its own bit OR its parents' (a
    bitmask, parents first). `for-each-ref --contains=C` per commit walks history once per ref
    instead: measured 3 min 18 s for ONE commit of hummingbot (5,152 refs, 62k commits); this is
    ~3 s for all of them."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self.tips: list[tuple[str, str]] = []  # (refname, commit it peels to)
        self.names: dict[str, list[str]] = {}  # object id (and peeled id) -> refs naming it
        p = repo.run("for-each-ref", "--format=%(objectname) %(objecttype) %(*objectname) %(*objecttype) "
                     "%(refname)", check=False, offline=True)
        for line in p.stdout.decode("utf-8", "surrogateescape").splitlines():
            parts = line.split(" ", 4)
            if len(parts) != 5:
                continue
            oid, kind, peeled, pkind, ref = parts
            self.names.setdefault(oid, []).append(ref)
            if peeled:
                self.names.setdefault(peeled, []).append(ref)
            if pkind == "commit":
                self.tips.append((ref, peeled))
            elif kind == "commit" and not peeled:
                self.tips.append((ref, oid))
        self._contains: dict[str, list[str]] = {}
        self.error: str | None = None

    def pointing_at(self, oid: str) -> list[str]:
        """Refs naming this object directly (`git tag NAME BLOB`), as `for-each-ref --points-at`."""
        return sorted(set(self.names.get(oid, ())))

    def resolve(self, commits: Iterable[str]) -> None:
        """Compute the refs containing each of `commits` (one walk for all of them)."""
        targets = [c for c in dict.fromkeys(commits) if c not in self._contains]
        if not targets:
            return
        for c in targets:
            self._contains[c] = []
        if not self.tips:
            return
        bit = {c: 1 << i for i, c in enumerate(targets)}
        tips = "\n".join(dict.fromkeys(t for _, t in self.tips)) + "\n"
        p = popen(self.repo.cwd, "rev-list", "--parents", "--topo-order", "--reverse", "--stdin",
                  stdin=subprocess.PIPE, bufsize=_BATCH)
        assert p.stdin is not None and p.stdout is not None
        import threading

        def feed() -> None:
            try:
                p.stdin.write(tips.encode())  # type: ignore[union-attr]
                p.stdin.close()  # type: ignore[union-attr]
            except OSError:
                pass

        writer = threading.Thread(target=feed, daemon=True)
        writer.start()
        mask: dict[bytes, int] = {}
        bits = {c.encode(): b for c, b in bit.items()}
        get = mask.get
        try:
            for lines in _lines(p.stdout):
                for line in lines:
                    ids = line.split(b" ")
                    m = bits.get(ids[0], 0)
                    for parent in ids[1:]:
                        m |= get(parent, 0)
                    if m:
                        mask[ids[0]] = m
            writer.join()
            p.check()
        except GitError as e:
            self.error = f"refs not mapped: {e}"
        finally:
            p.stop()
        order = list(bit)
        for ref, tip in self.tips:
            m = mask.get(tip.encode(), 0)
            while m:
                low = m & -m
                self._contains[order[low.bit_length() - 1]].append(ref)
                m ^= low

    def containing(self, commits: Iterable[str]) -> list[str]:
        """Branches, tags, remotes and the stash whose history holds any of `commits`."""
        commits = list(commits)
        self.resolve(commits)
        refs: set[str] = set()
        for c in commits:
            refs.update(self._contains.get(c, ()))
        return sorted(refs)


# --------------------------------------------------------------------------------------------
# the audit


@dataclass
class _Group:
    """One secret at one path, across every blob and commit it appears in."""

    fp: str
    path: str
    blobs: set[str] = field(default_factory=set)
    intro: list[tuple[Commit, str]] = field(default_factory=list)  # (commit, blob) adding it
    removed: list[Commit] = field(default_factory=list)
    commits: set[str] = field(default_factory=set)
    where: str = "history"  # history (commits reach it) | index (staged only) | refs (a ref names the
    #                         blob itself, e.g. `git tag NAME BLOB`) | unreachable
    refs: list[str] = field(default_factory=list)  # for where == "refs"


def audit(repo: Repo, engine: Engine | Callable[[], Engine], stats: ScanStats, *, revs: Sequence[str] | None = None,
          reachable_only: bool = False, max_size: int, progress: Progress | None = None) -> list[Finding]:
    """Scan the repository's history; `revs` (git log revisions) limits it to what they add.

    `engine` may be a function that builds it: it is then called after the object listing, whose
    git process is the memory peak, so the two never hold memory at the same time."""
    procs: list[GitProc] = []
    try:
        if revs is not None:
            return _audit_range(repo, engine, stats, revs, max_size=max_size, progress=progress, procs=procs)
        return _audit_all(repo, engine, stats, reachable_only=reachable_only, max_size=max_size,
                          progress=progress, procs=procs)
    finally:
        for p in procs:
            p.stop()
        if progress is not None:
            progress.close()


def _audit_all(repo: Repo, make_engine: Engine | Callable[[], Engine], stats: ScanStats, *, reachable_only: bool,
               max_size: int, progress: Progress | None, procs: list[GitProc]) -> list[Finding]:
    if progress is not None:
        progress.note("cexguard: listing objects...")
    walk = MissingWalk(repo) if not reachable_only else None  # (--reachable-only's listing is that walk)
    try:
        if walk is not None:
            walk.start()  # beside the listing: one core each
        listing = list_reachable(repo, procs=procs) if reachable_only else list_all_objects(repo, max_size=max_size,
                                                                                             procs=procs)
    except BaseException:
        if walk is not None:
            walk.close()
        raise
    if listing.error:  # the walk stopped at an unreadable tree or commit: every object in the store instead
        listing = _list_all_instead(repo, listing, max_size=max_size, procs=procs)
    engine = make_engine() if callable(make_engine) else make_engine
    hlog = HistoryLog(repo)
    try:
        scan = stream_scan(repo, engine, stats, listing, with_rest=reachable_only, max_size=max_size,
                           progress=progress, procs=procs, on_hit=hlog.start)
        return _provenance(repo, engine, stats, scan, listing, hlog, max_size=max_size, progress=progress,
                           walk=walk)
    finally:
        hlog.close()
        listing.close()
        if walk is not None:
            walk.close()


def _list_all_instead(repo: Repo, failed: Listing, *, max_size: int, procs: list[GitProc]) -> Listing:
    """--reachable-only's walk stopped at an object it cannot read, so what lies past it is unknown:
    read every object in the store (a superset) rather than leave reachable blobs unread."""
    failed.close()
    listing = list_all_objects(repo, max_size=max_size, procs=procs)
    listing.error = f"{failed.error}; every object in the store was read instead"
    return listing


def _provenance(repo: Repo, engine: Engine, stats: ScanStats, scan: _Scan, listing: Listing, hlog: HistoryLog,
                *, max_size: int, progress: Progress | None = None, walk: MissingWalk | None = None) -> list[Finding]:
    """Map the blobs with findings to the commits, paths and refs that hold them."""
    _record_totals(stats, scan, listing)
    _report_missing(repo, stats, listing, walk)
    if not scan.hits:
        return []
    cache = _BlobFps(scan.hits, repo, engine, max_size=max_size, scanned_all=True)
    want = set(scan.hits)
    groups: dict[tuple[str, str], _Group] = {}
    seen: set[str] = set()
    if progress is not None:
        progress.note(f"cexguard: provenance: finding the commits behind {len(want)} blob(s) with findings...")
    try:
        events = hlog.events(want)
    except GitError as e:
        stats.errors.append(f"history not mapped: {e}")
        stats.unread(f"(the history walk stopped: {str(e).split(' failed: ', 1)[-1]}; commits behind findings unknown)")
        events = []
    _apply_events(events, cache, groups, seen)
    rest = want - seen
    ref_index = RefIndex(repo)
    if rest:
        _map_unreachable(repo, rest, cache, groups, seen, commits=listing.commits, stats=stats, ref_index=ref_index)
    head = repo.head()
    return _findings(repo, engine, groups, cache, head=head, max_size=max_size, ref_index=ref_index, stats=stats,
                     progress=progress)


def _audit_range(repo: Repo, make_engine: Engine | Callable[[], Engine], stats: ScanStats, revs: Sequence[str], *,
                 max_size: int, progress: Progress | None, procs: list[GitProc]) -> list[Finding]:
    engine = make_engine() if callable(make_engine) else make_engine
    partial = repo.partial() is not None
    try:
        events = [e for e in log_events(repo, revs, merges=False, renames=not partial) if e.new is not None]
    except GitError as e:
        hint = " (the clone is shallow: fetch more history, e.g. fetch-depth: 0)" if repo.shallow else ""
        raise CexguardError(f"cannot read the range {' '.join(revs)}: {str(e).split(': ', 1)[-1]}{hint}") from None
    new_blobs = list(dict.fromkeys(e.new for e in events if e.new is not None))
    stats.extra["commits"] = len({e.commit.oid for e in events})
    listing = list_given(new_blobs)
    try:
        scan = stream_scan(repo, engine, stats, listing, with_rest=False, max_size=max_size, progress=progress,
                           procs=procs)
    finally:
        listing.close()
    if progress is not None:
        progress.close()
    _record_totals(stats, scan, listing)
    if not scan.hits:
        return []
    cache = _BlobFps(scan.hits, repo, engine, max_size=max_size, scanned_all=False, scanned=set(new_blobs))
    groups: dict[tuple[str, str], _Group] = {}
    _apply_events([e for e in events if e.new in scan.hits], cache, groups, set())
    groups = {k: g for k, g in groups.items() if g.intro}  # kept, not added, by these commits: not theirs
    return _findings(repo, engine, groups, cache, head=repo.head(), max_size=max_size, ref_index=RefIndex(repo),
                     stats=stats)


def _record_totals(stats: ScanStats, scan: _Scan, listing: Listing) -> None:
    stats.extra["blobs"] = scan.blobs
    stats.extra["blob_bytes"] = scan.nbytes
    if listing.too_large:
        stats.skip("too_large", listing.too_large)


def _report_missing(repo: Repo, stats: ScanStats, listing: Listing, walk: MissingWalk | None = None) -> None:
    """Every object the audit could not read, counted and (the first ones) named: those the listing
    found unreadable, and, for the full audit (which lists what the store holds, so an absent object
    is not in it), those refs and reflogs reach but the store lacks: a partial clone's unfetched
    blobs, a deleted pack or loose object."""
    if listing.commits is not None and listing.error is None:  # the full audit (--reachable-only walked already)
        found = walk.result() if walk is not None else missing_reachable(repo)
        for oid in found.ids:
            if oid not in listing.missing_ids:
                listing.lost(oid.encode())
        listing.missing += max(0, found.count - len(found.ids))
        if found.error:
            stats.unread(f"(the walk from refs stopped: {found.error}; objects past it were not checked)")
    if listing.error:
        stats.unread(f"({listing.error})")
    if listing.missing:
        stats.extra["missing_objects"] = listing.missing
    for oid in listing.missing_ids:
        stats.unread(f"{oid} (missing or corrupt)")
    stats.unreadable_count += listing.missing - len(listing.missing_ids)


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


class _BlobFps:
    """The findings (and their fingerprints) of each blob; a blob not scanned yet is read lazily."""

    def __init__(self, hits: dict[str, list[Finding]], repo: Repo, engine: Engine, *, max_size: int,
                 scanned_all: bool, scanned: set[str] | None = None) -> None:
        self.hits = hits
        self.repo, self.engine, self.max_size = repo, engine, max_size
        self.scanned_all = scanned_all
        self.scanned = scanned or set()
        self._fps: dict[str, frozenset[str]] = {}
        self._cat: CatFile | None = None

    def findings(self, oid: str | None) -> list[Finding]:
        if oid is None:
            return []
        if oid in self.hits:
            return self.hits[oid]
        if self.scanned_all or oid in self.scanned:
            return []
        data = self.read(oid)
        found = self.engine.scan(Chunk(data=data, path=""), ScanStats()) if data is not None else []
        self.hits[oid] = found
        return found

    def fps(self, oid: str | None) -> frozenset[str]:
        if oid is None:
            return frozenset()
        got = self._fps.get(oid)
        if got is None:
            got = self._fps[oid] = frozenset(f.fingerprint for f in self.findings(oid))
        return got

    def read(self, oid: str) -> bytes | None:
        if self._cat is None:
            self._cat = CatFile(self.repo)
        try:
            got = self._cat.get(oid, max_size=self.max_size)
        except GitError:  # git stopped inside a corrupt object: read as absent, later reads restart it
            self._cat.close()
            self._cat = None
            return None
        return got[1] if got is not None else None

    def close(self) -> None:
        if self._cat is not None:
            self._cat.close()


def _apply_events(events: Iterable[Event], cache: _BlobFps, groups: dict[tuple[str, str], _Group],
                  seen: set[str]) -> None:
    for e in events:
        new_fps = cache.fps(e.new)
        if not new_fps and e.old is None:
            continue
        old_fps = cache.fps(e.old)
        if e.new is not None and new_fps:
            seen.add(e.new)
        for fp in new_fps | old_fps:
            g = groups.get((fp, e.path))
            if g is None:  # (git log lists newest first: a removal may come before its addition)
                g = groups[(fp, e.path)] = _Group(fp=fp, path=e.path,
                                                  where="unreachable" if e.unreachable else "history")
            if fp in new_fps:
                assert e.new is not None
                g.blobs.add(e.new)
                g.commits.add(e.commit.oid)
                if fp not in old_fps:
                    g.intro.append((e.commit, e.new))
            elif fp in old_fps and fp not in new_fps:
                g.removed.append(e.commit)


def _map_unreachable(repo: Repo, rest: set[str], cache: _BlobFps, groups: dict[tuple[str, str], _Group],
                     seen: set[str], *, commits: IO[bytes] | None, stats: ScanStats, ref_index: RefIndex) -> None:
    """Blobs with findings that no ref or reflog reaches: unreachable commits (every commit in the
    store, less what refs and reflogs reach: git does the subtraction), the index, or none."""
    if commits is not None and commits.tell() > 0:  # (the listing wrote every commit id here)
        try:
            evs = list(log_events(repo, ["--not", "--all", "--reflog"],
                                  find=sorted(rest) if len(rest) <= FIND_OBJECT_MAX else (),
                                  want=rest, merges=True, stdin=commits, unreachable=True))
        except GitError as e:
            stats.errors.append(f"unreachable commits not mapped: {e}")
            stats.unread(f"(the walk of unreachable commits stopped: {str(e).split(' failed: ', 1)[-1]})")
            evs = []
        _apply_events(evs, cache, groups, seen)
        rest -= seen
    if rest and repo.root is not None:
        staged = index_blobs(repo)
        for oid in sorted(rest):
            for path in staged.get(oid, ()):
                for f in cache.findings(oid):
                    g = groups.setdefault((f.fingerprint, path), _Group(fp=f.fingerprint, path=path, where="index"))
                    g.blobs.add(oid)
            if oid in staged:
                seen.add(oid)
        rest -= seen
    for oid in sorted(rest):
        refs = ref_index.pointing_at(oid)
        path = f"({refs[0]})" if refs else UNREACHABLE_PATH
        for f in cache.findings(oid):
            g = groups.setdefault((f.fingerprint, path), _Group(fp=f.fingerprint, path=path,
                                                               where="refs" if refs else "unreachable", refs=refs))
            g.blobs.add(oid)


def index_blobs(repo: Repo) -> dict[str, list[str]]:
    """blob -> the index paths holding it (staged but never committed)."""
    res: dict[str, list[str]] = {}
    p = repo.run("ls-files", "-s", "-z", check=False, offline=True)
    for item in split_z(p.stdout):
        meta, _, name = item.partition(b"\t")
        fields = meta.split()
        if len(fields) == 3:
            res.setdefault(fields[1].decode(), []).append(decode_path(name))
    return res


def _blobs_at(repo: Repo, treeish: str, paths: list[str]) -> dict[str, str]:
    """path -> blob in `treeish` for `paths`. A path git refuses as a pathspec (a hostile tree's
    `../../x.env`) is looked up in the whole tree's listing instead; an unreadable tree gives {}."""
    def plain(p: str) -> bool:
        return not p.startswith("/") and all(part not in ("", ".", "..") for part in p.split("/"))

    odd = [p for p in paths if not plain(p)]
    try:
        res = ls_tree_blobs(repo, treeish, [p for p in paths if plain(p)]) if len(odd) < len(paths) else {}
        if odd:
            every = ls_tree_blobs(repo, treeish)
            res.update((p, every[p]) for p in odd if p in every)
    except GitError:
        return {}
    return res


def _iso_days(a: str, b: str | None) -> int | None:
    try:
        start = _dt.datetime.fromisoformat(a)
        end = _dt.datetime.fromisoformat(b) if b else _dt.datetime.now(_dt.timezone.utc)
        return max(0, (end - start).days)
    except ValueError:
        return None


def _findings(repo: Repo, engine: Engine, groups: dict[tuple[str, str], _Group], cache: _BlobFps, *,
              head: str | None, max_size: int, ref_index: RefIndex, stats: ScanStats,
              progress: Progress | None = None) -> list[Finding]:
    """One finding per (secret, path), with its history."""
    try:
        if progress is not None:
            progress.note("cexguard: provenance: finding the refs that hold them...")
        ref_index.resolve(c.oid for g in groups.values() for c, _ in g.intro)
        if ref_index.error:
            stats.errors.append(ref_index.error)
        paths = sorted({g.path for g in groups.values() if g.where == "history"})
        at_head = _blobs_at(repo, head, paths) if head and paths else {}
        out: list[Finding] = []
        rescanned: dict[tuple[str, str], list[Finding]] = {}
        for (fp, path), g in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            if not g.blobs:
                continue  # only removals seen: it came in at this path before a shallow boundary
            intro = sorted(g.intro, key=lambda cb: (cb[0].at, cb[0].ct))
            first, blob = (intro[0][0], intro[0][1]) if intro else (None, min(g.blobs))
            # the blob's findings again with its real path (context from the path name counts)
            key = (blob, path)
            if key not in rescanned:
                data = cache.read(blob) if g.where != "refs" and path != UNREACHABLE_PATH else None
                rescanned[key] = (engine.scan(Chunk(data=data, path=path, provenance=GitProvenance(blob=blob)),
                                              ScanStats())
                                  if data is not None else [])
            base = next((f for f in rescanned[key] if f.fingerprint == fp), None)
            if base is None:
                base = next(f for f in cache.findings(blob) if f.fingerprint == fp)
            present = g.where == "history" and at_head.get(path) is not None and fp in cache.fps(at_head.get(path))
            if first is not None:
                later = [c for c in g.removed if c.ct >= first.ct]
                removed = None if present or not later else max(later, key=lambda c: (c.ct, c.at))
                refs = ref_index.containing(c.oid for c, _ in intro)
                # refs: a branch, tag, remote or stash holds it; reflog: only reflog entries do
                reach = "refs" if refs else ("reflog" if g.where == "history" else "unreachable")
                end = "still present" if present else (removed.date if removed else "not on HEAD")
                prov = GitProvenance(
                    blob=blob, commit=first.oid, author=first.author, date=first.date, refs=refs,
                    present_at_head=present, removed_in=removed.oid if removed else None,
                    removed_at=removed.date if removed else None, exposure=f"{first.date} -> {end}",
                    exposure_days=_iso_days(first.date, removed.date if removed else None)
                    if (present or removed) else None,
                    reachable=reach, commits=len(g.commits), blobs=len(g.blobs))
            else:
                exposure = {"index": "never committed (staged only)", "refs": "a ref names this blob itself"}
                prov = GitProvenance(blob=blob, refs=g.refs, exposure=exposure.get(g.where, "unreachable object"),
                                     reachable=g.where, commits=len(g.commits), blobs=len(g.blobs))
            out.append(base.replace(path=path, git_status=None, provenance=prov))
        return out
    finally:
        cache.close()
