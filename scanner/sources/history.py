"""The full-history audit: every blob in the object store scanned once, then provenance for hits.

The common path: list the blobs (`git cat-file --batch-all-objects --batch-check`, or `git rev-list
--objects` with --reachable-only) into a temporary file, then stream them through one `git cat-file
--batch`: git inflates on one core while a reader thread runs the engine's prefilter and the main
thread judges the few blobs that pass. Only blobs with findings are then mapped to history: one read
of every tree and one walk of the commits (started at the first finding, at low priority; see
treeprov.py; else `git log --all --reflog -m --raw` filtered for the hit blob ids) give the commits
that added or removed them at each path, as `git log -m --raw` lists them; from that come the introducing commit,
author, date, the refs containing it, whether it is still at HEAD and the exposure window. Blobs no
ref or reflog reaches are looked up in unreachable commits and the index, else reported as
unreachable blobs. One finding per (secret, path).

Range mode (`revs`, e.g. ["BASE..HEAD"]) scans only the blobs those commits add, and keeps only the
secrets each commit adds to its file (absent from the parent's version), for CI and pre-push.

Never `git gc`/`prune`/`fsck`; never the network (a partial clone's missing objects are counted).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from scanner.errors import CexguardError
from scanner.models import Finding, ScanStats
from scanner.sources.git import GitError, GitProc, Repo
from scanner.sources.gitlog import (  # noqa: F401 (re-exported)
    LOG_FORMAT, LOG_MEM, Commit, Event, HistoryLog, log_events, parse_log,
)
from scanner.sources.objects import (  # noqa: F401 (re-exported)
    DELTA_MEM, DELTA_ORDER_MAX, LIST_MEM, LOWMEM, WALK_MEM, Listing, MissingWalk, _DeltaOrder, list_all_objects,
    list_given, list_reachable, missing_reachable,
)
from scanner.sources.provenance import (  # noqa: F401 (re-exported)
    FIND_OBJECT_MAX, UNREACHABLE_PATH, RefIndex, _apply_events, _BlobFps, _findings, _Group, _map_unreachable,
    index_blobs,
)
from scanner.sources.reading import HANDOVER_BYTES, _Scan, stream_scan  # noqa: F401 (re-exported)

if TYPE_CHECKING:
    from scanner.engine import Engine
    from scanner.sources.progress import Progress


def audit(repo: Repo, engine: Engine | Callable[[], Engine], stats: ScanStats, *, revs: Sequence[str] | None = None,
          reachable_only: bool = False, max_size: int, progress: Progress | None = None, jobs: int = 1) -> list[Finding]:
    """Scan the repository's history; `revs` (git log revisions) limits it to what they add. `jobs`:
    1, stage two in this process; 2, in a worker process of its own (stage2.py); 0, the worker when
    the machine and the history are large enough.

    `engine` may be a function that builds it: it is then called after the object listing, whose
    git process is the memory peak, so the two never hold memory at the same time."""
    procs: list[GitProc] = []
    try:
        if revs is not None:
            return _audit_range(repo, engine, stats, revs, max_size=max_size, progress=progress, procs=procs,
                                jobs=jobs)
        return _audit_all(repo, engine, stats, reachable_only=reachable_only, max_size=max_size,
                          progress=progress, procs=procs, jobs=jobs)
    finally:
        for p in procs:
            p.stop()
        if progress is not None:
            progress.close()


def _audit_all(repo: Repo, make_engine: Engine | Callable[[], Engine], stats: ScanStats, *, reachable_only: bool,
               max_size: int, progress: Progress | None, procs: list[GitProc], jobs: int) -> list[Finding]:
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
    hlog = HistoryLog(repo, trees=listing.trees)
    try:
        scan = stream_scan(repo, engine, stats, listing, with_rest=reachable_only, max_size=max_size,
                           progress=progress, procs=procs, on_hit=hlog.start, jobs=jobs)
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
    if not scan.hits and not scan.maybe:
        return []
    cache = _BlobFps(scan.hits, repo, engine, max_size=max_size, scanned_all=True, matches=scan.matches,
                     maybe=scan.maybe)
    want = set(scan.hits) | scan.maybe
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
    ref_index = RefIndex(repo, graph=hlog.graph)
    if rest:
        _map_unreachable(repo, rest, cache, groups, seen, commits=listing.commits, stats=stats, ref_index=ref_index)
    head = repo.head()
    return _findings(repo, engine, groups, cache, head=head, max_size=max_size, ref_index=ref_index, stats=stats,
                     progress=progress)


def _audit_range(repo: Repo, make_engine: Engine | Callable[[], Engine], stats: ScanStats, revs: Sequence[str], *,
                 max_size: int, progress: Progress | None, procs: list[GitProc], jobs: int) -> list[Finding]:
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
                           procs=procs, jobs=jobs)
    finally:
        listing.close()
    if progress is not None:
        progress.close()
    _record_totals(stats, scan, listing)
    if not scan.hits and not scan.maybe:
        return []
    cache = _BlobFps(scan.hits, repo, engine, max_size=max_size, scanned_all=False, scanned=set(new_blobs),
                     matches=scan.matches, maybe=scan.maybe)
    groups: dict[tuple[str, str], _Group] = {}
    _apply_events([e for e in events if e.new in scan.hits or e.new in scan.maybe], cache, groups, set())
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

