"""`cexguard history`: audit a repository's whole history, or what a range of commits adds.

The audit is scanner/sources/history.py; the revision plumbing (ranges, pre-push, submodules) is in
scanner/sources/git.py.
"""
from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from scanner.clikit import ReportOptions, finish, report_options
from scanner.errors import CexguardError
from scanner.hook import NO_COMMIT
from scanner.models import Finding, GitProvenance, ScanResult, ScanStats
from scanner.safetext import safe
from scanner.sources.git import pre_push_revs, range_base, range_revs, submodule_paths

if TYPE_CHECKING:
    from scanner.config import Config
    from scanner.engine import Engine
    from scanner.sources.git import Repo


def _config(root: Path, opts: ReportOptions, *, repo: Repo | None = None, at: str | None = None,
            committed_ignore: bool = True) -> Config:
    """The user's config (--config, or the user config file) and the repository's: from the work
    tree, or with `repo` and `at`, as commit `at` has it (NO_COMMIT: none)."""
    from scanner.hook import load_repo_config

    return load_repo_config(root, opts, repo=repo, at=at, committed_ignore=committed_ignore)


def _engine(config: Config) -> Engine:
    from scanner.rules import build_engine

    engine: Engine = build_engine(config, prefilter="auto")
    return engine


def _filter(findings: list[Finding], config: Config, stats: ScanStats, *, baseline_path: str | None,
            include_examples: bool, min_confidence: str) -> list[Finding]:
    from scanner import filters

    return filters.apply(findings, config=config, baseline_path=baseline_path, include_examples=include_examples,
                         min_confidence=min_confidence, stats=stats)


@click.command()
@click.argument("repo_path", metavar="[REPO]", required=False, type=click.Path(file_okay=False))
@click.option("--range", "range_spec", metavar="BASE..HEAD", default=None,
              help="Only what these commits add (CI). BASE...HEAD and a zero BASE (new branch) work too.")
@click.option("--since", "since", metavar="REF", default=None, help="Same as --range REF..HEAD.")
@click.option("--reachable-only", is_flag=True,
              help="Skip objects no ref or reflog reaches (default: scan every object in the store).")
@click.option("--pre-push", "pre_push", is_flag=True,
              help="Scan the commits being pushed (pre-commit's pre-push stage, or git's pre-push stdin).")
@click.option("--remote", default=None, help="With --pre-push: the remote being pushed to.")
@click.option("--recurse-submodules", is_flag=True,
              help="Also audit checked-out submodules (full audit only, not with a range).")
@click.option("-j", "--jobs", type=click.IntRange(min=0, max=2), default=0,
              help="Processes for the Python half of the audit: 1, one; 2, stage two (judging the blobs "
                   "the prefilter lets through) in a second process; default: 2 with two cores or more "
                   "and at least 5000 blobs.")
@report_options
def history(repo_path: str | None, range_spec: str | None, since: str | None, reachable_only: bool, pre_push: bool,
            remote: str | None, recurse_submodules: bool, jobs: int, opts: ReportOptions) -> int:
    """Audit a repository's whole history: every blob once, from all refs and unreachable objects.

    \b
    One finding per secret and path: the commit that first added it, author,
    date, refs holding it, whether HEAD still has it, the exposure window and
    how many commits/blobs hold it. --range/--since scan only what those
    commits add. Works on bare, shallow, partial and empty repositories and
    worktrees. Objects that cannot be read (missing, corrupt) are skipped,
    named and counted. Exit 0: nothing found; 1: findings; 2: error;
    4: nothing found but the audit is incomplete (objects not read).
    """
    from scanner.sources.git import open_repo

    if sum(x is not None and x is not False for x in (range_spec, since, pre_push or None)) > 1:
        raise CexguardError("use only one of --range, --since and --pre-push")
    if reachable_only and (range_spec or since or pre_push):
        raise CexguardError("--reachable-only applies to the full audit, not to --range/--since/--pre-push")
    repo = open_repo(repo_path)
    stats = ScanStats()
    if pre_push:
        stdin_text = None if sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()
        revs = pre_push_revs(repo, remote, stdin_text)
        if revs is None:
            return finish(ScanResult(findings=[], stats=stats), opts)
    elif range_spec or since:
        revs = range_revs(repo, range_spec if range_spec else f"{since}..HEAD")
    else:
        revs = None
    # a range reads the repository's config as its base has it, never as the commits under review do
    at = (range_base(revs) or NO_COMMIT) if revs is not None else None
    config = _config(repo.root or repo.git_dir, opts, repo=repo, at=at)
    built: list[Engine] = []

    def engine() -> Engine:  # built after the object listing (the memory peak), once
        if not built:
            built.append(_engine(config))
        return built[0]

    findings = _audit(repo, engine, config, stats, revs=revs, reachable_only=reachable_only, quiet=opts.quiet,
                      prefix="", recurse=recurse_submodules, jobs=jobs)
    from scanner.filters import drop_excluded

    findings = drop_excluded(findings, opts.exclude, stats)  # (the user's own globs, never the repository's)
    findings = _filter(findings, config, stats, baseline_path=opts.baseline_path,
                       include_examples=opts.include_examples, min_confidence=opts.min_confidence)
    from scanner.config import record_notices

    record_notices(stats, config)
    if not opts.quiet:
        for line in _warnings(stats):
            click.echo(safe(f"cexguard: warning: {line}"), err=True)  # paths and refs may hold escapes
    rules = built[0].rules if built else ()
    return finish(ScanResult(findings=findings, stats=stats, rules=rules), opts, config_source=config.source)


