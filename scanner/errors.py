"""The one error type the CLI catches: a clear one-line message, exit code 2."""
from __future__ import annotations


class CexguardError(Exception):
    """A user-facing error. Its message is one line and never contains a secret."""

    exit_code = 2
