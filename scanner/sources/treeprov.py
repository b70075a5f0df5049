"""Provenance from one read of every tree: the commits and paths behind blobs with findings without
diffing the whole history.

`git log --raw -m --all --reflog` diffs every commit against each parent (hummingbot: 84k diffs,
229 MB of output, 5.5 s user + 0.6 s system) to keep the few entries naming a blob with findings.
Here git reads every tree once instead (`git cat-file --batch` of the trees the object listing found,
into a temporary file) and walks the commits once (`git rev-list --all --reflog --format=%T %P`, the
order `git log --all --reflog` shows them in), both started at the first finding beside the stream,
at low priority. Then, in Python:

- one Hyperscan pass over the trees per level of folders finds every (tree, mode, name) slot holding
  a blob with findings, then every slot holding those trees, up to the trees nothing holds. The ids
  themselves are searched for in every tree of the store, so every path a blob ever sits at is found,
  whatever git's walks would print first: a blob copied to a second path, a folder renamed or copied
  with it inside, one blob under two names in one tree;
- each commit whose tree (or a parent's) holds one of them is compared with each parent (a root
  commit with the empty tree) on those paths only: an entry wherever the (mode, blob) differs, as
  `git log -m --raw --no-renames` lists it. An entry's other side, when it is not a blob with
  findings, is None (what it was does not change a finding);
- the commits with entries get their dates and authors from one `git log --no-walk` (git's own
  formatting, so the same strings as before).

Hummingbot (69 blobs with findings at 22 paths, 9 levels): git 1.2 s (trees, 0.9 user + 0.3 system)
+ 0.7 s (walk) instead of 6.1 s; Python 1.1 s (the passes over 129 MB of trees) instead of the
filtering of 229 MB of log. Used when the listing recorded the trees and Hyperscan is there; if not,
or if a tree cannot be read, the whole-history log (gitlog.HistoryLog) as before.
"""
from __future__ import annotations

import bisect
import os
from array import array
from collections.abc import Callable, Iterator
from typing import IO, Any

from scanner.sources.git import DEVNULL, GitProc, Repo, decode_path, popen
from scanner.sources.gitlog import LOG_FORMAT, LOG_MEM, Commit, Event, hs_ends
from scanner.sources.objects import _lines, _tempfile

_BLOCK = 4 << 20
_MODE_TREE = b"40000"
_MODE_GITLINK = b"160000"


# When the blobs with findings fill many trees (a folder of thousands of test keys, kept over hundreds
# of versions), the Python work grows with every (tree, entry) holding one (~7 us each: a generated
# history of 3,000 key files, 150k such entries, 1.2 s) while the whole-history log costs git about
# 20-50 ns per byte of trees (hummingbot 6.1 s for 120 MB, freqtrade 1.9 s for 80 MB): past that,
# the whole-history log instead (decided after the first pass, from the entries holding the blobs).
_SLOT_COST = 7e-6
_LOG_COST_PER_TREE_BYTE = 20e-9
_SLOT_FLOOR = 0.2  # (s: below, either way is quick)
# and what the search itself costs as it goes (random blobs, e.g. an empty __init__.py held by
# thousands of folders: 2.3M entries parsed, 60k ids compiled on hummingbot), counted against the same
# budget, so a search that would cost more than the log stops early and the log runs instead
_COMPILE_COST = 40e-6  # per id (Hyperscan)
_PARSE_COST_PER_BYTE = 40e-9  # a tree holding one, parsed (~1.5 us an entry)
_CANON = {b"100644": b"100644", b"100755": b"100755", b"120000": b"120000"}


def _canon(mode: bytes) -> bytes:
    """A blob entry's mode as git's diff compares it (a symlink, else 100644 or 100755: git once wrote
    modes such as 100664)."""
    if mode == b"120000":
        return mode
    try:
        return b"100755" if int(mode, 8) & 0o100 else b"100644"
    except ValueError:
        return mode


