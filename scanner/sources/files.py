"""Working-tree source: walk folders and files (tracked, untracked and git-ignored alike), never
`.git/`, never following symlinks, never opening FIFOs or devices; count everything skipped."""
from __future__ import annotations

import fnmatch
import os
import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from scanner.config import Config
from scanner.errors import CexguardError
from scanner.models import Chunk, Finding, ScanStats

SKIP_DIRS = {".git"}


def _excluded(rel: str, patterns: tuple[str, ...]) -> bool:
    for p in patterns:
        p = p.rstrip("/")
        if fnmatch.fnmatchcase(rel, p) or rel.startswith(p + "/") or fnmatch.fnmatchcase(rel, p + "/*"):
            return True
        if "/" not in p and fnmatch.fnmatchcase(rel.rsplit("/", 1)[-1], p):
            return True
    return False


def note_excluded(stats: ScanStats, rel: str) -> None:
    """Count a path the config excludes, and list it (the report names what was not scanned)."""
    stats.skip("excluded")
    paths = stats.extra.setdefault("excluded_paths", [])
    if len(paths) < 1000:
        paths.append(rel)


def _rel(path: str, root: str) -> str:
    r = os.path.relpath(path, root)
    return r.replace(os.sep, "/")


def walk(paths: Iterable[Path], config: Config, stats: ScanStats, root: Path) -> Iterator[tuple[str, str, int]]:
    """(absolute path, path relative to root, size) of every regular file to scan."""
    roots = str(root)
    for p in paths:
        ps = str(p)
        try:
            st = os.lstat(ps)
        except OSError as err:
            raise CexguardError(f"cannot read {ps}: {err.strerror}") from None
        if stat.S_ISLNK(st.st_mode):
            stats.skip("symlink")
            continue
        if stat.S_ISREG(st.st_mode):
            rel = _rel(ps, roots) if os.path.isdir(roots) else os.path.basename(ps)
            if rel in (".", ""):
                rel = os.path.basename(ps)
            yield from _check_file(ps, rel, st.st_size, config, stats)
            continue
        if not stat.S_ISDIR(st.st_mode):
            stats.skip("special_file")
            continue
        base = _rel(ps, roots)
        stack = [(ps, "" if base in (".", "") else base + "/")]
        while stack:
            d, rel_dir = stack.pop()
            try:
                with os.scandir(d) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except OSError as err:
                stats.skip("unreadable")
                stats.unread(f"{rel_dir or './'} (cannot list the folder: {err.strerror})")
                continue
            subdirs = []
            for e in entries:
                rel = rel_dir + e.name  # string joins: os.path.relpath per file cost more than the scan
                try:
                    if e.is_symlink():
                        stats.skip("symlink")
                        continue
                    if e.is_dir(follow_symlinks=False):
                        if e.name in SKIP_DIRS:
                            continue
                        if config.exclude and _excluded(rel, config.exclude):
                            note_excluded(stats, rel + "/")
                            continue
                        if os.path.lexists(os.path.join(e.path, "pyvenv.cfg")):
                            stats.skip("virtualenv")  # installed third-party packages, not the project's files
                            continue
                        subdirs.append((e.path, rel + "/"))
                        continue
                    if not e.is_file(follow_symlinks=False):
                        if e.name not in SKIP_DIRS:
                            stats.skip("special_file")
                        continue
                    size = e.stat(follow_symlinks=False).st_size
                except OSError as err:
                    stats.skip("unreadable")
                    stats.unread(f"{rel} ({err.strerror})")
                    continue
                if size > config.max_file_size or config.exclude:
                    yield from _check_file(e.path, rel, size, config, stats)
                else:
                    yield e.path, rel, size
            stack.extend(reversed(subdirs))


def _check_file(path: str, rel: str, size: int, config: Config, stats: ScanStats) -> Iterator[tuple[str, str, int]]:
    if config.exclude and _excluded(rel, config.exclude):
        note_excluded(stats, rel)
        return
    if size > config.max_file_size:
        stats.skip("too_large")
        return
    yield path, rel, size


