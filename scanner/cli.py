"""The `cexguard` command. Thin: each command lives in its own module and is imported only when run,
so the pre-commit hook pays for nothing it does not use."""
from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from scanner import __version__
from scanner.errors import CexguardError

# name -> "module:attribute"; an explicit registry, no reflection
COMMANDS: dict[str, str] = {
    "scan": "scanner.commands.scan:scan",
    "staged": "scanner.commands.git:staged",
    "history": "scanner.commands.git:history",
    "install-hook": "scanner.commands.git:install_hook",
    "baseline": "scanner.commands.scan:baseline",
    "rules": "scanner.commands.rules:rules",
    "verify": "scanner.commands.remote:verify",
    "revoke": "scanner.commands.remote:revoke",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        mod, attr = target.split(":")
        try:
            return getattr(importlib.import_module(mod), attr)  # type: ignore[no-any-return]
        except (ImportError, AttributeError):
            return None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cexguard")
def cli() -> None:
    """Find leaked Binance API credentials, verify them and revoke them.

    \b
    Exit codes:
      0  no findings; verify: key invalid; revoke: revoked, already revoked or dry run
      1  findings reported (scan, staged, history); verify: key live;
         revoke: failed or not revocable through the API
      2  usage or runtime error (one line on stderr, never a traceback)
      3  verify: status unknown (WAF, rate limit, 5xx, timeout)
      4  scan incomplete (scan, staged, history): nothing found, but objects
         or files could not be read (missing or corrupt git objects,
         permission denied); the report names them. With findings the
         exit code is 1 and the report still says it is incomplete.
    """


def main(argv: list[str] | None = None) -> Any:
    try:
        rc = cli.main(args=argv, prog_name="cexguard", standalone_mode=False)
    except CexguardError as e:
        click.echo(f"cexguard: error: {e}", err=True)
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        click.echo("cexguard: aborted", err=True)
        sys.exit(2)
    except click.ClickException as e:
        e.show()
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("cexguard: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(2)
    sys.exit(rc if isinstance(rc, int) else 0)
