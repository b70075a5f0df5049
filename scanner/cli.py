"""The `cexguard` command. Thin: each command lives in its own module and is imported only when run,
so the pre-commit hook pays for nothing it does not use. `cexguard staged` with the options it
knows runs without click at all (scanner/hook.py); click is imported only for everything else."""
from __future__ import annotations

import errno
import io
import os
import sys
from scanner import __version__
from scanner.errors import CexguardError, OutputError, output_error

try:  # (the C module under `signal`: signal.py builds its enums at import, ~5 ms of the pre-commit hook)
    import _signal as signal  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover
    import signal  # type: ignore[no-redef]

TYPE_CHECKING = False  # (not `typing.TYPE_CHECKING`: importing typing costs the pre-commit hook ~2 ms)
if TYPE_CHECKING:
    from typing import Any

# name -> "module:attribute"; an explicit registry, no reflection
COMMANDS: dict[str, str] = {
    "scan": "scanner.commands.scan:scan",
    "staged": "scanner.commands.staged:staged",
    "history": "scanner.commands.history:history",
    "org": "scanner.commands.org:org",
    "install-hook": "scanner.commands.install_hook:install_hook",
    "baseline": "scanner.commands.scan:baseline",
    "rules": "scanner.commands.rules:rules",
    "verify": "scanner.commands.remote:verify",
    "revoke": "scanner.commands.remote:revoke",
    "activity": "scanner.commands.activity:activity",
    "incident": "scanner.commands.incident:incident",
}


_CLI: list[Any] = []


def _click_cli() -> Any:
    """The click command group, built on first use (click is imported here, not at the top)."""
    if _CLI:
        return _CLI[0]
    import click

    class LazyGroup(click.Group):
        def list_commands(self, ctx: click.Context) -> list[str]:
            return sorted(COMMANDS)

        def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
            target = COMMANDS.get(cmd_name)
            if target is None:
                return None
            mod, attr = target.split(":")
            import importlib

            try:
                return getattr(importlib.import_module(mod), attr)  # type: ignore[no-any-return]
            except (ImportError, AttributeError):
                return None

    @click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
    @click.version_option(__version__, "-V", "--version", prog_name="cexguard")
    def cli() -> None:
        """Find leaked Binance API credentials, verify them and revoke them.

        \b
        Exit codes:
          0    no findings; verify: key deleted or malformed; revoke: revoked, already
               revoked or dry run; activity: nothing after the first exposure
          1    findings reported (scan, staged, history; --exit-code N changes it,
               --exit-zero makes it 0); verify: key live; revoke: failed or not
               revocable through the API; activity: events after the key's first
               exposure; incident: playbook steps left
          2    error: bad usage or input, the report could not be written (closed
               stdout, full disk), or an internal error; one line on stderr, never a
               traceback (CEXGUARD_DEBUG=1 shows it for an internal error)
          3    verify: status unknown (WAF, rate limit, 5xx, timeout, an answer
               whose shape proves nothing)
          4    scan incomplete (scan, staged, history): nothing found, but objects
               or files could not be read (missing or corrupt git objects,
               permission denied); the report names them. With findings the
               exit code is 1 and the report still says it is incomplete.
          5    verify: rejected (-2015: deleted, or live and IP-restricted to other
               addresses) or wrong_secret (-1022): refused, but not proven dead
          130  interrupted (Ctrl-C); 143: terminated (SIGTERM)

        \b
        Shell completion (bash, zsh, fish), e.g. in ~/.bashrc:
          eval "$(_CEXGUARD_COMPLETE=bash_source cexguard)"
        """

    _CLI.append(cli)
    return cli


def __getattr__(name: str) -> Any:  # `scanner.cli.cli`, the click group, for whoever imports it
    if name == "cli":
        return _click_cli()
    raise AttributeError(name)


