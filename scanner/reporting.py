"""How a reporting command ends (verify if asked, render, write, exit code), without click.

`cexguard staged` runs this from the pre-commit hook's fast path (scanner/hook.py), where importing
click would cost more than the check itself; the click commands use it through scanner/clikit.py.

The conventions shared by every reporting command live in SETTINGS, set once per run from the
command line (click options in clikit, or hook.parse_staged_args): --color, --exit-zero,
--exit-code, -v/--verbose, --exclude.
"""
from __future__ import annotations

import os
import sys
import time
from scanner.errors import OutputError, output_error
from scanner.status import ExitCode

TYPE_CHECKING = False  # (not `typing.TYPE_CHECKING`: importing typing costs the hook ~2 ms)
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    from scanner.models import ScanResult

FORMATS = ("text", "json", "jsonl", "sarif", "github", "gitlab", "junit", "html")
COLORS = ("auto", "always", "never")
CONFIDENCES = ("low", "medium", "high")


class Settings:
    """This run's output conventions (reset by cli.main for every run)."""

    def __init__(self) -> None:
        self.color = "auto"  # auto | always | never
        self.exit_zero = False  # --exit-zero: report, never fail on findings
        self.exit_code = 1  # --exit-code N: the code for "findings reported"
        self.verbose = False
        self.exclude: tuple[str, ...] = ()  # --exclude GLOB (the user's own: trusted)
        self.started = time.monotonic()
        self.config_source: str | None = None  # for -v


SETTINGS = Settings()


def reset() -> None:
    SETTINGS.__init__()  # type: ignore[misc]  # in place: other modules hold this object


def say(line: str) -> None:
    """One line on stderr, escaped (it may hold a file name or a server's words); never raises."""
    from scanner.safetext import safe

    try:
        sys.stderr.write(safe(line) + "\n")
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass


def use_color(fmt: str, output: str | None, stream: Any = None) -> bool:
    """--color always: yes; never: no; auto: text to a terminal, unless NO_COLOR is set to a
    non-empty value (https://no-color.org: the command line wins over the environment)."""
    if fmt != "text" or SETTINGS.color == "never":
        return False
    if SETTINGS.color == "always":
        return True
    if output is not None or os.environ.get("NO_COLOR", "") != "":
        return False
    stream = stream if stream is not None else sys.stdout
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def findings_exit_code(n: int) -> int:
    if not n or SETTINGS.exit_zero:
        return ExitCode.OK
    return SETTINGS.exit_code


def finish(result: ScanResult, *, fmt: str, output: str | None, show_secrets: bool, quiet: bool,
           do_verify: bool = False, api_url: str | None = None, root: Path | None = None) -> int:
    """Verify if asked, render, write, print the summary line; return the exit code (0 clean,
    1 findings, or what --exit-zero / --exit-code say)."""
    if do_verify and result.findings:
        from scanner.remote.verify import verify_findings  # only when asked: the network layer

        result.findings[:] = verify_findings(result.findings, api_url=api_url)
        result.stats.extra["verified"] = True
    from scanner.report import render

    text = render(result, fmt, show_secrets=show_secrets, color=use_color(fmt, output))
    if output:
        from scanner.atomic import write_atomic

        write_atomic(output, text, what="report")
    else:
        write_out(text)
    if not quiet and (fmt != "text" or output):
        say(summary_line(result))
    if SETTINGS.verbose and not quiet:
        for line in verbose_lines(result):
            say(line)
    return exit_code(result)


def exit_code(result: ScanResult) -> int:
    """Findings: 1 (or --exit-code N; 0 with --exit-zero), even if the scan is also incomplete (the
    report says so); nothing found but something could not be read: 4, never a silent clean."""
    if result.findings:
        return findings_exit_code(len(result.findings))
    return ExitCode.INCOMPLETE if result.stats.incomplete and not SETTINGS.exit_zero else ExitCode.OK


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


def verbose_lines(result: ScanResult) -> list[str]:
    """-v: what was read and how, on stderr (never a secret)."""
    s = result.stats
    x = s.extra
    lines = [f"cexguard: config: {SETTINGS.config_source or 'built-in defaults'}"]
    if x.get("prefilter"):
        lines.append(f"cexguard: prefilter: {x['prefilter']}")
    if x.get("mode"):
        lines.append(f"cexguard: mode: {x['mode']}")
    lines.append(f"cexguard: scanned {s.files_scanned} file(s), {s.bytes_scanned} byte(s) in "
                 f"{time.monotonic() - SETTINGS.started:.2f} s")
    for k, v in sorted(s.skipped.items()):
        lines.append(f"cexguard: skipped {v}: {k.replace('_', ' ')}")
    for k, v in sorted(s.suppressed.items()):
        lines.append(f"cexguard: suppressed {v}: {k.replace('_', ' ')}")
    for p in (x.get("excluded_paths") or [])[:50]:
        lines.append(f"cexguard: excluded: {p}")
    return lines