_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)


def _read(item: tuple[str, str, int]) -> tuple[str, bytes | None, str | None]:
    """Raw os.read calls (no buffered file object: it costs more than reading a small file)."""
    path, rel, size = item
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as e:
        return rel, None, e.strerror
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # replaced by a FIFO/device after the walk
            return rel, None, "not a regular file"
        data = os.read(fd, max(st.st_size, size) + 1)
        if len(data) > st.st_size:  # the file grew: read the rest
            parts = [data]
            while True:
                more = os.read(fd, 1 << 20)
                if not more:
                    break
                parts.append(more)
            data = b"".join(parts)
        return rel, data, None
    except OSError as e:
        return rel, None, e.strerror
    finally:
        os.close(fd)


def iter_files(paths: Iterable[Path], config: Config, stats: ScanStats, *, root: Path | None = None,
               threads: int = 1) -> Iterator[Chunk]:
    """Chunks of every file under `paths`, read ahead on a few threads (reads release the GIL)."""
    for chunk, _ in iter_prepared(paths, config, stats, root=root, threads=threads):
        yield chunk


def iter_prepared(paths: Iterable[Path], config: Config, stats: ScanStats, *, root: Path | None = None,
                  threads: int = 1, prepare: Callable[[bytes], Any] | None = None) -> Iterator[tuple[Chunk, Any]]:
    """(chunk, prepare(chunk.data)) for every file: reading and the stage-one prefilter (`prepare`,
    e.g. Engine.prepare) run on the reader threads, so both cores work on a large tree."""
    paths = [Path(p) for p in paths]
    root = root if root is not None else (paths[0] if len(paths) == 1 and paths[0].is_dir() else Path.cwd())
    items = walk(paths, config, stats, root)

    def work(batch: list[tuple[str, str, int]]) -> list[tuple[str, bytes | None, str | None, Any]]:
        out = []
        for item in batch:
            rel, data, err = _read(item)
            out.append((rel, data, err, prepare(data) if prepare is not None and data is not None else None))
        return out

    # one task per batch of files (a future per file costs more than reading a small file), and a
    # bounded number of batches in flight so memory stays flat however large the tree
    from collections import deque

    with ThreadPoolExecutor(max_workers=threads) as pool:
        pending: deque[Any] = deque()
        batches = _batches(items, 32)
        for batch in batches:
            pending.append(pool.submit(work, batch))
            if len(pending) < threads * 2:
                continue
            yield from _drain(pending.popleft().result(), stats)
        while pending:
            yield from _drain(pending.popleft().result(), stats)


def _drain(results: list[tuple[str, bytes | None, str | None, Any]], stats: ScanStats) -> Iterator[tuple[Chunk, Any]]:
    for rel, data, err, pre in results:
        if data is None:
            stats.skip("unreadable")
            stats.unread(f"{rel} ({err})")
            continue
        yield Chunk(data=data, path=rel), pre


def _batches(it: Iterator[tuple[str, str, int]], n: int, max_bytes: int = 8 << 20) -> Iterator[list[tuple[str, str, int]]]:
    """Up to n files or max_bytes (whichever comes first) per batch."""
    batch: list[tuple[str, str, int]] = []
    size = 0
    for x in it:
        batch.append(x)
        size += x[2]
        if len(batch) >= n or size >= max_bytes:
            yield batch
            batch = []
            size = 0
    if batch:
        yield batch


def git_toplevel(path: Path) -> Path | None:
    """The work tree holding `path`, found without running git (cheap when there is none)."""
    p = path.resolve()
    if p.is_file():
        p = p.parent
    for d in (p, *p.parents):
        if (d / ".git").exists():
            return d
    return None


