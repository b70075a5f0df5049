"""Options and the ending shared by the commands that report findings (scan, staged, history).

The ending itself (finish, write_out, summary_line) lives in scanner/reporting.py, without click,
so the pre-commit hook's fast path can use it; it is re-exported here. The shared options reach a
command as one frozen `opts: ReportOptions` parameter.
"""
from __future__ import annotations

import functools
from typing import Any
from collections.abc import Callable

import click

from scanner.reporting import REPORT_OPTION_DEFAULTS, COLORS, FORMATS, ReportOptions, finish, summary_line, write_out

__all__ = ["FORMATS", "ReportOptions", "Seconds", "convention_options", "finish", "report_options", "summary_line",
           "write_out"]


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
    """--format, -o, --show-secrets, --baseline, --config, --include-examples, --max-file-size,
    --min-confidence, --quiet, --verify, --api-url and the conventions (convention_options), given
    to the command as one `opts: ReportOptions` keyword argument."""

    @functools.wraps(fn)
    def command(*args: Any, **kwargs: Any) -> Any:
        given = {name: kwargs.pop(name) for name in REPORT_OPTION_DEFAULTS if name in kwargs}
        return fn(*args, opts=ReportOptions(**given), **kwargs)

    opts = [
        click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True,
                     help="Output format (jsonl: one finding per line; html: a self-contained report for a browser)."),
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
        click.option("--verify", "verify", is_flag=True,
                     help="Verify found key/secret pairs against the Binance API (network)."),
        click.option("--api-url", default=None, envvar="CEXGUARD_API_URL",
                     help="Binance API base URL for --verify (default production)."),
    ]
    for opt in reversed(opts):
        command = opt(command)
    return convention_options(command)


def convention_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--color, --exit-zero, --exit-code, -v/--verbose, --exclude (fields of ReportOptions)."""
    opts = [
        click.option("--color", type=click.Choice(COLORS), default="auto",
                     help="Colour in the text report: auto (a terminal, unless NO_COLOR is set), always, never."),
        click.option("--exit-zero", is_flag=True,
                     help="Exit 0 even when findings are reported (errors still exit 2)."),
        click.option("--exit-code", type=click.IntRange(0, 255), default=1, metavar="N",
                     help="Exit code when findings are reported (default 1)."),
        click.option("-v", "--verbose", is_flag=True,
                     help="Say on stderr what was read: config, prefilter, counts by reason, excluded paths, time."),
        click.option("--exclude", "exclude", multiple=True, metavar="GLOB",
                     help="Skip paths matching GLOB (relative to the scan root; repeatable; counted and listed)."),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn
