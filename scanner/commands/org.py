"""`cexguard org`: audit an organisation's repositories on Dask, resumably, into one report."""
from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import click

from scanner.clikit import ReportOptions, Seconds, report_options, write_out
from scanner.errors import CexguardError
from scanner.safetext import safe

if TYPE_CHECKING:
    from scanner.org.repos import RepoSpec
    from scanner.org.state import Outcome

DEFAULT_STATE_DIR = ".cexguard-org"


class OrgProgress:
    """repositories done/total, blobs and bytes per second across the cluster, ETA, failures.
    On a terminal one line redrawn every second; otherwise a line every `interval` seconds."""

    def __init__(self, *, enabled: bool, stream: TextIO | None = None, interval: float = 10.0) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.tty = enabled and self.stream.isatty() and os.environ.get("TERM") != "dumb"
        self.interval = interval
        self.total = self.done = self.failed = self.blobs = self.nbytes = 0
        self.start = time.monotonic()
        self.last = 0.0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    def begin(self, todo: int, skipped: int) -> None:
        self.total = todo
        self.start = time.monotonic()
        if not self.enabled:
            return
        if skipped:
            self.say(f"cexguard: org: resuming an interrupted run: {skipped} repositor(ies) already audited")
        if self.tty:
            self.thread = threading.Thread(target=self._tick, daemon=True)
            self.thread.start()

    def line(self) -> str:
        from scanner.sources.progress import human_bytes, human_time

        el = max(time.monotonic() - self.start, 1e-6)
        parts = [f"{self.done}/{self.total} repositories", f"{self.blobs:,} blobs", human_bytes(self.nbytes),
                 f"{self.blobs / el:,.0f} blobs/s", f"{human_bytes(self.nbytes / el)}/s"]
        if 0 < self.done < self.total:
            parts.append("ETA " + human_time(el / self.done * (self.total - self.done)))
        parts.append(f"{self.failed} failed")
        return "cexguard: org: " + ", ".join(parts)

    def outcome(self, spec: RepoSpec, o: Outcome) -> None:
        with self.lock:
            self.done += 1
            self.blobs += o.blobs
            self.nbytes += o.nbytes
            if o.error:
                self.failed += 1
                self.say(f"cexguard: org: {spec.name}: {o.error}")
            if not self.tty and self.enabled and time.monotonic() - self.last >= self.interval:
                self.last = time.monotonic()
                self.say(self.line())

    def say(self, text: str) -> None:
        if self.enabled:
            self.stream.write(("\r\x1b[K" if self.tty else "") + safe(text) + "\n")
            self.stream.flush()

    def _tick(self) -> None:
        while not self.stop.wait(1.0):
            with self.lock:
                self.stream.write("\r" + self.line() + "\x1b[K")
                self.stream.flush()

    def close(self) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join()
            self.stream.write("\r\x1b[K")
        if self.enabled:
            self.say(self.line())


def collect_specs(repos_file: str | None, dirs: tuple[str, ...], github_org: str | None, github_api: str,
                  gitlab_group: str | None, gitlab_api: str, say: Any) -> list[RepoSpec]:
    from scanner.org import repos as r

    specs: list[RepoSpec] = []
    if repos_file:
        specs += r.read_repos_file(repos_file)
    for d in dirs:
        specs += r.find_repositories(d)
    if github_org:
        from scanner.org.hosts import github_org as gh

        specs += gh(github_org, api_url=github_api, say=say)
    if gitlab_group:
        from scanner.org.hosts import gitlab_group as gl

        specs += gl(gitlab_group, api_url=gitlab_api, say=say)
    if not (repos_file or dirs or github_org or gitlab_group):
        raise CexguardError("name the repositories: a REPOS_FILE, --dir FOLDER, --github-org or --gitlab-group")
    specs = r.unique(specs)
    if not specs:
        raise CexguardError("no repositories to audit (the inputs list none)")
    return specs


@click.command()
@click.argument("repos_file", required=False, type=click.Path(dir_okay=False), metavar="[REPOS_FILE]")
@click.option("--dir", "dirs", multiple=True, type=click.Path(file_okay=False), metavar="FOLDER",
              help="Audit every git repository under FOLDER (repeatable).")
@click.option("--github-org", default=None, metavar="NAME", help="List NAME's repositories through the GitHub "
              "API (token: GITHUB_TOKEN or GH_TOKEN).")
@click.option("--github-api", default="https://api.github.com", envvar="CEXGUARD_GITHUB_API", show_default=True,
              help="GitHub API base URL (GitHub Enterprise: https://HOST/api/v3).")
@click.option("--gitlab-group", default=None, metavar="NAME", help="List NAME's projects (subgroups included) "
              "through the GitLab API (token: GITLAB_TOKEN).")
@click.option("--gitlab-api", default="https://gitlab.com", envvar="CEXGUARD_GITLAB_API", show_default=True,
              help="GitLab base URL.")
@click.option("--workers", type=click.IntRange(1, 256), default=None,
              help="Local Dask worker processes (default: one per core).")
@click.option("--scheduler", default=None, metavar="tcp://HOST:PORT",
              help="Use this running Dask scheduler instead of a local cluster.")
@click.option("--state-dir", default=DEFAULT_STATE_DIR, show_default=True, type=click.Path(file_okay=False),
              help="Where the resumable state (SQLite) and, by default, the mirrors live.")
@click.option("--mirror-dir", default=None, type=click.Path(file_okay=False),
              help="Mirror cache for URL repositories (default STATE_DIR/mirrors; on a cluster: a path every "
                   "worker can write, local or shared).")
@click.option("--timeout", type=Seconds(1, 7 * 86400), default=3600.0, show_default=True,
              help="Per-repository limit (mirroring and audit), seconds.")
@click.option("--retries", type=click.IntRange(0, 10), default=2, show_default=True,
              help="Retries of a repository whose mirroring failed (a lost worker is always rescheduled).")
@click.option("--full", is_flag=True, help="Audit every repository in full again, ignoring the recorded refs.")
@report_options
def org(repos_file: str | None, dirs: tuple[str, ...], github_org: str | None, github_api: str,
        gitlab_group: str | None, gitlab_api: str, workers: int | None, scheduler: str | None, state_dir: str,
        mirror_dir: str | None, timeout: float, retries: int, full: bool, opts: ReportOptions) -> int:
    """Audit many repositories (an organisation) on Dask: one report, resumable.

    \b
    REPOS_FILE lists repositories, one a line: local paths (work trees or
    bare; audited in place, unreachable objects included) or clone URLs
    (https://, ssh://, file://, git@host:path; mirrored into the mirror
    cache, then fetched: a second run transfers only what is new).
    Each repository gets the audit of `cexguard history` on a Dask worker:
    in full the first time, then only the commits its refs gained since
    the last completed audit (refs unchanged: nothing is read). The state
    (SQLite in --state-dir) survives Ctrl-C and killed workers or
    clients: run the same command again to continue. The report merges
    every repository: one incident per secret, with all its locations.
    Exit 0: nothing found; 1: incidents; 2: error; 4: nothing found but a
    repository could not be audited (the report names it): never a silent clean.
    """
    from scanner.config import load_config, parse_size
    from scanner.org.state import State
    from scanner.org.tasks import Job, run_org

    progress = OrgProgress(enabled=not opts.quiet)
    specs = collect_specs(repos_file, dirs, github_org, github_api, gitlab_group, gitlab_api, progress.say)
    config = load_config(Path.cwd(), Path(opts.config_path) if opts.config_path else None,
                         committed=lambda _name: None)
    if opts.max_file_size:
        config = config.with_(max_file_size=parse_size(opts.max_file_size, where="--max-file-size"))
    state = State(state_dir)
    try:
        mirrors = os.path.abspath(mirror_dir or os.path.join(state_dir, "mirrors"))
        job = Job(config=config, mirror_dir=mirrors, timeout=timeout, full=full)
        try:
            info = run_org(specs, state, job, workers=workers, scheduler=scheduler, retries=retries,
                           on_outcome=progress.outcome, on_start=progress.begin)
        finally:
            progress.close()
        report = build_report(specs, state, info.run, config=config, baseline_path=opts.baseline_path,
                              include_examples=opts.include_examples, min_confidence=opts.min_confidence,
                              resumed=info.resumed, exclude=opts.exclude)
    finally:
        state.close()
    if opts.verify and report.findings:
        from scanner.org.report import verify_once

        report.findings = verify_once(report.findings, api_url=opts.api_url)
    from scanner.org.report import render, summary_line, table

    fmt = opts.fmt
    from scanner.reporting import use_color

    text = render(report, fmt, show_secrets=opts.show_secrets, color=use_color(opts))
    if opts.output:
        from scanner.atomic import write_atomic

        write_atomic(opts.output, text, what="report")
    else:
        write_out(text)
    n = len({f.fingerprint for f in report.findings})
    if not opts.quiet and (fmt != "text" or opts.output):
        if fmt != "text":
            click.echo(table(report.repositories), err=True, nl=False)
        click.echo(summary_line(report, n), err=True)
    if opts.verbose and not opts.quiet:  # (-v: what was read, counts by reason, excluded paths, time)
        from scanner.org.report import as_scan_result
        from scanner.reporting import verbose_lines

        for line in verbose_lines(as_scan_result(report), opts, config.source):
            click.echo(line, err=True)
    from scanner.status import ExitCode

    # the conventions every command follows (reporting.exit_code): --exit-code N, --exit-zero
    if n:
        return ExitCode.OK if opts.exit_zero else opts.exit_code
    return ExitCode.INCOMPLETE if report.errors and not opts.exit_zero else ExitCode.OK