def annotate_git_status(findings: list[Finding], root: Path) -> list[Finding]:
    """Say for each finding whether its file is tracked, untracked or ignored (two git calls, only
    when there are findings inside a work tree)."""
    if not findings:
        return findings
    top = git_toplevel(root)
    if top is None:
        return findings
    base = root.resolve() if root.is_dir() else root.resolve().parent
    rels = sorted({f.path for f in findings})
    to_top = {r: os.path.relpath(base / r, top).replace(os.sep, "/") for r in rels}
    args = [to_top[r] for r in rels if not to_top[r].startswith("../")]
    if not args:
        return findings
    from scanner.sources import git  # the hardened wrapper: a scanned repository's config runs nothing

    def ls(*extra: str) -> set[str]:
        out = git.run(top, "--literal-pathspecs", "ls-files", "-z", *extra, "--", *args).stdout
        return set(out.decode("utf-8", "surrogateescape").split("\0")) - {""}

    try:
        tracked = ls("--cached")
        untracked = ls("--others", "--exclude-standard")
    except CexguardError:
        return findings
    out = []
    for f in findings:
        t = to_top.get(f.path, "")
        status = "tracked" if t in tracked else "untracked" if t in untracked else "ignored"
        if t.startswith("../"):
            status = None  # type: ignore[assignment]
        out.append(f.replace(git_status=status))
    return out


# -- several processes: reading and matching on every core ---------------------------------------------

_WORKER_ENGINE: Any = None


def _scan_batch(batch: list[tuple[str, str, int]]) -> tuple[list[Finding], ScanStats]:
    engine = _WORKER_ENGINE
    st = ScanStats()
    found: list[Finding] = []
    for item in batch:
        rel, data, err = _read(item)
        if data is None:
            st.skip("unreadable")
            st.unread(f"{rel} ({err})")
            continue
        found.extend(engine.scan(Chunk(data=data, path=rel), st, engine.prepare(data)))
    return found, st


def _worker_init() -> None:
    """In each forked worker: Ctrl-C is the parent's to handle (it reaches the whole process group;
    the parent then terminates the pool), and SIGTERM ends the worker at once, as the default does:
    no KeyboardInterrupt or handler inherited from the parent, so no traceback from any worker."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def scan_tree(paths: Iterable[Path], config: Config, stats: ScanStats, engine: Any, *, root: Path | None = None,
              jobs: int = 1) -> list[Finding]:
    """Every finding under `paths`. With jobs > 1 (and fork available), batches of files are read and
    scanned in forked worker processes: threads cannot help here, the GIL serialises the per-file work."""
    import multiprocessing

    paths = [Path(p) for p in paths]
    root = root if root is not None else (paths[0] if len(paths) == 1 and paths[0].is_dir() else Path.cwd())
    if jobs <= 1 or "fork" not in multiprocessing.get_all_start_methods() or not any(p.is_dir() for p in paths):
        out: list[Finding] = []
        for chunk, prepared in iter_prepared(paths, config, stats, root=root, prepare=engine.prepare):
            out.extend(engine.scan(chunk, stats, prepared))
        return out
    global _WORKER_ENGINE
    _WORKER_ENGINE = engine
    found: list[Finding] = []
    from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    # ProcessPoolExecutor, not multiprocessing.Pool: a worker that dies (killed, out of memory) makes
    # the pool raise instead of hanging forever on a task that will never finish; with fork, every
    # worker is started before the executor's own thread, and the walk runs in this thread.
    ctx = multiprocessing.get_context("fork")
    ex = ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_worker_init)

    def collect(done: set[Future[Any]]) -> None:
        for fut in done:
            f, st = fut.result()
            found.extend(f)
            stats.merge(st)

    try:
        pending: set[Future[Any]] = set()
        for batch in _batches(walk(paths, config, stats, root), 64):
            pending.add(ex.submit(_scan_batch, batch))
            if len(pending) >= 2 * jobs:  # a bounded number in flight: memory stays flat
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                collect(done)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            collect(done)
        ex.shutdown(wait=True)
    except BrokenProcessPool:
        ex.shutdown(wait=False, cancel_futures=True)
        from scanner.errors import CexguardError

        raise CexguardError("a scan worker process died (killed or out of memory); run again, or with -j 1") from None
    except BaseException:
        ex.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        _WORKER_ENGINE = None
    stats.errors.sort()
    stats.unreadable.sort()
    return found
