"""Streaming listed blobs through one `git cat-file --batch` and the engine's prefilter."""
from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from scanner.engine.text import is_plain
from scanner.models import Finding, GitProvenance, ScanStats
from scanner.sources.git import GitError, GitProc, Repo, decode_path, popen
from scanner.sources.objects import Listing, _fatal_line

if TYPE_CHECKING:
    from scanner.engine import Engine, Matches, Prepared
    from scanner.sources import stage2
    from scanner.sources.progress import Progress


@dataclass
class _Scan:
    """What the streaming pass learned."""

    hits: dict[str, list[Finding]] = field(default_factory=dict)  # blob -> findings (paths unknown yet)
    matches: dict[str, Matches] = field(default_factory=dict)  # blob with findings -> its matches (judged per path later)
    # blobs with no finding at an unknown path that may have some at a path (a private key in a file named
    # like a key file: Engine.path_may_matter): mapped to their paths and judged there
    maybe: set[str] = field(default_factory=set)
    blobs: int = 0
    nbytes: int = 0


def stream_scan(repo: Repo, engine: Engine, stats: ScanStats, listing: Listing, *, with_rest: bool,
                max_size: int, progress: Progress | None, procs: list[GitProc],
                on_hit: Callable[[], None] | None = None, jobs: int = 1) -> _Scan:
    """Read the listed blobs through one `git cat-file --batch`; each through the prefilter once.
    `on_hit` is called when a blob has findings.

    Two threads: a reader takes each blob from git and runs stage one on it (Hyperscan releases the
    GIL), and hands the few blobs that pass to this thread, which runs stage two (Python). So git
    never waits while Python judges a blob full of candidates (a documentation repository's every
    version of a page of example keys): git inflating, stage one and stage two overlap on both cores.
    The hand-over is bounded in bytes (HANDOVER_BYTES, or one blob however large). With `jobs` asking
    for it (stage2.worker_wanted), stage two runs in a worker process instead: a feeder thread writes
    the hand-over's blobs to it, and this thread reads back the blobs with findings."""
    res = _Scan()
    if listing.count == 0:
        return res
    listing.blobs.flush()
    listing.blobs.seek(0)
    fmt = "%(objectname) %(objecttype) %(objectsize)" + (" %(rest)" if with_rest else "")
    cat = _BatchReader(repo, listing, fmt, procs, stats)
    if progress is not None:
        progress.set_total(listing.count, listing.nbytes or None)
    counts = _ReadCounts()
    from scanner.sources import stage2

    worker = None
    if stage2.worker_wanted(jobs, listing.count):
        try:
            worker = stage2.Worker(engine)
        except OSError:  # (no interpreter to start: stage two stays here)
            worker = None
    handover = _Handover(HANDOVER_BYTES)
    reader = threading.Thread(target=_read_blobs, args=(cat, engine, stats, counts, handover, max_size, progress),
                              name="cexguard-reader", daemon=True)
    reader.start()
    feeder = None
    try:
        if worker is not None:
            # reader -> hand-over -> feeder -> worker: the worker's pace is uneven (a lock file of 3 MB takes
            # it 0.2 s), and with only its pipe between them the reader, then git, would wait on each such blob
            feeder = threading.Thread(target=_feed, args=(handover, worker), name="cexguard-feeder", daemon=True)
            feeder.start()
            for oid, found, m in worker.results(stats):
                if found:
                    _hit(res, oid, found, m, on_hit)
                else:
                    _maybe(res, oid, m, on_hit)
        else:
            match, judge, may_matter = engine.match, engine.judge, engine.path_may_matter
            while True:
                item = handover.get()
                if item is None:
                    break
                oid, path, data, pre = item
                m = match(data, pre, paths=(path,), stats=stats)
                found = judge(m, path, stats=stats, provenance=GitProvenance(blob=oid))
                if found:
                    _hit(res, oid, found, m, on_hit)
                elif may_matter(m):
                    _maybe(res, oid, m, on_hit)
    finally:
        handover.close()
        if worker is not None:
            worker.close()  # (the feeder, if still writing, stops at the closed pipe)
        if feeder is not None:
            feeder.join()
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