# ExitCode.ERROR, .INTERRUPTED, .TERMINATED (scanner.status imports enum: not on the hook's path)
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143
DEBUG_ENV = "CEXGUARD_DEBUG"
# errors only writing raises: broken pipe, full disk, quota, file too large
_WRITE_ERRNOS = frozenset({errno.EPIPE, errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


class Terminated(BaseException):
    """SIGTERM arrived: unwind (worker pools are terminated on the way out) and exit 143."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Terminated


def _say(line: str) -> None:
    """One line on stderr, escaped (it may hold a file name or a server's words); never raises."""
    from scanner.reporting import say

    say(line)


class _ClosedStdout(io.RawIOBase):
    """Stands in for a standard output that was closed (`cexguard ... >&-`): writing to it fails
    with an error the CLI reports, instead of the report vanishing while the exit code says 0."""

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        raise BrokenPipeError(errno.EPIPE, "standard output is closed")


def _guard_std_streams() -> None:
    """A closed fd 0/1/2 is reopened on /dev/null, so no file this run opens can take its number
    (and be written to as if it were standard output). A closed stdout then fails on first write."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            try:
                null = os.open(os.devnull, os.O_RDWR)
            except OSError:
                continue
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
            if fd == 1:
                sys.stdout = io.TextIOWrapper(io.BufferedWriter(_ClosedStdout()), encoding="utf-8",
                                              write_through=True)
            elif fd == 2:
                sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8",
                                              errors="backslashreplace", write_through=True)


def _discard_stdout() -> None:
    """After a failed write to stdout, point fd 1 at /dev/null so the interpreter's own final flush
    cannot fail again (it would print 'Exception ignored' and exit 120)."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        sys.stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")


def _flush_stdout() -> str | None:
    """Flush stdout; the reason it failed, or None."""
    try:
        if sys.stdout is not None:
            sys.stdout.flush()
    except OSError as e:
        _discard_stdout()
        return output_error(e)
    return None


def _secretless(text: str) -> str:
    """An exception message cut to one short line with every long token (a key, a PEM line, a
    token) redacted: an internal error must not print a secret it happened to hold."""
    import re

    from scanner.models import redact

    text = " ".join(text.split())
    text = re.sub(r"[A-Za-z0-9+/]{20,}={0,2}", lambda m: redact(m.group()), text)
    return text if len(text) <= 200 else text[:197] + "..."


def _internal_error(e: BaseException) -> int:
    if os.environ.get(DEBUG_ENV, "") not in ("", "0"):
        import traceback

        traceback.print_exception(type(e), e, e.__traceback__, file=sys.stderr)
    msg = _secretless(str(e))
    _say(f"cexguard: internal error: {type(e).__name__}" + (f": {msg}" if msg else "")
         + f" (set {DEBUG_ENV}=1 for the traceback)")
    return EXIT_ERROR


def _invoke(argv: list[str] | None) -> Any:
    """`staged` with options the hook's small parser knows runs without click; the rest through click."""
    args = sys.argv[1:] if argv is None else list(argv)
    if args and args[0] == "staged":
        from scanner.hook import fast_main, parse_staged_args, quick_staged

        rc = quick_staged(args[1:])  # a clean commit, before anything heavy is imported
        if rc is not None:
            return rc
        opts = parse_staged_args(args[1:])
        if opts is not None:
            return fast_main(opts)
    return _click_cli().main(args=args, prog_name="cexguard", standalone_mode=False)


def _run(argv: list[str] | None) -> int:
    try:
        rc = _invoke(argv)
    except OutputError as e:
        _discard_stdout()
        _say(f"cexguard: error: {e}")
        return e.exit_code
    except CexguardError as e:
        _say(f"cexguard: error: {e}")
        return e.exit_code
    except KeyboardInterrupt:
        _say("cexguard: interrupted")
        return EXIT_INTERRUPTED
    except Terminated:
        _say("cexguard: terminated")
        return EXIT_TERMINATED
    except Exception as e:
        click = sys.modules.get("click")
        if click is not None and isinstance(e, click.exceptions.Abort):
            if isinstance(e.__cause__, KeyboardInterrupt):  # click turns Ctrl-C into Abort
                _say("cexguard: interrupted")
                return EXIT_INTERRUPTED
            _say("cexguard: aborted")
            return EXIT_ERROR
        if click is not None and isinstance(e, click.ClickException):
            hint = ""
            ctx = getattr(e, "ctx", None)
            if ctx is not None:
                hint = f" (see '{ctx.command_path} --help')"
            _say(f"cexguard: error: {e.format_message()}{hint}")
            return EXIT_ERROR
        if isinstance(e, OSError) and e.errno in _WRITE_ERRNOS:
            # a write that did not go through reporting.write_out (--help, rules list)
            _discard_stdout()
            _say(f"cexguard: error: {output_error(e)}")
            return EXIT_ERROR
        return _internal_error(e)  # the last line of defence: one line, never a traceback
    return rc if isinstance(rc, int) else 0


def main(argv: list[str] | None = None) -> Any:
    _guard_std_streams()
    previous = None
    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread (embedded use): leave signals alone
        pass
    try:
        rc = _run(argv)
        why = _flush_stdout()
        if why is not None:
            _say(f"cexguard: error: {why}")
            rc = EXIT_ERROR
    except KeyboardInterrupt:  # a second Ctrl-C while unwinding
        rc = EXIT_INTERRUPTED
    except Terminated:
        rc = EXIT_TERMINATED
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    if rc in (EXIT_INTERRUPTED, EXIT_TERMINATED):
        # stopped on request: what the interpreter's exit handlers may still hit (a process pool's wake-up
        # pipe already closed while its workers were stopped) is not the user's to read; the handlers
        # themselves still run (they stop what is left of the pool)
        sys.unraisablehook = _quiet_unraisable
    sys.exit(rc)


def _quiet_unraisable(_unraisable: Any) -> None:
    return None
