"""Reading `git log --raw`: the commits that add or remove blobs at each path, as events."""
from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any

from scanner.sources.git import GitProc, Repo, decode_path, popen, split_z
from scanner.sources.objects import _BATCH, _tempfile

# `git log --raw` reads trees, not blobs: a smaller delta-base cache costs it little (hummingbot's
# whole-history log: 96 MB 7.6 s / 91 MB RSS, 24 MB 7.7 s / 81 MB, 8 MB 8.6 s / 62 MB); it runs beside
# the stream, so it gets 8 MB in 1 MB windows up to 16 MB (5.7 s / 68 MB; 8 MB windows: 87 MB).
LOG_MEM = ("-c", "core.deltaBaseCacheLimit=8m", "-c", "core.packedGitWindowSize=1m",
           "-c", "core.packedGitLimit=16m")


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


def _log_args(revs: Sequence[str], *, find: Sequence[str], merges: bool, renames: bool, stdin: bool,
              pre: Sequence[str] = ()) -> list[str]:
    args = [*pre, *LOG_MEM, "log", "--raw", "-z", "--no-abbrev", "--no-ext-diff", "--no-textconv", LOG_FORMAT,
            "-M" if renames else "--no-renames"]
    if merges:
        args.append("-m")
    args += [f"--find-object={oid}" for oid in find]
    if stdin:
        args.append("--stdin")
    return args + list(revs)


def log_events(repo: Repo, revs: Sequence[str], *, find: Sequence[str] = (), want: set[str] | None = None,
               merges: bool, renames: bool = False, stdin: IO[bytes] | None = None,
               unreachable: bool = False, pre: Sequence[str] = ()) -> Iterator[Event]:
    """Raw diff entries of the commits `revs` selects (`git log --raw`), streamed (`pre`: git's own
    options, before `log`).

    `find` passes `--find-object` for each id (git filters); `want` filters in Python instead (an
    entry is kept when its old or new blob is in it); neither: every entry.
    """
    if stdin is not None:
        stdin.flush()
        stdin.seek(0)
    p = popen(repo.cwd, *_log_args(revs, find=find, merges=merges, renames=renames, stdin=stdin is not None, pre=pre),
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


def hs_ends(hyperscan: Any, exprs: list[bytes]) -> Callable[[Any], list[int]]:
    """A function giving where any of the Hyperscan patterns `exprs` end in a buffer (the offset of
    each match's last byte, in order)."""
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    db.compile(expressions=exprs, ids=list(range(len(exprs))), elements=len(exprs), flags=[0] * len(exprs))
    scratch = hyperscan.Scratch(db)

    def find(buf: Any) -> list[int]:
        offs: list[int] = []
        db.scan(buf, match_event_handler=lambda _i, _f, to, _fl, _c: offs.append(to - 1), scratch=scratch)
        return offs

    return find


def _id_finder(want: set[bytes]) -> Callable[[Any], list[int]] | None:
    """A function giving where the `want` ids end in a buffer (the offset of each one's last byte, in
    order), or None: no fast way, parse every record."""
    try:
        import hyperscan
    except ImportError:
        hyperscan = None  # type: ignore[assignment]
    if hyperscan is not None and want:
        return hs_ends(hyperscan, sorted(want))
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
    the audit took 31 s rather than 17-21 s). Never started for a repository without findings.

    Given the listing's trees, the same entries come from one read of every tree instead
    (treeprov.TreeSearch: hummingbot's git time 1.9 s instead of 6.1 s); this log is what it falls back
    on."""

    def __init__(self, repo: Repo, trees: IO[bytes] | None = None) -> None:
        self.repo = repo
        self.proc: GitProc | None = None
        self.out: IO[bytes] | None = None
        self.search: Any = None  # a treeprov.TreeSearch, given the listing's tree ids
        self.graph: Callable[[], Iterator[tuple[bytes, list[bytes]]]] | None = None  # its commit walk, once read
        if trees is not None:
            from scanner.sources.treeprov import TreeSearch

            self.search = TreeSearch(repo, trees)

    def start(self) -> None:
        if self.search is not None:
            self.search.start()
            return
        if self.proc is not None:
            return
        self.out = _tempfile()
        self.proc = popen(self.repo.cwd, *_log_args(["--all", "--reflog"], find=(), merges=True, renames=False,
                                                   stdin=False),
                          stdin=subprocess.DEVNULL, stdout=self.out, nice=10)

    def events(self, want: set[str]) -> list[Event]:
        """The entries touching `want` (starting the log now if it was not yet running)."""
        if self.search is not None:
            got = self.search.events(want)
            if got is not None:
                self.graph = self.search.graph
                return got
            self.search.close()
            self.search = None  # (it cannot say: the whole-history log)
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
        if self.search is not None:
            self.search.close()
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
