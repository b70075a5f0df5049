"""Options and the ending shared by the commands that report findings (scan, staged, history)."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any
from collections.abc import Callable

import click

from scanner.errors import OutputError, output_error
from scanner.models import ScanResult

# exit codes of scan, staged and history (verify and revoke document theirs in cli.py)
EXIT_CLEAN = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2  # CexguardError: one line on stderr
EXIT_INCOMPLETE = 4  # no findings, but objects or files could not be read: not a clean result

FORMATS = ("text", "json", "sarif", "github", "gitlab", "junit")


class Seconds(click.ParamType):
    """A finite number of seconds within [low, high]: nan, inf, 0 and negatives are usage errors."""

    name = "seconds"

    def __init__(self, low: float, high: float) -> None:
        self.low, self.high = low, high

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        import math

        try:
            v = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not math.isfinite(v) or not self.low <= v <= self.high:
            self.fail(f"{value!r}: expected a number of seconds from {self.low:g} to {self.high:g}", param, ctx)
        return v


def report_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--format, -o, --show-secrets, --baseline, --config, --include-examples, --quiet."""
    opts = [
        click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
                     help="Output format."),
        click.option("-o", "--output", type=click.Path(dir_okay=False, writable=True), default=None,
                     help="Write the report to FILE instead of standard output."),
        click.option("--show-secrets", is_flag=True, help="Print raw secret values (redacted by default)."),
        click.option("--baseline", "baseline_path", type=click.Path(dir_okay=False), default=None,
                     help="Report only findings not in this baseline file."),
        click.option("--config", "config_path", type=click.Path(dir_okay=False), default=None,
                     help="Config file (default: .cexguard.toml or [tool.cexguard] in pyproject.toml)."),
        click.option("--include-examples", is_flag=True,
                     help="Also report Binance's published documentation example keys (marked as examples)."),
        click.option("--max-file-size", default=None, help="Skip files larger than this (e.g. 10MB)."),
        click.option("--min-confidence", type=click.Choice(["low", "medium", "high"]), default="low",
                     show_default=True, help="Drop findings below this confidence."),
        click.option("-q", "--quiet", is_flag=True, help="No progress or summary on stderr."),
        click.option("--verify", "do_verify", is_flag=True,
                     help="Verify found key/secret pairs against the Binance API (network)."),
        click.option("--api-url", default=None, envvar="CEXGUARD_API_URL",
                     help="Binance API base URL for --verify (default production)."),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def finish(result: ScanResult, *, fmt: str, output: str | None, show_secrets: bool, quiet: bool,
           do_verify: bool = False, api_url: str | None = None, root: Path | None = None) -> int:
    """Verify if asked, render, write, print the summary line; return the exit code (exit_code)."""
    if do_verify and result.findings:
        from scanner.remote.verify import verify_findings  # only when asked: the network layer

        result.findings[:] = verify_findings(result.findings, api_url=api_url)
    from scanner.report import render

    color = output is None and fmt == "text" and sys.stdout.isatty() and "NO_COLOR" not in os.environ
    text = render(result, fmt, show_secrets=show_secrets, color=color)
    if output:
        from scanner.atomic import write_atomic

        write_atomic(output, text, what="report")
    else:
        write_out(text)
    if not quiet and (fmt != "text" or output):
        click.echo(summary_line(result), err=True)
    return exit_code(result)


def exit_code(result: ScanResult) -> int:
    """1 findings (even if the scan is also incomplete: the report says so), 4 nothing found but
    something could not be read (never a silent clean), 0 clean."""
    if result.findings:
        return EXIT_FINDINGS
    return EXIT_INCOMPLETE if result.stats.incomplete else EXIT_CLEAN


def write_out(text: str) -> None:
    """Write (and flush) to standard output; a closed stdout, full disk or broken pipe is an
    OutputError (one line, exit 2), never a traceback and never a silent success."""
    try:
        click.echo(text, nl=not text.endswith("\n"))
    except OSError as e:
        raise OutputError(output_error(e)) from None


def summary_line(result: ScanResult) -> str:
    s = result.stats
    skipped = sum(s.skipped.values())
    parts = [f"{len(result.findings)} finding(s)", f"{s.files_scanned} file(s) scanned"]
    if skipped:
        parts.append(f"{skipped} skipped (" + ", ".join(f"{k}: {v}" for k, v in sorted(s.skipped.items())) + ")")
    n = len(s.extra.get("config_notices", ()))
    if n:
        parts.append(f"{n} config notice(s) (in the report)")
    if s.incomplete:
        parts.append(s.incomplete_note())
    return "cexguard: " + "; ".join(parts)