def _hit(res: _Scan, oid: str, found: list[Finding], m: Matches, on_hit: Callable[[], None] | None) -> None:
    res.hits[oid] = found
    res.matches[oid] = m  # (provenance judges it again for each path that holds it)
    if on_hit is not None:
        on_hit()


def _maybe(res: _Scan, oid: str, m: Matches, on_hit: Callable[[], None] | None) -> None:
    res.maybe.add(oid)
    res.matches[oid] = m
    if on_hit is not None:
        on_hit()


def _feed(handover: _Handover, worker: stage2.Worker) -> None:
    """The feeder thread: blobs from the hand-over to the worker process, then the end."""
    while True:
        item = handover.get()
        if item is None:
            if not handover.closed:
                worker.end()
            return
        if not worker.send(*item):
            handover.close()  # (the worker is gone: the reader stops at its next blob)
            return


HANDOVER_BYTES = 16 << 20
_NAMED_MAX = 1 << 16  # paths whose answer is kept (--reachable-only names each blob's path)


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
        """The next blob; None at the end (or once closed)."""
        with self.cond:
            while not self.items:
                if self.closed:
                    return None
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
    """The reader thread: every listed blob from git, through stage one; hits handed over.

    A blob is gated where git's output landed (cat.body's buffer, no copy); it becomes `bytes` only
    when stage two needs it: on hummingbot most of 2.3 GB are ruled out and never copied."""
    readline = cat.header
    prepare, hit, path_named = engine.prepare, engine.hit, engine.path_named
    gate = engine.prefilter.gate
    # whether a path names an exchange, per path: the full audit's blobs have no path (""), and asking
    # the engine for each of them held the GIL ~25 us a blob (3 s of hummingbot's 128k blobs)
    named: dict[str, bool] = {}
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
            got = cat.body(parts[0], size)
            if got is None:  # git stopped inside it (a corrupt object): reported, and reading goes on
                continue
            buf, a, b = got
            path = decode_path(parts[3]) if len(parts) > 3 and parts[3] else ""
            is_named = named.get(path)
            if is_named is None:
                if len(named) >= _NAMED_MAX:
                    named.clear()
                is_named = named[path] = path_named(path)
            if is_plain(buf, a, b):  # scanned as it is: `prepare` would gate these very bytes
                with memoryview(buf)[a:b] as view:
                    gates = gate(view)
                    passed = bool(gates) or is_named
                    data = bytes(view) if passed else b""
                pre: Prepared = (data, gates, None)
            else:  # a BOM, UTF-16: decoded (a copy either way)
                data = bytes(memoryview(buf)[a:b])
                pre = prepare(data)
                passed = hit(pre) or is_named
            if passed:  # (a path naming an exchange is context of its own)
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


_BUF = 1 << 20  # git's output is read into one buffer of this size; a larger blob gets its own
_MIN_READ = 1 << 16
_NAP = 0.0005  # (git writes ~100-600 MB/s: 0.5 ms of it fits the 1 MiB pipe; sqlalchemy, 5 interleaved runs each:
# median 9.5 s with 0.5 ms, 10.2 s with 1 ms, 9.7 s with 0.25 ms; hummingbot the same within noise)
_DRAINED = 1 << 17  # a read that gets less than this emptied the pipe


