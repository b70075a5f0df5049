"""Exchanges behind one interface, found through one registry.

Each exchange is one small module with an `EXCHANGE` object that has `name`, `title`,
`production_url`, `needs_passphrase`, `verify(credentials, transport) -> Verdict`,
`revoke(...) -> RevokeResult` and `playbook(key_redacted) -> list[str]`. A finding reaches its
exchange by the rule's `verify:` name when the rule carries one, else by the exchange its kind
names (`bybit_api_key` -> `bybit`). Modules are imported only when used.
"""
from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from typing import Any, Protocol

from scanner.errors import CexguardError
from scanner.remote.credentials import KeyIdentity

# verifier name -> module (Binance's own commands keep their richer flow: scanner.remote.verify/revoke)
REGISTRY: dict[str, str] = {
    "bybit": "scanner.remote.exchanges.bybit",
    "okx": "scanner.remote.exchanges.okx",
    "kucoin": "scanner.remote.exchanges.kucoin",
    "kraken": "scanner.remote.exchanges.kraken",
    "coinbase": "scanner.remote.exchanges.coinbase",
    "bitget": "scanner.remote.exchanges.bitget",
    "gate": "scanner.remote.exchanges.gate",
    "mexc": "scanner.remote.exchanges.mexc",
    "htx": "scanner.remote.exchanges.htx",
}
NAMES = ("binance", *REGISTRY)
ROLES = ("api_key", "secret_key", "passphrase", "private_key")


class Exchange(Protocol):
    name: str
    title: str
    production_url: str
    needs_passphrase: bool

    def verify(self, credentials: ExchangeCredentials, transport: Any) -> Any: ...

    def revoke(self, *, leaked: ExchangeCredentials, master: ExchangeCredentials | None, transport: Any,
               execute: bool, quarantine_ips: list[str], audit: Any) -> Any: ...

    def playbook(self, key_redacted: str) -> list[str]: ...

    def transport(self, base_url: str, *, timeout: float) -> Any: ...


def get(name: str) -> Exchange:
    """The exchange registered under `name` (a CexguardError names the known ones otherwise)."""
    if name not in REGISTRY:
        raise CexguardError(f"no verifier for {name!r}; known: {', '.join(NAMES)}")
    module = importlib.import_module(REGISTRY[name])
    return module.exchange(name) if hasattr(module, "exchange") else module.EXCHANGE  # type: ignore[no-any-return]


def split_kind(kind: str) -> tuple[str | None, str | None]:
    """(exchange, role) of a kind named `<exchange>_<role>` (`okx_passphrase` -> okx, passphrase)."""
    for role in ROLES:
        suffix = "_" + role
        if kind.endswith(suffix) and kind[: -len(suffix)] in NAMES:
            return kind[: -len(suffix)], role
    return None, None


def verifier_for(kind: str, rule_verify: str | None = None) -> str | None:
    """The verifier a finding uses: the rule's `verify:` field when it has one, else its kind's exchange."""
    if rule_verify:
        return rule_verify
    return split_kind(kind)[0]


class ExchangeCredentials(KeyIdentity):
    """An API key with its secret (an HMAC secret, or a private key for Coinbase and Bybit RSA keys)
    and passphrase. Shown only redacted; never in a repr, an error or the audit log."""

    __slots__ = ("api_key", "label", "passphrase", "secret")

    def __init__(self, api_key: str, secret: str | None = None, passphrase: str | None = None, *,
                 label: str = "key") -> None:
        if not api_key or any(c.isspace() for c in api_key) or len(api_key) > 512 or not api_key.isprintable():
            raise CexguardError(f"the {label} API key is empty or has spaces or characters that cannot be sent")
        self.api_key = api_key
        self.secret = secret or None
        self.passphrase = passphrase or None
        self.label = label

    def __repr__(self) -> str:
        return f"ExchangeCredentials({self.label}, key={self.redacted})"


def env_names(exchange: str, *, master: bool = False) -> tuple[str, str, str]:
    """(key, secret, passphrase) variable names: BYBIT_API_KEY, ... or CEXGUARD_MASTER_API_KEY, ..."""
    prefix = "CEXGUARD_MASTER" if master else exchange.upper()
    return f"{prefix}_API_KEY", f"{prefix}_API_SECRET", f"{prefix}_API_PASSPHRASE"


def credentials_from_env(exchange: Exchange, *, master: bool = False, require_secret: bool = True,
                         env: Mapping[str, str] | None = None) -> ExchangeCredentials:
    """Read a key, its secret and passphrase from the environment (never from argv). A PEM secret
    may have its newlines written as `\\n`."""
    environ = os.environ if env is None else env
    k, s, p = env_names(exchange.name, master=master)
    label = "master" if master else "leaked"
    api_key = (environ.get(k) or "").strip()
    secret = (environ.get(s) or "").strip().replace("\\n", "\n")
    passphrase = environ.get(p) or ""
    if not api_key:
        raise CexguardError(f"{k} is not set (the {label} {exchange.title} API key is read from the environment)")
    if require_secret and not secret:
        raise CexguardError(f"{s} must be set with {k}")
    if secret and exchange.needs_passphrase and not passphrase:
        raise CexguardError(f"{p} must be set too: {exchange.title} keys are used with their passphrase")
    return ExchangeCredentials(api_key, secret, passphrase, label=label)


def manual_playbook(title: str, where: str, *, extra: tuple[str, ...] = ()) -> list[str]:
    """The steps by hand, in the same shape for every exchange."""
    return [
        f"Log in to {title} as the account that owns the key and open {where}; find the key by its first and "
        "last characters.",
        "Delete the key, do not just disable or edit it: a disabled or edited key can be turned back on, "
        "deleting is irreversible.",
        *extra,
        ("If you still need API access, create a new key without withdrawal permission and restricted to "
         "trusted IPs (IP whitelist)."),
        ("Keep the new key out of the code: read it from an environment variable or a secret manager; do not "
         "commit it again (run cexguard as a pre-commit hook)."),
        ("Review the last 30 days: trade history, open orders (cancel any you did not place), deposits, "
         "withdrawals and transfers, and the key's activity if the exchange shows it."),
    ]