def build_report(specs: list[RepoSpec], state: Any, run: int, *, config: Any, baseline_path: str | None,
                 include_examples: bool, min_confidence: str, resumed: bool, exclude: tuple[str, ...] = ()) -> Any:
    from scanner import filters
    from scanner.models import GitProvenance, ScanStats
    from scanner.org.report import OrgReport, repository_of

    names = {s.id: s for s in specs}
    rows, errors = [], []
    counts = {"audited": 0, "unchanged": 0, "failed": 0}
    stats = ScanStats()
    for s in specs:
        row = {"name": s.name, "source": s.source, "kind": s.kind, "fork": s.fork, **state.summary(s.id, run)}
        rows.append(row)
        if row["error"]:
            counts["failed"] += 1
            errors.append({"repository": s.name, "message": row["error"]})
        elif row["mode"] == "unchanged":
            counts["unchanged"] += 1
        elif row["mode"] in ("full", "incremental"):
            counts["audited"] += 1
        stats.files_scanned += row["blobs"]
        stats.bytes_scanned += row["bytes"]
    found = [f.replace(provenance=(f.git or GitProvenance()).replace(repository=names[rid].name))
             for rid, f in state.findings(names)]
    found = filters.drop_excluded(found, exclude, stats)
    found = filters.apply(found, config=config, baseline_path=baseline_path, include_examples=include_examples,
                          min_confidence=min_confidence, stats=stats)
    with_findings = {repository_of(f) for f in found}
    by_repo: dict[str, int] = {}
    for f in found:
        by_repo[repository_of(f)] = by_repo.get(repository_of(f), 0) + 1
    for row in rows:
        row["findings"] = by_repo.get(row["name"], 0)
    extra = {"repositories": len(specs), **counts, "repositories_with_findings": len(with_findings), "run": run,
             "resumed": resumed}
    from scanner.rules import load_rules

    return OrgReport(findings=found, repositories=rows, errors=errors, stats=stats, extra=extra,
                     rules=tuple(load_rules(config.rules_dirs)))