def _audit(repo: Repo, engine: Callable[[], Engine], config: Config, stats: ScanStats, *, revs: list[str] | None,
           reachable_only: bool, quiet: bool, prefix: str, recurse: bool, jobs: int = 0) -> list:  # type: ignore[type-arg]
    from scanner.sources.history import audit
    from scanner.sources.progress import Progress

    if repo.shallow:
        stats.extra["history_truncated"] = True
    if repo.head() is None:
        stats.extra.setdefault("empty_repository", True)
    progress = Progress(enabled=False if quiet else None, label="blobs")
    found = audit(repo, engine, stats, revs=revs, reachable_only=reachable_only, max_size=config.max_file_size,
                  progress=progress if progress.enabled else None, jobs=jobs)
    if prefix:
        sub = prefix.rstrip("/")
        found = [f.replace(path=prefix + f.path, provenance=(f.git or GitProvenance()).replace(submodule=sub))
                 for f in found]
    if recurse and revs is None and repo.root is not None:  # (a range names superproject commits only)
        from scanner.sources.git import open_repo

        for sub in submodule_paths(repo):
            top = repo.root / sub
            if not _strictly_inside(top, repo.root):
                stats.skip("submodule_outside_tree")
                stats.errors.append(f"{prefix}.gitmodules: submodule path {sub!r} is not inside the repository; "
                                    "not audited")
                continue
            if not (top / ".git").exists():
                stats.skip("submodule_not_checked_out")
                continue
            sub_repo = open_repo(top)
            if not any(_strictly_inside(sub_repo.common_dir, d) or sub_repo.common_dir == d
                       for d in (top, repo.common_dir)):
                stats.skip("submodule_outside_tree")
                stats.errors.append(f"{prefix}{sub}: its git folder is outside the superproject; not audited")
                continue
            found += _audit(sub_repo, engine, config, stats, revs=None, reachable_only=reachable_only,
                            quiet=quiet, prefix=f"{prefix}{sub}/", recurse=True, jobs=jobs)
    return found


def _strictly_inside(path: Path, root: Path) -> bool:
    """`path` (symlinks resolved) is below `root`, not `root` itself nor anywhere outside it."""
    try:
        rel = path.resolve().relative_to(root.resolve())
    except (ValueError, OSError, RuntimeError):
        return False
    return rel != Path(".")


def _warnings(stats: ScanStats) -> list[str]:
    lines = []
    x = stats.extra
    if x.get("history_truncated"):
        lines.append("shallow clone: the history is truncated; for a full audit run `git fetch --unshallow` "
                     "(CI: fetch-depth: 0)")
    if x.get("missing_objects"):
        lines.append(f"{x['missing_objects']} object(s) are missing (partial clone or damaged repository) and "
                     "were not scanned")
    if stats.skipped.get("missing_object"):
        lines.append(f"{stats.skipped['missing_object']} listed object(s) could not be read")
    return lines