class _BatchReader:
    """`git cat-file --batch` over a listing, one header and body at a time, that goes on past any
    object git cannot read. A missing object or a corrupt header is answered `<oid> missing`; a
    corrupt body (zlib garbage) makes git stop inside the object ("unable to stream"): that object is
    reported unreadable, with its id, and a new git resumes at the next listed line.

    git's output is read with large `readinto`s into one reused buffer (no `bytes` per blob, no fresh
    pages to fault in); a body is handed out as (buffer, start, end), valid until the next call."""

    def __init__(self, repo: Repo, listing: Listing, fmt: str, procs: list[GitProc], stats: ScanStats) -> None:
        self.repo, self.listing, self.fmt, self.procs, self.stats = repo, listing, fmt, procs, stats
        self.fd = listing.blobs.fileno()
        self.answered = 0  # listing lines git has answered so far (one header each)
        self._known = (0, 0)  # (line, byte offset) of a line start in the listing, to seek from
        self.done = False
        self.buf = bytearray(_BUF)
        self.view = memoryview(self.buf)
        self.pos = self.end = 0  # unread bytes: buf[pos:end]
        self.drained = 0.0  # when a read last emptied the pipe (0: it did not)
        self.readinto: Callable[[memoryview], int | None]
        self._start(0)

    def _start(self, offset: int) -> None:
        import os

        os.lseek(self.fd, offset, os.SEEK_SET)
        self.cat = popen(self.repo.cwd, *self.listing.git_mem, "cat-file", f"--batch={self.fmt}", "--buffer", stdin=self.fd,
                         bufsize=0)
        self.procs.append(self.cat)
        out = self.cat.stdout
        assert isinstance(out, io.RawIOBase)  # (bufsize=0: git's pipe itself, a FileIO)
        _grow_pipe(out)
        self.readinto = out.readinto
        self.pos = self.end = 0
        self.drained = 0.0

    def _read(self, into: memoryview) -> int:
        """One read of git's output. When the last one emptied the pipe less than _NAP ago, git is
        slower than this reader (inflating, applying deltas): wait the rest of _NAP first, so git's
        output gathers in the pipe (up to 1 MiB) and is taken in one read instead of a read, a sleep
        and a wake-up per 4 KiB git writes. On hummingbot (git the slower by far): 10k reads
        instead of 200k, 1.2 s of the reader's CPU instead of 2.2, and git's own a little less."""
        if self.drained:
            wait = self.drained + _NAP - time.monotonic()
            if wait > 0:
                time.sleep(wait)
        got = self.readinto(into) or 0
        self.drained = time.monotonic() if 0 < got < _DRAINED and got < len(into) else 0.0
        return got

    def _more(self) -> bool:
        """Read what git has written so far after the unread bytes (moved to the front if the buffer's
        end is reached); False at the end of git's output."""
        if self.pos == self.end:
            self.pos = self.end = 0
        elif self.end > _BUF - _MIN_READ:  # (room for a large read)
            n = self.end - self.pos
            if n > _BUF - _MIN_READ:
                raise GitError("git cat-file wrote a header line of 1 MiB")
            self.view[:n] = self.view[self.pos:self.end]
            self.pos, self.end = 0, n
        got = self._read(self.view[self.end:])
        if not got:
            return False
        self.end += got
        return True

    def header(self) -> bytes:
        """The next header line; b"" once every listed line is answered."""
        while not self.done:
            nl = self.buf.find(b"\n", self.pos, self.end)
            if nl >= 0 or not self._more():
                if nl < 0:
                    nl = self.end - 1  # (git stopped inside a line: what it wrote, as readline gave it)
                line = bytes(self.view[self.pos:nl + 1])
                self.pos = nl + 1
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

    def body(self, oid: bytes, size: int) -> tuple[bytearray, int, int] | None:
        """The next `size` bytes and the newline after them, as (buffer, start, end); None if git
        stopped inside them (reported)."""
        need = size + 1
        if need > _BUF:
            return self._big(oid, size)
        if self.pos + need > _BUF:  # (the blob starts near the end: its part moves to the front)
            n = self.end - self.pos
            self.view[:n] = self.view[self.pos:self.end]
            self.pos, self.end = 0, n
        while self.end - self.pos < need:
            got = self._read(self.view[self.end:])
            if not got:
                self._failed(oid)
                return None
            self.end += got
        a = self.pos
        self.pos = a + need
        if self.buf[a + size] != 0x0A:
            self._failed(oid)
            return None
        return self.buf, a, a + size

    def _big(self, oid: bytes, size: int) -> tuple[bytearray, int, int] | None:
        """A body larger than the buffer, read into one of its own."""
        out = bytearray(size + 1)
        have = min(self.end - self.pos, size + 1)
        out[:have] = self.view[self.pos:self.pos + have]
        self.pos += have
        with memoryview(out) as mv:
            while have <= size:
                got = self._read(mv[have:])
                if not got:
                    self._failed(oid)
                    return None
                have += got
        if out[size] != 0x0A:
            self._failed(oid)
            return None
        return out, 0, size

    def drop(self, oid: bytes, size: int) -> bool:
        """Read past an object not scanned (too large, not a blob); False if git stopped inside it."""
        left = size + 1
        while True:
            take = min(left, self.end - self.pos)
            self.pos += take
            left -= take
            if not left:
                return True
            self.pos = self.end = 0
            if not self._more():
                self._failed(oid)
                return False

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
