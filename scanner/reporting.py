"""How a reporting command ends (verify if asked, render, write, exit code), without click.

`cexguard staged` runs this from the pre-commit hook's fast path (scanner/hook.py), where importing
click would cost more than the check itself; the click commands use it through scanner/clikit.py.

The options shared by every reporting command (--format, -o, --show-secrets, ..., --color,
--exit-zero, --exit-code, -v, --exclude) are one frozen ReportOptions, built once from the command
line (click options in clikit, or hook.parse_staged_args) and passed down: no module state.
"""
from __future__ import annotations

import os
import sys
import time
from scanner.errors import OutputError, output_error
from scanner.models import _Frozen
from scanner.status import ExitCode

TYPE_CHECKING = False  # (not `typing.TYPE_CHECKING`: importing typing costs the hook ~2 ms)
if TYPE_CHECKING:
    from typing import Any

    from scanner.models import ScanResult

FORMATS = ("text", "json", "jsonl", "sarif", "github", "gitlab", "junit", "html")
COLORS = ("auto", "always", "never")
CONFIDENCES = ("low", "medium", "high")


REPORT_OPTION_DEFAULTS: dict[str, Any] = {
    "fmt": "text", "output": None, "show_secrets": False, "baseline_path": None, "config_path": None,
    "include_examples": False, "max_file_size": None, "min_confidence": "low", "quiet": False, "verify": False,
    "api_url": None, "color": "auto", "exit_zero": False, "exit_code": 1, "verbose": False, "exclude": (),
}


class ReportOptions(_Frozen):
    """The options every reporting command shares (scan, staged, history, org), as given on the
    command line; built once per run and passed to whatever needs them."""

    _FIELDS = (*REPORT_OPTION_DEFAULTS, "started")
    _KEY = _FIELDS
    fmt: str  # --format: one of FORMATS
    output: str | None  # -o FILE (None: standard output)
    show_secrets: bool
    baseline_path: str | None
    config_path: str | None
    include_examples: bool
    max_file_size: str | None  # as given ("10MB"); parsed with the config
    min_confidence: str
    quiet: bool
    verify: bool  # --verify
    api_url: str | None
    color: str  # auto | always | never
    exit_zero: bool  # --exit-zero: report, never fail on findings
    exit_code: int  # --exit-code N: the code for "findings reported"
    verbose: bool
    exclude: tuple[str, ...]  # --exclude GLOB (the user's own: trusted)
    started: float  # time.monotonic() when the run began (for -v)

    def __init__(self, **options: Any) -> None:
        unknown = set(options) - set(self._FIELDS)
        if unknown:
            raise TypeError(f"unknown option(s): {', '.join(sorted(unknown))}")
        values = {**REPORT_OPTION_DEFAULTS, **options}
        values["exclude"] = tuple(values["exclude"])
        values["exit_code"] = int(values["exit_code"])
        values.setdefault("started", time.monotonic())
        self._set(**values)


def say(line: str) -> None:
    """One line on stderr, escaped (it may hold a file name or a server's words); never raises."""
    from scanner.safetext import safe

    try:
        sys.stderr.write(safe(line) + "\n")
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass


def use_color(opts: ReportOptions, stream: Any = None) -> bool:
    """--color always: yes; never: no; auto: text to a terminal, unless NO_COLOR is set to a
    non-empty value (https://no-color.org: the command line wins over the environment)."""
    if opts.fmt != "text" or opts.color == "never":
        return False
    if opts.color == "always":
        return True
    if opts.output is not None or os.environ.get("NO_COLOR", "") != "":
        return False
    stream = stream if stream is not None else sys.stdout
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def finish(result: ScanResult, opts: ReportOptions, *, config_source: str | None = None) -> int:
    """Verify if asked, render, write, print the summary line; return the exit code (0 clean,
    1 findings, or what --exit-zero / --exit-code say). `config_source`: what -v says was read."""
    if opts.verify and result.findings:
        from scanner.remote.verify import verify_findings  # only when asked: the network layer

        result.findings[:] = verify_findings(result.findings, api_url=opts.api_url)
        result.stats.extra["verified"] = True
    from scanner.report import render

    text = render(result, opts.fmt, show_secrets=opts.show_secrets, color=use_color(opts))
    if opts.output:
        from scanner.atomic import write_atomic

        write_atomic(opts.output, text, what="report")
    else:
        write_out(text)
    if not opts.quiet and (opts.fmt != "text" or opts.output):
        say(summary_line(result))
    if opts.verbose and not opts.quiet:
        for line in verbose_lines(result, opts, config_source):
            say(line)
    return exit_code(result, opts)


def exit_code(result: ScanResult, opts: ReportOptions) -> int:
    """Findings: 1 (or --exit-code N; 0 with --exit-zero), even if the scan is also incomplete (the
    report says so); nothing found but something could not be read: 4, never a silent clean."""
    if result.findings:
        return ExitCode.OK if opts.exit_zero else opts.exit_code
    return ExitCode.INCOMPLETE if result.stats.incomplete and not opts.exit_zero else ExitCode.OK


def write_out(text: str) -> None:
    """Write (and flush) to standard output; a closed stdout, full disk or broken pipe is an
    OutputError (one line, exit 2), never a traceback and never a silent success."""
    out = sys.stdout
    try:
        if out is None:
            raise BrokenPipeError(32, "standard output is closed")
        if not text.endswith("\n"):
            text += "\n"
        try:
            out.write(text)
        except UnicodeEncodeError:  # a terminal that cannot show some character: escape it
            out.flush()
            enc = getattr(out, "encoding", None) or "utf-8"
            out.buffer.write(text.encode(enc, "backslashreplace"))
        out.flush()
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


def verbose_lines(result: ScanResult, opts: ReportOptions, config_source: str | None = None) -> list[str]:
    """-v: what was read and how, on stderr (never a secret)."""
    s = result.stats
    x = s.extra
    lines = [f"cexguard: config: {config_source or 'built-in defaults'}"]
    if x.get("prefilter"):
        lines.append(f"cexguard: prefilter: {x['prefilter']}")
    if x.get("mode"):
        lines.append(f"cexguard: mode: {x['mode']}")
    lines.append(f"cexguard: scanned {s.files_scanned} file(s), {s.bytes_scanned} byte(s) in "
                 f"{time.monotonic() - opts.started:.2f} s")
    for k, v in sorted(s.skipped.items()):
        lines.append(f"cexguard: skipped {v}: {k.replace('_', ' ')}")
    for k, v in sorted(s.suppressed.items()):
        lines.append(f"cexguard: suppressed {v}: {k.replace('_', ' ')}")
    for p in (x.get("excluded_paths") or [])[:50]:
        lines.append(f"cexguard: excluded: {p}")
    return lines
