"""The one error type the CLI catches: a clear one-line message, exit code 2."""
from __future__ import annotations


class CexguardError(Exception):
    """A user-facing error. Its message is one line and never contains a secret."""

    exit_code: int = 2  # ExitCode.ERROR (scanner.status is not imported: enum costs the pre-commit hook ~5 ms)


class OutputError(CexguardError):
    """The report could not be written to standard output (closed, full disk, broken pipe)."""


def output_error(e: OSError) -> str:
    """The one line said when standard output cannot be written."""
    why = (e.strerror or type(e).__name__).lower()
    return f"cannot write to standard output: {why}; nothing was reported (use -o FILE?)"