class TreeSearch:
    """Every tree in the store, read once into a temporary file; the walk of reachable commits."""

    def __init__(self, repo: Repo, trees: IO[bytes]) -> None:
        self.repo = repo
        self.trees = trees  # tree ids, one a line (the listing's, pack order)
        self.cat: GitProc | None = None
        self.walk: GitProc | None = None
        self.data: IO[bytes] | None = None
        self.commits: IO[bytes] | None = None

    def start(self) -> None:
        if self.cat is not None:
            return
        self.trees.flush()
        self.trees.seek(0)
        self.data, self.commits = _tempfile(), _tempfile()
        # (--buffer: one write per 8 kB rather than per tree: 0.4 s of system time instead of 0.9; each
        # tree's header is its 'id size' line from the listing, so where each one starts is a sum)
        self.cat = popen(self.repo.cwd, *LOG_MEM, "cat-file", "--batch=%(objectname) %(rest)", "--buffer",
                         stdin=self.trees.fileno(),
                         stdout=self.data, nice=10)
        # the commit walk once the trees are read, not beside them: while the audit still streams blobs
        # (git, the reader and the stage-two worker: hummingbot's tree at 150-170 MiB), two more gits
        # at once would take the process tree past 200 MiB
        import threading

        self._lock = threading.Lock()
        self._closed = False
        self._then = threading.Thread(target=self._walk_after, args=(self.cat,), name="cexguard-walk", daemon=True)
        self._then.start()

    def _walk_after(self, cat: GitProc) -> None:
        cat.wait()
        self._start_walk()

    def _start_walk(self) -> None:
        with self._lock:
            if self.walk is None and not self._closed:
                assert self.commits is not None
                self.walk = popen(self.repo.cwd, *LOG_MEM, "rev-list", "--all", "--reflog", "--format=%T %P",
                                  stdin=DEVNULL, stdout=self.commits, nice=10)

    def events(self, want: set[str]) -> list[Event] | None:
        """The raw diff entries naming a `want` blob, as the whole-history log gives them (an entry's
        other side, when it is not a `want` blob, is None: nothing is read from it); None: this way
        cannot say (no Hyperscan, a tree git could not read)."""
        self.start()
        assert self.cat is not None
        self.cat.wait()
        self._start_walk()
        assert self.walk is not None and self.data is not None and self.commits is not None
        finder_for = _binary_finder()
        if finder_for is None:
            return None
        for p in (self.cat, self.walk):
            try:
                p.check()
            finally:
                p.errfile.close()
        index = _index(self.trees, self.data)
        if index is None:
            return None
        down: dict[bytes, list[Slot]] = {}  # tree -> its slots holding a want blob or a tree above one
        slots = _slots(self.data, index, want, finder_for)
        if slots is None:
            return None
        for child, held in slots.items():
            for parent, mode, name in held:
                down.setdefault(parent, []).append((child, mode, name))
        wanted = {w.encode() for w in want}
        memo: dict[bytes, dict[bytes, tuple[bytes, bytes]]] = {}

        def entries(tree: bytes | None) -> dict[bytes, tuple[bytes, bytes]]:
            """The entries of `tree` that are a `want` blob or a tree above one: key (the name, and '/'
            after a folder's: git's order) -> (mode, id)."""
            if tree is None:
                return {}
            got = memo.get(tree)
            if got is None:
                got = memo[tree] = {}
                for child, mode, name in down.get(tree, ()):
                    if mode == _MODE_TREE:  # (git reads an entry as its mode says)
                        if child not in wanted:
                            got[name + b"/"] = (mode, child)
                    elif child in wanted:
                        got[name] = (_CANON.get(mode) or _canon(mode), child)
            return got

        raw: list[tuple[bytes, bytes, bytes | None, bytes | None]] = []

        def diff(commit: bytes, new: bytes | None, old: bytes | None) -> None:
            """The entries of `git diff-tree -r old new` that name a `want` blob, in git's order, found
            as git finds them: a folder whose tree did not change is not opened."""
            todo: list[tuple[bytes, bytes | None, bytes | None]] = [(b"", new, old)]  # (path, new, old)
            while todo:
                path, new, old = todo.pop()
                if path[-1:] not in (b"", b"/"):  # a file
                    raw.append((commit, path, old, new))
                    continue
                a, b = entries(new), entries(old)
                for key in sorted(a.keys() | b.keys(), reverse=True):  # (popped in order)
                    x, y = a.get(key), b.get(key)
                    if x != y:
                        todo.append((path + key, x[1] if x else None, y[1] if y else None))

        hot = {c: t for c, t, _ in _walk(self.commits) if t in down}  # commits whose tree holds one
        for c, _tree, parents in _walk(self.commits):
            if c not in hot and not any(p in hot for p in parents):
                continue
            for parent in parents or [b""]:  # (a root commit: against the empty tree)
                diff(c, hot.get(c), hot.get(parent))
        if not raw:
            return []
        commits = _commit_info(self.repo, list(dict.fromkeys(c for c, _, _, _ in raw)))
        return [Event(commit=commits[c], path=decode_path(path), old=o.decode() if o else None,
                      new=n.decode() if n else None) for c, path, o, n in raw if c in commits]

    def graph(self) -> Iterator[tuple[bytes, list[bytes]]]:
        """(commit, its parents) for every commit refs and reflogs reach (after `events`)."""
        assert self.commits is not None
        return ((c, parents) for c, _tree, parents in _walk(self.commits))

    def close(self) -> None:
        if self.cat is not None:
            with self._lock:
                self._closed = True  # (the walk is not started after this)
        for p in (self.cat, self.walk):
            if p is not None:
                p.stop()
        for f in (self.data, self.commits):
            if f is not None:
                f.close()


