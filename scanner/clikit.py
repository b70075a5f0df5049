"""Options and the ending shared by the commands that report findings (scan, staged, history).

The ending itself (finish, write_out, summary_line) lives in scanner/reporting.py, without click,
so the pre-commit hook's fast path can use it; it is re-exported here.
"""
from __future__ import annotations

from typing import Any
from collections.abc import Callable

import click

from scanner.reporting import COLORS, FORMATS, SETTINGS, finish, summary_line, write_out

__all__ = ["FORMATS", "Seconds", "convention_options", "finish", "report_options", "summary_line", "write_out"]


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
        click.option("--verify", "do_verify", is_flag=True,
                     help="Verify found key/secret pairs against the Binance API (network)."),
        click.option("--api-url", default=None, envvar="CEXGUARD_API_URL",
                     help="Binance API base URL for --verify (default production)."),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return convention_options(fn)


def _setting(name: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def store(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        if value is not None and value != ():
            setattr(SETTINGS, name, tuple(value) if isinstance(value, (list, tuple)) else value)
    return store


def convention_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """--color, --exit-zero, --exit-code, -v/--verbose, --exclude: stored in reporting.SETTINGS
    (not passed to the command), so every reporting command gets them without a new parameter."""
    opts = [
        click.option("--color", type=click.Choice(COLORS), default=None, expose_value=False,
                     callback=_setting("color"),
                     help="Colour in the text report: auto (a terminal, unless NO_COLOR is set), always, never."),
        click.option("--exit-zero", is_flag=True, default=None, expose_value=False, callback=_setting("exit_zero"),
                     help="Exit 0 even when findings are reported (errors still exit 2)."),
        click.option("--exit-code", type=click.IntRange(0, 255), default=None, metavar="N", expose_value=False,
                     callback=_setting("exit_code"), help="Exit code when findings are reported (default 1)."),
        click.option("-v", "--verbose", is_flag=True, default=None, expose_value=False, callback=_setting("verbose"),
                     help="Say on stderr what was read: config, prefilter, counts by reason, excluded paths, time."),
        click.option("--exclude", "exclude", multiple=True, metavar="GLOB", expose_value=False,
                     callback=_setting("exclude"),
                     help="Skip paths matching GLOB (relative to the scan root; repeatable; counted and listed)."),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn
