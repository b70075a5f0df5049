"""The per-repository task (runs on a Dask worker) and the client loop that schedules them.

A task mirrors the repository (URLs) or opens it in place (local paths), lists its refs, and runs
the history audit (`scanner.sources.history.audit`) over what is new:

- never audited before (or --full): the full audit, every object in the store, unreachable ones
  included;
- audited before: only the commits reachable from the refs now and not from the refs recorded
  (`audit(revs=[NEW..., "--not", OLD...])`, the `history --range` mode): the blobs those commits
  add, nothing already scanned;
- refs unchanged: nothing is read at all.

The task returns plain data (`Outcome`); only the client writes the state database. A repository
that cannot be read is an error outcome (not retried); a mirror that cannot be fetched raises, so
Dask retries it (`retries=`); a worker that dies mid-task has its task rescheduled by the scheduler
(up to `distributed.scheduler.allowed-failures`, default 3).
"""
from __future__ import annotations

import logging
import os
import pickle
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scanner.errors import CexguardError
from scanner.models import ScanStats
from scanner.org.repos import RepoSpec
from scanner.org.state import Outcome, State

if TYPE_CHECKING:
    from scanner.config import Config
    from scanner.engine import Engine


@dataclass(frozen=True)
class Job:
    """What every task needs besides its repository (pickled once per task; small)."""

    config: Config
    mirror_dir: str
    timeout: float | None = None  # per repository, seconds
    full: bool = False


class MirrorFailed(CexguardError):
    """Raised (not returned) so that Dask retries the task: networks fail transiently."""


# one engine per worker process and config: compiling the rules costs ~50 ms, paid once per worker
_ENGINES: dict[bytes, Engine] = {}


def engine_for(config: Config) -> Engine:
    key = pickle.dumps(config)
    e = _ENGINES.get(key)
    if e is None:
        from scanner.rules import build_engine

        e = _ENGINES[key] = build_engine(config, prefilter="auto")
    return e


def ref_tips(repo: Any) -> tuple[dict[str, str], set[str], bool]:
    """(ref -> object id, the commit-ish ids among them, whether some ref names a non-commit)."""
    out = repo.git("for-each-ref", "--format=%(objectname) %(objecttype) %(*objecttype) %(refname)")
    tips: dict[str, str] = {}
    commits: set[str] = set()
    odd = False
    for line in out.decode("utf-8", "surrogateescape").splitlines():
        oid, kind, peeled, ref = line.split(" ", 3)
        tips[ref] = oid
        if kind == "commit" or peeled == "commit":
            commits.add(oid)
        else:
            odd = True
    return tips, commits, odd


def _present(repo: Any, oids: Sequence[str]) -> list[str]:
    if not oids:
        return []
    p = repo.run("cat-file", "--batch-check=%(objectname)", input=("\n".join(oids) + "\n").encode(), check=False)
    return [line for line in p.stdout.decode().splitlines() if " " not in line and line]


class _Watchdog:
    """Kills this task's git processes when the per-repository timeout passes (the audit then fails
    with a git error, reported as "timed out"). Only when the worker runs one task at a time (the
    default LocalCluster, `dask worker --nthreads 1`): otherwise another task's git could be hit."""

    def __init__(self, timeout: float | None) -> None:
        self.fired = False
        self.timer: threading.Timer | None = None
        if timeout and _single_threaded():
            self.timer = threading.Timer(timeout, self._fire)
            self.timer.daemon = True
            self.timer.start()

    def _fire(self) -> None:
        self.fired = True
        try:
            import psutil  # (a dependency of dask.distributed)

            for child in psutil.Process().children(recursive=True):
                try:
                    if child.name() == "git" or child.name().startswith("git-"):
                        child.kill()
                except psutil.Error:
                    pass
        except ImportError:
            pass

    def cancel(self) -> None:
        if self.timer is not None:
            self.timer.cancel()


def _single_threaded() -> bool:
    try:
        from distributed import get_worker

        return int(get_worker().state.nthreads) == 1
    except (ImportError, ValueError, AttributeError):
        return True  # not on a worker: this process is ours


def _worker_name() -> str | None:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return None


