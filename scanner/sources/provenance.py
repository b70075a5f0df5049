"""Provenance of blobs with findings: the commits, paths and refs that hold them, and one finding
per (secret, path) with its history."""
from __future__ import annotations

import datetime as _dt
import subprocess
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING

from scanner.models import Finding, GitProvenance, ScanStats
from scanner.sources.git import CatFile, GitError, Repo, decode_path, ls_tree_blobs, popen, split_z
from scanner.sources.gitlog import Commit, Event, log_events
from scanner.sources.objects import _BATCH, _lines

if TYPE_CHECKING:
    from scanner.engine import Engine, Matches
    from scanner.sources.progress import Progress

UNREACHABLE_PATH = "(unreachable)"
FIND_OBJECT_MAX = 400  # beyond this many hit blobs, filter `git log --raw` in Python instead


class RefIndex:
    """Which refs hold which commits, and which refs name which objects, for every finding at once.

    One `git for-each-ref` and one `git rev-list --parents` over the ref tips, then one pass in
    Python: each commit's set of target commits it contains is its own bit OR its parents' (a
    bitmask, parents first). `for-each-ref --contains=C` per commit walks history once per ref
    instead: measured 3 min 18 s for ONE commit of hummingbot (5,152 refs, 62k commits); this is
    ~3 s for all of them. Given `graph` (every commit refs and reflogs reach, with its parents, from a
    walk the audit already made: treeprov.TreeSearch.graph), no second walk: the same bitmasks,
    parents first by a depth-first pass in Python (hummingbot: git 0.6 s less)."""

    def __init__(self, repo: Repo, graph: Callable[[], Iterator[tuple[bytes, list[bytes]]]] | None = None) -> None:
        self.repo = repo
        self.graph = graph
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
        bits = {c.encode(): b for c, b in bit.items()}
        if self.graph is not None:
            self._assign(list(bit), _masks(self.graph(), bits, [t.encode() for _, t in self.tips]))
            return
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
        self._assign(list(bit), mask)

    def _assign(self, order: list[str], mask: dict[bytes, int]) -> None:
        """Each target commit's refs, from each ref tip's bitmask of the targets it contains."""
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


def _masks(graph: Iterator[tuple[bytes, list[bytes]]], bits: dict[bytes, int], tips: list[bytes]) -> dict[bytes, int]:
    """For each commit the tips reach: the bits of the targets it contains (its own bit OR its
    parents'), parents before children by an iterative depth-first walk from each tip."""
    parents = dict(graph)
    mask: dict[bytes, int] = {}
    for tip in tips:
        if tip in mask:
            continue
        stack: list[tuple[bytes, bool]] = [(tip, False)]
        while stack:
            c, ready = stack.pop()
            if ready:
                m = bits.get(c, 0)
                for p in parents.get(c, ()):
                    m |= mask.get(p, 0)
                mask[c] = m
            elif c not in mask:
                stack.append((c, True))
                stack.extend((p, False) for p in parents.get(c, ()) if p not in mask)
    return mask


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


class _BlobFps:
    """The findings (and their fingerprints) of each blob; a blob not scanned yet is read lazily."""

    def __init__(self, hits: dict[str, list[Finding]], repo: Repo, engine: Engine, *, max_size: int,
                 scanned_all: bool, scanned: set[str] | None = None, matches: dict[str, Matches] | None = None,
                 maybe: set[str] | None = None) -> None:
        self.hits = hits
        # blobs with no finding at an unknown path whose matches may give some at a path (a private key in
        # a file named like a key file): judged at each path that holds them
        self.maybe = maybe or set()
        self.matches = matches if matches is not None else {}
        self._at: dict[tuple[str, str], list[Finding] | None] = {}
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
        found = []
        if data is not None:
            m = self.engine.match(data)
            found = self.engine.judge(m, "")
            if found:
                self.matches[oid] = m
        self.hits[oid] = found
        return found

    def at(self, oid: str, path: str) -> list[Finding] | None:
        """The blob's findings at `path`: its matches judged for the path (context from the path name
        counts), not the blob read and scanned again; matched again only when the path names an exchange
        its text does not. None: the blob cannot be read."""
        key = (oid, path)
        if key in self._at:
            return self._at[key]
        m = self.matches.get(oid)
        if m is None or not self.engine.covers(m, path):
            data = self.read(oid)
            m = self.engine.match(data, paths=(path,)) if data is not None else None
        got = self._at[key] = self.engine.judge(m, path, provenance=GitProvenance(blob=oid)) if m is not None else None
        return got

    def fps(self, oid: str | None, path: str | None = None) -> frozenset[str]:
        """The fingerprints of a blob's findings at `path` (None: at the path it was scanned with). A blob
        with none at the path it was scanned with has none at any, but for the `maybe` ones."""
        if oid is None:
            return frozenset()
        key = oid if path is None else f"{oid}\0{path}"
        got = self._fps.get(key)
        if got is None:
            found = self.findings(oid)
            if (found or oid in self.maybe) and path is not None:
                at = self.at(oid, path)
                found = at if at is not None else found
            got = self._fps[key] = frozenset(f.fingerprint for f in found)
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
        # (judged at the event's path: a path naming an exchange, or another one, changes what a blob holds)
        new_fps = cache.fps(e.new, e.path)
        if e.new is not None and (cache.fps(e.new) or e.new in cache.maybe):
            seen.add(e.new)  # reachable (with findings at this path or not): never reported as unreachable
        if not new_fps and e.old is None:
            continue
        old_fps = cache.fps(e.old, e.path)
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
                for f in (cache.at(oid, path) or () if oid in cache.maybe else cache.findings(oid)):
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
        for (fp, path), g in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
            if not g.blobs:
                continue  # only removals seen: it came in at this path before a shallow boundary
            intro = sorted(g.intro, key=lambda cb: (cb[0].at, cb[0].ct))
            first, blob = (intro[0][0], intro[0][1]) if intro else (None, min(g.blobs))
            # the blob's findings at its real path (context from the path name counts)
            at_path = cache.at(blob, path) if g.where != "refs" and path != UNREACHABLE_PATH else None
            base = next((f for f in at_path or () if f.fingerprint == fp), None)
            if base is None:
                base = next(f for f in cache.findings(blob) if f.fingerprint == fp)
            present = g.where == "history" and at_head.get(path) is not None and fp in cache.fps(at_head.get(path), path)
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
