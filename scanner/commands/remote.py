"""`cexguard verify` and `cexguard revoke`: credentials come from the environment, never from argv.

The network and crypto code is imported inside the functions, so listing commands or running a
scan pays nothing for it.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from scanner.clikit import Seconds
from scanner.errors import CexguardError
from scanner.status import REVOKE_EXIT, VERIFY_EXIT, ExitCode

EXCHANGES = ("binance", "bybit", "okx", "kucoin", "kraken", "coinbase", "bitget", "gate", "mexc", "htx")
EXCHANGE_HELP = ("The exchange the key belongs to (default binance). Others read <EXCHANGE>_API_KEY, "
                 "<EXCHANGE>_API_SECRET and <EXCHANGE>_API_PASSPHRASE, e.g. BYBIT_API_KEY.")

API_URL_HELP = ("API base URL (default the exchange's, https://api.binance.com for Binance; also CEXGUARD_API_URL). "
                "https only; plain http only to 127.0.0.1/::1/localhost.")


def _emit(data: dict[str, Any], text: str, fmt: str) -> None:
    from scanner.clikit import write_out

    write_out(json.dumps(data, indent=2, sort_keys=False) + "\n" if fmt == "json" else text)


@click.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Output format.")
@click.option("--api-url", default=None, help=API_URL_HELP)
@click.option("--timeout", type=Seconds(0.1, 300), default=10.0, show_default=True,
              help="Seconds one network call may take in all: connecting, sending, and the whole answer.")
@click.option("--rotate-after", "rotate_after", type=click.IntRange(1, 36500), default=90, show_default=True,
              metavar="DAYS", help="Flag a key older than this many days in the risk reasons.")
@click.option("--email", default=None, metavar="EMAIL",
              help="With master credentials: the sub-account that owns the key (settles a rejected key).")
@click.option("--audit-log", "audit_log", type=click.Path(dir_okay=False), default=None, envvar="CEXGUARD_AUDIT_LOG",
              help="Revoke audit log to read the key's sub-account from (default as for revoke).")
@click.option("--exchange", type=click.Choice(EXCHANGES), default="binance", show_default=True, help=EXCHANGE_HELP)
def verify(*, fmt: str, api_url: str | None, timeout: float, rotate_after: int, email: str | None,
           audit_log: str | None, exchange: str) -> int:
    """Check whether a Binance API key works, and what it is allowed to do.

    \b
    The key is read from the environment, never from the command line:
      BINANCE_API_KEY            the API key
      BINANCE_API_SECRET         its secret (HMAC keys), or
      BINANCE_PRIVATE_KEY_FILE   a PEM private key (Ed25519/RSA keys), with
      BINANCE_PRIVATE_KEY_PASSPHRASE  if the PEM is encrypted
    Only a signature is sent; the secret never leaves this machine.
    With CEXGUARD_MASTER_API_KEY and its secret (or CEXGUARD_MASTER_PRIVATE_KEY_FILE)
    also set, a rejected sub-account key is looked up through the master account
    (read calls only): live_ip_restricted or deleted.

    \b
    Status and exit code:
      live                1  a signed call succeeded (permissions, risk, key age)
      live_ip_restricted  1  rejected here, but the master account sees the key:
                             it works from its whitelisted IPs (listed)
      deleted             0  Binance does not know the key (-2008, or the master
                             account sees no such key under its sub-account)
      malformed           0  not a Binance API key (-2014)
      rejected            5  -2015: deleted, OR live and IP-restricted to other
                             addresses (how to tell them apart is printed)
      wrong_secret        5  -1022: this secret does not sign for this key; the
                             key itself may be live
      unknown             3  no verdict (WAF block, rate limit, server error,
                             timeout, an answer whose shape proves nothing)
      error               2  bad input or no connection at all (one line on stderr)
    """
    if exchange != "binance":
        if email:
            raise CexguardError("--email is for Binance sub-accounts")
        return _verify_other(exchange, fmt=fmt, api_url=api_url, timeout=timeout)
    from scanner.remote.binance import LEAKED_ENV, MASTER_ENV, Transport, credentials_from_env, resolve_base_url
    from scanner.remote.revoke import check_options, default_audit_path
    from scanner.remote.verify import render_text, settle_rejected, verify_credentials

    check_options(email=email, broker=False, sub_account_id=None, quarantine_ips=())
    base_url = resolve_base_url(api_url)
    creds = credentials_from_env(LEAKED_ENV, label="leaked")
    import os

    master = credentials_from_env(MASTER_ENV, label="master") if os.environ.get(MASTER_ENV.key, "").strip() else None
    if email and master is None:
        raise CexguardError(f"--email is used to ask the master account about the key: set {MASTER_ENV.key} "
                            f"and {MASTER_ENV.secret} (or {MASTER_ENV.key_file}) too")
    transport = Transport(base_url, timeout=timeout)
    result = verify_credentials(creds, transport=transport, rotate_after=rotate_after)
    if master is not None and result.status == "rejected":
        path = Path(audit_log).expanduser() if audit_log else default_audit_path()
        result = settle_rejected(result, leaked=creds, master=master, transport=transport,
                                 email=email.strip() if email else None, audit_log=path)
    _emit(result.to_dict(), render_text(result), fmt)
    return VERIFY_EXIT[result.status]


def _verify_other(name: str, *, fmt: str, api_url: str | None, timeout: float) -> int:
    from scanner.remote import exchanges
    from scanner.remote.model import render_verdict
    from scanner.remote.transport import resolve_base_url

    ex = exchanges.get(name)
    creds = exchanges.credentials_from_env(ex, require_secret=ex.production_url != "")
    transport = ex.transport(resolve_base_url(api_url, default=ex.production_url) if ex.production_url else "",
                             timeout=timeout)
    result = ex.verify(creds, transport)
    _emit(result.to_dict(), render_verdict(result, ex.title), fmt)
    return VERIFY_EXIT[result.status]


def _revoke_other(name: str, *, execute: bool, ips: list[str], fmt: str, api_url: str | None,
                  audit_log: str | None, timeout: float, show_playbook: bool) -> int:
    import os

    from scanner.remote import exchanges
    from scanner.remote.revoke import AuditLog, default_audit_path, render_text
    from scanner.remote.transport import resolve_base_url

    ex = exchanges.get(name)
    if show_playbook:
        steps = ex.playbook("(the leaked key)")
        _emit({"playbook": steps}, "\n".join(f"{i}. {s}" for i, s in enumerate(steps, 1)) + "\n", fmt)
        return ExitCode.OK
    leaked = exchanges.credentials_from_env(ex, require_secret=False)
    master = (exchanges.credentials_from_env(ex, master=True)
              if os.environ.get(exchanges.env_names(name, master=True)[0], "").strip() else None)
    audit = AuditLog(Path(audit_log).expanduser() if audit_log else default_audit_path())
    base = resolve_base_url(api_url, default=ex.production_url) if ex.production_url else ""
    result = ex.revoke(leaked=leaked, master=master, transport=ex.transport(base, timeout=timeout),
                       execute=execute, quarantine_ips=ips, audit=audit)
    _emit(result.to_dict(), render_text(result), fmt)
    return REVOKE_EXIT[result.status]


def _split_ips(values: tuple[str, ...]) -> list[str]:
    import ipaddress

    out: list[str] = []
    for v in values:
        for part in v.split(","):
            part = part.strip()
            if not part:
                continue
            try:
                out.append(str(ipaddress.ip_address(part)))
            except ValueError:
                raise CexguardError(f"--quarantine-ip: {part!r} is not an IP address") from None
    return out


@click.command()
@click.option("--yes", "-y", "execute", is_flag=True,
              help="Make the changes. Without it nothing is changed: the plan is printed (dry run).")
@click.option("--email", default=None, metavar="EMAIL",
              help="The sub-account that owns the key (default: found from the key's uid, which needs its secret).")
@click.option("--quarantine-ip", "quarantine_ip", multiple=True, metavar="IP[,IP...]",
              help="First restrict the key to these trusted IPs (repeatable), then delete it.")
@click.option("--broker", is_flag=True, help="The key belongs to a Binance Link (broker) sub-account.")
@click.option("--sub-account-id", default=None, metavar="ID", help="The Binance Link sub-account id (with --broker).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Output format.")
@click.option("--api-url", default=None, help=API_URL_HELP)
@click.option("--audit-log", "audit_log", type=click.Path(dir_okay=False), default=None, envvar="CEXGUARD_AUDIT_LOG",
              help="Append a JSON-lines record of this run here "
                   "(default $XDG_STATE_HOME/cexguard/revoke-audit.jsonl; also CEXGUARD_AUDIT_LOG).")
@click.option("--timeout", type=Seconds(0.1, 300), default=10.0, show_default=True,
              help="Seconds one network call may take in all: connecting, sending, and the whole answer.")
@click.option("--playbook", "show_playbook", is_flag=True,
              help="Print the manual steps for deleting a key by hand, and exit.")
@click.option("--exchange", type=click.Choice(EXCHANGES), default="binance", show_default=True, help=EXCHANGE_HELP)
def revoke(*, execute: bool, email: str | None, quarantine_ip: tuple[str, ...], broker: bool,
           sub_account_id: str | None, fmt: str, api_url: str | None, audit_log: str | None, timeout: float,
           show_playbook: bool, exchange: str) -> int:
    """Delete a leaked sub-account API key through the master account.

    \b
    From the environment, never from the command line:
      BINANCE_API_KEY                   the leaked key
      BINANCE_API_SECRET or BINANCE_PRIVATE_KEY_FILE   its secret, if known
                                        (lets cexguard find its sub-account and check it is dead)
      CEXGUARD_MASTER_API_KEY           the master account's key, with
      CEXGUARD_MASTER_API_SECRET or CEXGUARD_MASTER_PRIVATE_KEY_FILE
                                        (and CEXGUARD_MASTER_PRIVATE_KEY_PASSPHRASE)

    \b
    A key of the master account itself cannot be deleted through the API:
    the status is not_revocable and the manual playbook is printed.

    \b
    Status and exit code:
      revoked, already_revoked, dry_run   0
      failed, not_revocable               1
      error (bad input, no connection)    2
    """
    from scanner.remote.binance import (
        LEAKED_ENV,
        MASTER_ENV,
        Transport,
        credentials_from_env,
        resolve_base_url,
    )
    from scanner.remote.revoke import check_options, default_audit_path, playbook, render_text, revoke_key

    if exchange != "binance":
        if email or broker or sub_account_id:
            raise CexguardError("--email, --broker and --sub-account-id are for Binance")
        return _revoke_other(exchange, execute=execute, ips=_split_ips(quarantine_ip), fmt=fmt, api_url=api_url,
                             audit_log=audit_log, timeout=timeout, show_playbook=show_playbook)
    if show_playbook:
        steps = playbook("(the leaked key)")
        _emit({"playbook": steps}, "\n".join(f"{i}. {s}" for i, s in enumerate(steps, 1)) + "\n", fmt)
        return ExitCode.OK
    ips = _split_ips(quarantine_ip)
    check_options(email=email, broker=broker, sub_account_id=sub_account_id, quarantine_ips=ips)
    base_url = resolve_base_url(api_url)
    leaked = credentials_from_env(LEAKED_ENV, label="leaked", require_signer=False)
    try:
        master = credentials_from_env(MASTER_ENV, label="master")
    except CexguardError as e:
        raise CexguardError(f"{e}. Only a master account can delete a sub-account's key; a key of your own "
                            "account must be deleted by hand: see `cexguard revoke --playbook`") from None
    path = Path(audit_log).expanduser() if audit_log else default_audit_path()
    result = revoke_key(leaked=leaked, master=master, transport=Transport(base_url, timeout=timeout), email=email,
                        broker=broker, sub_account_id=sub_account_id, quarantine_ips=ips, execute=execute,
                        audit_log=path)
    _emit(result.to_dict(), render_text(result), fmt)
    return REVOKE_EXIT[result.status]