def audit_repo(spec: RepoSpec, job: Job, before: dict[str, str] | None) -> Outcome:
    """Audit one repository (on a worker). `before`: the refs its last completed audit covered."""
    from scanner.sources.git import GitError, open_repo
    from scanner.sources.history import audit

    t0 = time.monotonic()
    out = Outcome(repo=spec.id, mode="error", worker=_worker_name())
    dog = _Watchdog(job.timeout)
    try:
        if spec.kind == "url":
            from scanner.org.mirror import ensure_mirror

            try:
                path, out.fetch = ensure_mirror(spec, job.mirror_dir, timeout=job.timeout or 3600)
            except GitError as e:
                if dog.fired:
                    raise MirrorFailed(f"timed out after {job.timeout:g} s while mirroring") from None
                raise MirrorFailed(f"cannot mirror: {e}") from None
        else:
            path = Path(spec.source)
        repo = open_repo(path)
        tips, commits, odd = ref_tips(repo)
        revs: list[str] | None = None
        mode = "full"
        if before is not None and not job.full and not odd:
            known = set(before.values())
            new = sorted(commits - known)
            if not new:
                out.mode, out.tips, out.findings = "unchanged", tips, []
                return out
            revs = new + ["--not", *sorted(_present(repo, sorted(known)))]
            mode = "incremental"
        stats = ScanStats()
        found = audit(repo, lambda: engine_for(job.config), stats, revs=revs, max_size=job.config.max_file_size)
        out.mode, out.tips, out.findings = mode, tips, found
        out.blobs, out.nbytes = int(stats.extra.get("blobs", 0)), int(stats.extra.get("blob_bytes", 0))
        out.stats = stats.to_dict()
        if stats.errors:
            out.stats["errors"] = list(stats.errors)
        return out
    except MirrorFailed:
        raise
    except CexguardError as e:
        out.error = f"timed out after {job.timeout:g} s" if dog.fired else str(e)
        return out
    finally:
        dog.cancel()
        out.duration = time.monotonic() - t0


# --------------------------------------------------------------------------------------------
# the client


def _estimate(spec: RepoSpec) -> int:
    """Bytes of packs (local repositories): large ones are submitted first, so the last task to
    finish is a small one."""
    if spec.kind != "local":
        return 0
    total = 0
    for sub in ("objects/pack", ".git/objects/pack"):
        try:
            with os.scandir(Path(spec.source) / sub) as it:
                total += sum(e.stat(follow_symlinks=False).st_size for e in it if e.name.endswith(".pack"))
        except OSError:
            continue
    return total


def _describe(exc: BaseException | None) -> str:
    name = type(exc).__name__ if exc is not None else "cancelled"
    if name == "KilledWorker":
        return "the worker running it died too many times (out of memory?); not audited"
    if isinstance(exc, CexguardError):
        return str(exc)
    from scanner.cli import _secretless

    return f"{name}: {_secretless(str(exc))}" if exc is not None else "cancelled"


@dataclass
class RunInfo:
    run: int
    resumed: bool
    skipped: int  # repositories the resumed run had already completed
    total: int


def run_org(specs: list[RepoSpec], state: State, job: Job, *, workers: int | None, scheduler: str | None,
            retries: int, on_outcome: Callable[[RepoSpec, Outcome], None] | None = None,
            on_start: Callable[[int, int], None] | None = None) -> RunInfo:
    """Audit every repository on Dask and record each outcome as it arrives."""
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise CexguardError("`cexguard org` needs Dask: pip install 'cexguard[org]'") from None
    run, resumed = state.begin_run()
    state.register(specs)
    done = state.done_in_run(run) if resumed else set()
    todo = [s for s in specs if s.id not in done]
    info = RunInfo(run=run, resumed=resumed, skipped=len(specs) - len(todo), total=len(specs))
    if on_start is not None:
        on_start(len(todo), info.skipped)
    cluster = client = None
    try:
        if todo:
            if scheduler:
                try:
                    client = Client(scheduler, timeout=30)
                except (OSError, TimeoutError) as e:
                    raise CexguardError(f"cannot reach the Dask scheduler at {scheduler}: {e}") from None
            else:
                cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=logging.CRITICAL)
                client = Client(cluster)
            by_key: dict[str, RepoSpec] = {}
            futures = []
            for s in sorted(todo, key=_estimate, reverse=True):
                fut = client.submit(audit_repo, s, job, state.tips(s.id), key=f"cexguard-org-{run}-{s.id}",
                                    pure=False, retries=retries)
                by_key[str(fut.key)] = s
                futures.append(fut)
            for fut in as_completed(futures):
                spec = by_key[str(fut.key)]
                if fut.status == "finished":
                    o = fut.result()
                elif fut.status == "error":
                    o = Outcome(repo=spec.id, mode="error", error=_describe(fut.exception()))
                else:
                    o = Outcome(repo=spec.id, mode="error", error=f"task {fut.status}")
                state.record(run, o)
                if on_outcome is not None:
                    on_outcome(spec, o)
                fut.release()
        state.finish_run(run, len(specs))
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    return info
