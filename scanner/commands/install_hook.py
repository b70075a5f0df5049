"""`cexguard install-hook`: the git hook, for teams without the pre-commit framework.

The script is a resource file (scanner/hook-tmpl), rendered with the installing Python and the command.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from scanner.errors import CexguardError
from scanner.safetext import safe
from scanner.status import ExitCode

if TYPE_CHECKING:
    from scanner.sources.git import Repo


MARKER = "# cexguard-hook: installed by `cexguard install-hook`"
HOOK_COMMANDS = {"pre-commit": "staged", "pre-push": 'history --pre-push --remote "$1"'}
def hook_script(hook_type: str) -> str:
    """The hook for `hook_type`, rendered from the resource file scanner/hook-tmpl."""
    from scanner.resources import hook_template

    sub = HOOK_COMMANDS[hook_type]
    py = sys.executable.replace("'", "'\\''")
    lines = [line for line in hook_template().splitlines(keepends=True) if not line.startswith("##")]
    return "".join(lines).replace("@COMMAND@", sub).replace("@PYTHON@", py)


def hooks_dir(repo: Repo) -> Path:
    """Where git looks for hooks: core.hooksPath if set (relative to the work tree), else .git/hooks."""
    value = (repo.config_value("core.hooksPath") or "").strip()
    if value:
        path = Path(os.path.expanduser(value))
        if not path.is_absolute():
            path = (repo.root or repo.git_dir) / path
        return path
    return repo.common_dir / "hooks"


@click.command("install-hook")
@click.argument("repo_path", metavar="[REPO]", required=False, type=click.Path(file_okay=False))
@click.option("--hook-type", type=click.Choice(sorted(HOOK_COMMANDS)), default="pre-commit", show_default=True,
              help="pre-commit: block commits that add secrets; pre-push: check the commits being pushed.")
@click.option("--force", is_flag=True, help="Replace an existing hook that cexguard did not write (kept as .bak).")
@click.option("--uninstall", is_flag=True, help="Remove the hook cexguard installed.")
def install_hook(repo_path: str | None, hook_type: str, force: bool, uninstall: bool) -> int:
    """Install the git hook, for teams without the pre-commit framework.

    Writes to core.hooksPath when it is set, else .git/hooks. Refuses to
    overwrite a hook it did not write unless --force.
    """
    from scanner.sources.git import open_repo

    repo = open_repo(repo_path)
    directory = hooks_dir(repo)
    target = directory / hook_type
    existing = None
    if target.is_file() or target.is_symlink():
        try:
            existing = target.read_text(encoding="utf-8", errors="replace")
        except OSError as e:
            raise CexguardError(f"cannot read {target}: {e.strerror}") from None
    ours = existing is not None and MARKER in existing
    if uninstall:
        if existing is None:
            click.echo(safe(f"cexguard: no {hook_type} hook at {target}"), err=True)
            return ExitCode.OK
        if not ours:
            raise CexguardError(f"{target} was not installed by cexguard; not removing it")
        target.unlink()
        click.echo(safe(f"cexguard: removed {target}"), err=True)
        return ExitCode.OK
    if existing is not None and not ours:
        if not force:
            raise CexguardError(f"a {hook_type} hook already exists at {target} (not written by cexguard); "
                                "use --force to replace it (it is kept as .bak), or call `cexguard staged` from it")
        backup = target.with_name(target.name + ".bak")
        os.replace(target, backup)
        click.echo(safe(f"cexguard: kept the previous hook as {backup}"), err=True)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CexguardError(f"cannot write {target}: {e.strerror}") from None
    from scanner.atomic import write_atomic

    write_atomic(target, hook_script(hook_type), what="hook", mode=0o755)
    click.echo(safe(f"cexguard: installed the {hook_type} hook at {target}"), err=True)
    return ExitCode.OK