def _binary_finder() -> Callable[[list[bytes]], Callable[[Any], list[int]]] | None:
    """A function making, for binary ids, a function giving where they end in a buffer (Hyperscan);
    None without Hyperscan."""
    try:
        import hyperscan
    except ImportError:
        return None

    def make(ids: list[bytes]) -> Callable[[Any], list[int]]:
        return hs_ends(hyperscan, [b"".join(b"\\x%02x" % c for c in i) for i in ids])

    return make


class _Index:
    """Where each tree's data starts in the `git cat-file --batch` output, its size and id (ids of one
    length, side by side in one buffer: 7 MB for hummingbot's 171,651 trees rather than 25 MB of
    objects)."""

    def __init__(self, ids: bytearray, width: int, starts: array[int], sizes: array[int]) -> None:
        self.ids, self.width, self.starts, self.sizes = ids, width, starts, sizes

    def oid(self, r: int) -> bytes:
        return bytes(self.ids[r * self.width:(r + 1) * self.width])


def _index(trees: IO[bytes], data: IO[bytes]) -> _Index | None:
    """The index of the cat-file output, from the listing's 'id size' lines (each one is its tree's
    header there); None if the output is not that (git could not read a tree: '<id> missing')."""
    from itertools import accumulate

    trees.seek(0)
    ids, sizes = bytearray(), array("q")
    width = 0
    for lines in _lines(trees):
        for line in lines:
            if line:
                oid, _, size = line.partition(b" ")
                if len(oid) != width:
                    if width:
                        return None
                    width = len(oid)
                ids += oid
                sizes.append(int(size))
    ends = array("q", accumulate(width + len(str(n)) + 3 + n for n in sizes))  # 'id size\n' data '\n'
    data.seek(0, os.SEEK_END)
    if (ends[-1] if ends else 0) != data.tell():
        return None
    for k, n in enumerate(sizes):
        ends[k] -= n + 1  # (now where each one's data starts)
    return _Index(ids, width, ends, sizes)


Slot = tuple[bytes, bytes, bytes]  # (the holding tree's id, mode, name)


