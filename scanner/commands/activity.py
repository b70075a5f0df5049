"""`cexguard activity`: what a leaked key's account did while the key was exposed (read-only)."""
from __future__ import annotations

import json
import time

import click

from scanner.clikit import Seconds
from scanner.errors import CexguardError

DAY_MS = 86_400_000


@click.command()
@click.option("--since", default=None, metavar="DATE|COMMIT",
              help="Start of the window: a date (YYYY-MM-DD or ISO 8601, UTC) or a commit (its date; it then "
                   "also marks the first exposure). Default: the first exposure, else 30 days ago.")
@click.option("--until", default=None, metavar="DATE|COMMIT", help="End of the window (default: now).")
@click.option("--from-report", "from_report", type=click.Path(dir_okay=False), default=None, metavar="FILE",
              help="A history audit (cexguard history --format json): the first commit that introduced this key "
                   "marks the first exposure.")
@click.option("--repo", type=click.Path(file_okay=False), default=".", show_default=True,
              help="The repository a COMMIT in --since/--until is looked up in.")
@click.option("--symbol", "symbols", multiple=True, metavar="SYMBOL",
              help="Also read orders and fills of this symbol (e.g. BTCUSDT); repeatable.")
@click.option("--max-weight", type=click.IntRange(25, 1_000_000), default=6000, show_default=True,
              help="Request weight (IP) this run may spend; what is left unread is listed.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Output format.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None, help="Write the report to FILE.")
@click.option("--api-url", default=None, help="Binance API base URL (as for verify; also CEXGUARD_API_URL).")
@click.option("--timeout", type=Seconds(0.1, 300), default=10.0, show_default=True,
              help="Seconds one network call may take in all.")
@click.option("-q", "--quiet", is_flag=True, help="No progress on stderr.")
def activity(*, since: str | None, until: str | None, from_report: str | None, repo: str, symbols: tuple[str, ...],
             max_weight: int, fmt: str, output: str | None, api_url: str | None, timeout: float, quiet: bool) -> int:
    """What the leaked key's account did in a window: withdrawals, deposits, transfers, orders, fills.

    \b
    The key is read from the environment, as for verify (BINANCE_API_KEY with
    BINANCE_API_SECRET or BINANCE_PRIVATE_KEY_FILE). Only read calls (GET) are
    sent: nothing is ever placed, cancelled or moved. Request weight is paced
    by Binance's per-minute weight headers and capped by --max-weight; the
    weight spent and anything not read (and why) are in the report.

    \b
    Exit codes:
      0  read; nothing in the window falls after the key's first exposure
      1  events after the first exposure (marked '!' in text, after_exposure in JSON)
      2  error: bad input, the key is rejected, no connection
    """
    from scanner.remote.activity import read_activity, render_text
    from scanner.remote.binance import LEAKED_ENV, Transport, credentials_from_env, resolve_base_url
    from scanner.remote.exposure import exposure_from_report, parse_when

    base_url = resolve_base_url(api_url)
    creds = credentials_from_env(LEAKED_ENV, label="leaked")
    now_ms = int(time.time() * 1000)
    exposure = exposure_from_report(from_report, creds.fingerprint) if from_report else None
    until_ms = parse_when(until, repo=repo, option="--until")[0] if until else now_ms
    if since:
        since_ms, named = parse_when(since, repo=repo, option="--since")
        source = "--since"
        if exposure is None and named is not None:
            exposure = named
    elif exposure is not None:
        since_ms, source = exposure["first_exposed_ms"], "first exposure (--from-report)"
    else:
        since_ms, source = until_ms - 30 * DAY_MS, "default: the last 30 days"
    if until_ms < since_ms:
        raise CexguardError("the window is empty: --until is before --since")
    if until_ms > now_ms + 60_000:
        until_ms = now_ms
    for s in symbols:
        if not s.isalnum() or not 2 <= len(s) <= 20:
            raise CexguardError(f"--symbol: {s!r} is not a Binance symbol (letters and digits, e.g. BTCUSDT)")

    def progress(line: str) -> None:
        if not quiet:
            from scanner.safetext import safe

            click.echo(safe(f"cexguard: activity: {line}"), err=True)

    result = read_activity(creds, transport=Transport(base_url, timeout=timeout), since_ms=since_ms,
                           until_ms=until_ms, window_source=source, exposure=exposure, symbols=symbols,
                           max_weight=max_weight, progress=progress)
    data = result.to_dict()
    text = json.dumps(data, indent=2) + "\n" if fmt == "json" else render_text(result)
    if output:
        from scanner.atomic import write_atomic

        write_atomic(output, text, what="report")
    else:
        from scanner.clikit import write_out

        write_out(text)
    if not quiet:
        s = data["summary"]
        tail = "" if result.complete else f"; INCOMPLETE: {len(result.not_read)} read(s) missing (listed in the report)"
        click.echo(f"cexguard: activity: {s['events']} event(s), {s['after_exposure']} after the first exposure; "
                   f"weight {data['weight']['spent']}/{data['weight']['budget']}{tail}", err=True)
    from scanner.status import ExitCode

    return ExitCode.FINDINGS if result.flagged else ExitCode.OK
