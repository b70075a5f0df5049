"""`cexguard scan` and `cexguard baseline`: working trees and files."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from scanner.clikit import ReportOptions, finish, report_options
from scanner.config import Config, load_config, parse_size
from scanner.models import ScanResult, ScanStats
from scanner.status import ExitCode


def run_scan(paths: tuple[str, ...], *, config_path: str | None, max_file_size: str | None,
             exclude: tuple[str, ...] = (), prefilter: str = "auto", jobs: int = 0, stdin_filename: str | None = None
             ) -> tuple[ScanResult, Config, Path]:
    from scanner.engine import Engine
    from scanner.errors import CexguardError
    from scanner.rules import build_engine
    from scanner.sources.files import annotate_git_status, scan_tree

    streams = [p for p in paths if p == "-" or _named_stream(p)]  # read as they are, not walked
    targets = [Path(p) for p in paths if p not in streams] or ([] if streams else [Path(".")])
    for t in targets:
        if not t.exists() and not t.is_symlink():
            raise CexguardError(f"no such file or folder: {t}")
    root = targets[0] if len(targets) == 1 and targets[0].is_dir() else Path.cwd()
    if len(targets) == 1 and targets[0].is_file():
        root = targets[0].parent
    config = load_config(root, Path(config_path) if config_path else None)
    if max_file_size:
        config = config.with_(max_file_size=parse_size(max_file_size, where="--max-file-size"))
    if exclude:
        config = config.with_(exclude=config.exclude + exclude)
    stats = ScanStats()
    engine: Engine = build_engine(config, prefilter=prefilter)
    jobs, _ = effective_jobs(jobs)
    findings = scan_tree(targets, config, stats, engine, root=root, jobs=jobs) if targets else []
    findings = annotate_git_status(findings, root)
    if "-" in paths and stdin_filename is None:
        stdin_filename = "<stdin>"
    for name in streams:
        findings += _scan_stream(name, stdin_filename if name == "-" else name, config, engine, stats)
    stats.extra["prefilter"] = engine.prefilter.name
    from scanner.config import record_notices

    record_notices(stats, config)
    return ScanResult(findings=findings, stats=stats, rules=engine.rules), config, root


def _named_stream(path: str) -> bool:
    """A path named on the command line that is neither a folder nor a regular file once symlinks
    are followed: /dev/stdin, a FIFO (`<(...)`), a device. It is read, not skipped: the user named it."""
    import stat

    try:
        st = os.stat(path)
    except OSError:
        return False
    return not stat.S_ISDIR(st.st_mode) and (not stat.S_ISREG(st.st_mode) or os.path.islink(path))


def _scan_stream(name: str, label: str | None, config: Config, engine: Any, stats: ScanStats) -> list[Any]:
    """Read standard input (`-`) or a named FIFO/device/symlink up to the size limit, and scan it."""
    from scanner.errors import CexguardError
    from scanner.models import Chunk

    limit = config.max_file_size
    label = label or name
    try:
        fd = sys.stdin.fileno() if name == "-" else os.open(name, os.O_RDONLY)
    except (OSError, ValueError, AttributeError) as e:
        raise CexguardError(f"cannot read {label}: {getattr(e, 'strerror', None) or e}") from None
    parts: list[bytes] = []
    total = 0
    try:
        while total <= limit:
            got = os.read(fd, min(1 << 20, limit + 1 - total))
            if not got:
                break
            parts.append(got)
            total += len(got)
    except OSError as e:
        raise CexguardError(f"cannot read {label}: {e.strerror}") from None
    finally:
        if name != "-":
            os.close(fd)
    if total > limit:
        stats.skip("too_large")
        stats.errors.append(f"{label}: larger than the size limit ({limit} bytes); not scanned")
        return []
    return engine.scan(Chunk(data=b"".join(parts), path=label), stats)  # type: ignore[no-any-return]


MAX_JOBS = 32


def effective_jobs(requested: int) -> tuple[int, str | None]:
    """Worker processes to use, and a notice when the request was lowered: the default is one per
    core up to 4; a request is capped at two per core and MAX_JOBS in all (each is a forked process)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    if requested <= 0:
        return min(cores, 4), None
    cap = max(1, min(MAX_JOBS, 2 * cores))
    if requested > cap:
        return cap, (f"--jobs {requested} lowered to {cap} "
                     f"(at most two per core and {MAX_JOBS} in all; this machine has {cores} core(s))")
    return requested, None


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=False))
@report_options
@click.option("--prefilter", type=click.Choice(["auto", "hyperscan", "regex"]), default="auto", hidden=False,
              help="Stage-one matcher (findings are identical; hyperscan is faster).")
@click.option("-j", "--jobs", type=click.IntRange(min=0), default=0,
              help="Worker processes for folders (default: one per core, at most 4; 1: no workers; "
                   f"at most two per core and {MAX_JOBS} in all).")
@click.option("--stdin-filename", metavar="NAME", default=None,
              help="With `scan -`: the name standard input is reported under (its words count as context).")
def scan(paths: tuple[str, ...], opts: ReportOptions, prefilter: str, jobs: int, stdin_filename: str | None) -> int:
    """Scan files and folders (default: the current folder) for Binance credentials.

    Walks tracked, untracked and git-ignored files alike (that is where .env files live), never
    .git/, never follows symlinks inside folders. `-` reads standard input; a FIFO, device or
    symlink named on the command line (e.g. /dev/stdin) is read too. The config is found in the
    scan root or the nearest folder above it, up to the top of the git work tree.
    Exit 0: nothing found; 1: findings; 2: error; 4: nothing found but files could not be
    read (incomplete: they are named in the report).
    """
    from scanner import filters

    jobs, lowered = effective_jobs(jobs)
    if lowered and not opts.quiet:
        click.echo(f"cexguard: notice: {lowered}", err=True)
    if stdin_filename is not None and "-" not in paths:
        raise click.UsageError("--stdin-filename applies to `-` (standard input)")
    result, config, _root = run_scan(paths, config_path=opts.config_path, max_file_size=opts.max_file_size,
                                     exclude=opts.exclude, prefilter=prefilter, jobs=jobs,
                                     stdin_filename=stdin_filename)
    result.findings = filters.apply(result.findings, config=config, baseline_path=opts.baseline_path,
                                    include_examples=opts.include_examples, min_confidence=opts.min_confidence,
                                    stats=result.stats)
    if result.stats.files_scanned == 0 and not opts.quiet:
        click.echo("cexguard: warning: no file was scanned "
                   f"(skipped: {sum(result.stats.skipped.values())})", err=True)
    return finish(result, opts, config_source=config.source)


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=False))
@click.option("-o", "--output", default=".cexguard-baseline.json", show_default=True,
              type=click.Path(dir_okay=False), help="Baseline file to write.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None)
@click.option("--max-file-size", default=None)
def baseline(paths: tuple[str, ...], output: str, config_path: str | None, max_file_size: str | None) -> Any:
    """Write a baseline of today's findings (fingerprints only, never secrets).

    Later scans with --baseline FILE report only findings not in it.
    """
    from scanner import filters
    from scanner.baseline import write_baseline

    result, config, _root = run_scan(paths, config_path=config_path, max_file_size=max_file_size)
    found = filters.apply(result.findings, config=config, stats=result.stats)
    n = write_baseline(found, output)
    click.echo(f"cexguard: wrote {n} fingerprint(s) to {output}", err=True)
    return ExitCode.OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(scan())
