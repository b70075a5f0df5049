"""`cexguard staged`: what the next commit adds (the pre-commit hook).

The check itself is scanner/hook.py's `run_staged`, which the hook's fast path also runs without
click; this is its click command (--help, --verify, and options the fast path's parser leaves to click).
"""
from __future__ import annotations

import click

from scanner.clikit import ReportOptions, report_options


@click.command()
@click.argument("args", nargs=-1, metavar="[REPO | FILE...]")
@report_options
def staged(args: tuple[str, ...], opts: ReportOptions) -> int:
    """Scan what the next commit adds (the index, not the working tree).

    \b
    Blocks (exit 1) exactly when the commit adds a secret: a secret already
    in the file's committed version is not reported again; unstaged edits,
    untracked files and deleted files are not part of the commit.
    With FILE names (pre-commit passes them): when every one is staged, only
    those staged files are checked as above; otherwise (pre-commit run
    --all-files / --files) the files are scanned in full from the working tree.
    Exit 0: nothing added; 1: secrets added; 2: error; 4: a staged object
    could not be read (incomplete).
    """
    from scanner.hook import run_staged  # (also the hook's fast path, which runs without click)

    return run_staged(args, opts)