def _slots(f: IO[bytes], index: _Index, want: set[str],
           finder_for: Callable[[list[bytes]], Callable[[Any], list[int]]]) -> dict[bytes, list[Slot]] | None:
    """For the `want` blobs and every tree above one (ids in hex): the (tree, mode, name) slots holding
    it. One Hyperscan pass over the trees per level: the ids themselves are searched for, so every
    tree holding one is found. None: the blobs fill so many trees that the whole-history log is cheaper
    (see _SLOT_COST)."""
    starts, sizes = index.starts, index.sizes
    rawlen = index.width // 2  # (20 bytes, 32 in a SHA-256 repository)
    fd = f.fileno()
    slots: dict[bytes, list[Slot]] = {}
    budget = max(_SLOT_FLOOR, sum(sizes) * _LOG_COST_PER_TREE_BYTE) / _SLOT_COST  # places a blob is seen
    if len(want) > 256:  # (a sample first: compiling thousands of ids costs more than a pass with 64)
        sample = sorted(want)[::len(want) // 64 + 1]
        if len(_scan(fd, finder_for([bytes.fromhex(x) for x in sample]), rawlen - 1)) * len(want) / len(sample) > (
                2 * budget):
            return None
    level = {w.encode() for w in want}
    done: set[bytes] = set()
    spent = 0.0  # estimated seconds so far: past the budget, the whole-history log is cheaper
    while level:
        done |= level
        ids = {bytes.fromhex(x.decode()) for x in level}
        spent += len(ids) * _COMPILE_COST
        if spent > budget * _SLOT_COST:
            return None
        find = finder_for(sorted(ids))
        held: set[int] = set()  # the trees where an id was seen (each one then parsed once)
        offsets = _scan(fd, find, rawlen - 1)
        if not done - level and len(offsets) > budget:
            return None  # (the first pass: each place a blob was seen is about one entry to follow)
        for o in offsets:
            r = bisect.bisect_right(starts, o - rawlen + 1) - 1
            if r >= 0 and o < starts[r] + sizes[r]:
                held.add(r)
        nxt: set[bytes] = set()
        for r in sorted(held):
            spent += sizes[r] * _PARSE_COST_PER_BYTE
            if spent > budget * _SLOT_COST:
                return None
            parent = b""
            for mode, name, raw in _entries(os.pread(fd, sizes[r], starts[r]), rawlen):
                if raw in ids and mode != _MODE_GITLINK:  # (not bytes inside a name: a whole entry's id)
                    parent = parent or index.oid(r)
                    slots.setdefault(raw.hex().encode(), []).append((parent, mode, name))
                    if parent not in done:
                        nxt.add(parent)
        level = nxt
    return slots


def _scan(fd: int, find: Callable[[Any], list[int]], over: int) -> list[int]:
    """Offsets (in the file) of the last byte of each match, the file read in blocks that overlap by
    `over` bytes (an id's length less one) so an id cut by a block's end is found whole in the next."""
    got: list[int] = []
    buf = bytearray(over + _BLOCK)
    view = memoryview(buf)
    pos, keep = 0, 0  # keep: bytes of the previous block carried into buf[over - keep:over]
    while True:
        if hasattr(os, "preadv"):
            n = os.preadv(fd, [view[over:]], pos)
        else:
            chunk = os.pread(fd, _BLOCK, pos)
            n = len(chunk)
            buf[over:over + n] = chunk
        if not n:
            return got
        got.extend(pos - keep + end for end in find(view[over - keep:over + n]) if end >= keep)
        keep = min(over, keep + n)
        buf[over - keep:over] = buf[over + n - keep:over + n]
        pos += n


def _entries(tree: bytes, rawlen: int) -> Iterator[tuple[bytes, bytes, bytes]]:
    """(mode, name, binary id) of each entry of a tree object's data."""
    i, n = 0, len(tree)
    while i < n:
        sp = tree.find(b" ", i)
        nul = tree.find(b"\0", sp + 1)
        if sp < 0 or nul < 0 or nul + 1 + rawlen > n:
            return  # (a truncated tree: git would stop there too)
        yield tree[i:sp], tree[sp + 1:nul], tree[nul + 1:nul + 1 + rawlen]
        i = nul + 1 + rawlen


def _walk(f: IO[bytes]) -> Iterator[tuple[bytes, bytes, list[bytes]]]:
    """(commit, its tree, its parents) from `git rev-list --format=%T %P` output, in its order."""
    f.seek(0)
    commit = b""
    for lines in _lines(f):
        for line in lines:
            if line[:7] == b"commit ":
                commit = line[7:]
            elif commit:
                tree, *parents = line.split()
                yield commit, tree, parents
                commit = b""


def _commit_info(repo: Repo, oids: list[str | bytes]) -> dict[bytes, Commit]:
    """The commits' ids, times, author date and author (`git log --no-walk`, LOG_FORMAT)."""
    stdin = _tempfile()
    stdin.write(b"".join((c if isinstance(c, bytes) else c.encode()) + b"\n" for c in oids))
    stdin.flush()
    stdin.seek(0)
    p = popen(repo.cwd, "log", "--no-walk=unsorted", "--stdin", LOG_FORMAT, stdin=stdin.fileno())
    try:
        out, _ = p.communicate()
        p.check()
    finally:
        p.errfile.close()
        stdin.close()
    got: dict[bytes, Commit] = {}
    for rec in out.split(b"\x01"):
        fields = rec.split(b"\0")
        if len(fields) < 3:
            continue
        head = fields[0].split(b" ")
        if len(head) == 3:
            got[head[0]] = Commit(oid=head[0].decode(), at=int(head[1]), ct=int(head[2]), date=fields[1].decode(),
                                  author=fields[2].decode("utf-8", "replace"))
    return got
