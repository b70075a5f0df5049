"""What every exchange's verifier reports: one normalised permission model (read, trade, withdraw,
transfer, ip_restricted, expires) beside the exchange's own fields, the risk levels (the same as
Binance's), the statuses and their exit codes, and the verdict itself."""
from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from scanner.status import VERIFY_EXIT

# status -> exit code of `cexguard verify`: 1 the key works (somewhere), 0 it is dead, 5 refused but
# not proven dead, 3 no verdict (`not_verifiable`: cexguard has no verifier for this exchange)
EXIT_CODES = VERIFY_EXIT  # (one table, in scanner/status.py)
STATUSES = tuple(EXIT_CODES)
DEAD = frozenset({"deleted", "malformed"})
LIVE = frozenset({"live", "live_ip_restricted"})
RISKS = ("critical", "high", "medium", "low", "unknown")


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Permissions:
    """The normalised model. None: the exchange does not say."""

    read: bool | None = None
    trade: bool | None = None
    withdraw: bool | None = None
    transfer: bool | None = None
    ip_restricted: bool | None = None
    expires: str | None = None  # when the key stops working, if it does

    def to_dict(self) -> dict[str, Any]:
        return {"read": self.read, "trade": self.trade, "withdraw": self.withdraw, "transfer": self.transfer,
                "ip_restricted": self.ip_restricted, "expires": self.expires}


def assess(p: Permissions | None) -> tuple[str, list[str]]:
    """critical: withdrawals on without an IP whitelist; high: withdrawals on behind a whitelist, or
    trading or transfers; medium: read-only without a whitelist; low: read-only behind one; unknown:
    permissions not available, or the exchange does not say whether the key may withdraw (and it is
    not known to trade). A whitelist the exchange does not report counts as none."""
    if p is None:
        return "unknown", ["the key's permissions could not be read"]
    if p.withdraw is None and not p.trade and not p.transfer:
        unknown = ["the exchange does not report whether this key may withdraw or trade: treat it as able to"]
        if p.ip_restricted is None:
            unknown.append("the exchange does not report an IP whitelist for this key")
        elif p.ip_restricted:
            unknown.append("the key is IP-restricted")
        return "unknown", unknown
    ip = p.ip_restricted is True
    reasons: list[str] = []
    if p.withdraw:
        level = "high" if ip else "critical"
        reasons.append("withdrawals are enabled (the key is IP-restricted)" if ip else
                       "withdrawals are enabled and the key has no IP whitelist: anyone holding it can move funds out")
    elif p.trade or p.transfer:
        level = "high"
    elif ip:
        level = "low"
    else:
        level = "medium"
    if p.trade:
        reasons.append("trading is enabled")
    if p.transfer:
        reasons.append("transfers are enabled")
    if level == "medium":
        reasons.append("read-only, but without an IP whitelist anyone can read balances, orders and history")
    if level == "low":
        reasons.append("read-only and IP-restricted")
    if p.ip_restricted is None:
        reasons.append("the exchange does not report an IP whitelist for this key")
    if p.expires:
        reasons.append(f"the key expires at {p.expires}")
    return level, reasons


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """What `cexguard verify` prints, and what goes on a finding as `verification`: one class for
    every exchange, Binance included (`scanner.remote.verify.VerifyResult` is this class). Each
    exchange's own fields are `permissions`; `normalized` is the shared model. The fields after
    `account` are Binance's (key age, trading authority, how a -2015 was settled through the master,
    how to tell a deleted key from an IP-restricted one): None or empty elsewhere."""

    status: str  # one of STATUSES
    exchange: str
    key_fingerprint: str
    key_redacted: str
    api_url: str
    endpoint: str | None = None
    signature: str | None = None  # hmac-sha256 | hmac-sha512 | es256 | eddsa | rsa (Binance: hmac | rsa | ed25519)
    checked_at: str = field(default_factory=now_iso)
    permissions: Mapping[str, Any] | None = None  # the exchange's own fields
    normalized: Permissions | None = None
    risk: str | None = None
    risk_reasons: tuple[str, ...] = ()
    causes: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    error: Mapping[str, Any] | None = None
    created_at: str | None = None
    account: Mapping[str, Any] | None = None  # who owns the key (uid, master or sub-account), when told
    age_days: int | None = None
    trading_authority_expires_at: str | None = None  # Binance's tradingAuthorityExpirationTime, when set
    settled: Mapping[str, Any] | None = None  # Binance: how a -2015 was settled through the master account
    tell_apart: tuple[str, ...] = ()  # Binance `rejected`: how to tell deleted from IP-restricted

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "exchange": self.exchange,
            "dead": True if self.status in DEAD else (False if self.status in LIVE else None),
            "key": {"fingerprint": self.key_fingerprint, "redacted": self.key_redacted},
            "signature": self.signature,
            "api_url": self.api_url,
            "endpoint": self.endpoint,
            "checked_at": self.checked_at,
            "permissions": dict(self.permissions) if self.permissions is not None else None,
            "normalized_permissions": self.normalized.to_dict() if self.normalized else None,
            "account": dict(self.account) if self.account is not None else None,
            "risk": self.risk,
            "risk_reasons": list(self.risk_reasons),
            "causes": list(self.causes),
            "reasons": list(self.reasons),
            "error": dict(self.error) if self.error is not None else None,
            "created_at": self.created_at,
            "age_days": self.age_days,
            "trading_authority_expires_at": self.trading_authority_expires_at,
            "settled": dict(self.settled) if self.settled is not None else None,
            "tell_apart": list(self.tell_apart),
        }


def render_verdict(v: Verdict, title: str) -> str:
    from scanner.safetext import safe

    lines = [f"exchange     {title}",
             f"key          {v.key_redacted}  ({v.key_fingerprint})",
             f"status       {v.status.upper()}"]
    if v.created_at:
        lines.append(f"created      {v.created_at}")
    if v.risk:
        lines.append(f"risk         {v.risk}")
        lines.extend(f"               - {r}" for r in v.risk_reasons)
    if v.normalized:
        lines.append("permissions  " + ", ".join(f"{k}={'?' if x is None else x}"
                                                  for k, x in v.normalized.to_dict().items()))
    if v.account:
        lines.append("account      " + ", ".join(f"{k}={x}" for k, x in v.account.items()))
    if v.status != "live":
        lines.extend(f"  - {r}" for r in v.reasons)
        if v.error:
            lines.append(f"answer       {v.error.get('message')}")
    lines.append(f"server       {v.api_url}  at {v.checked_at}")
    if v.status in LIVE:
        lines.append(f"next         delete this key now: `cexguard revoke --exchange {v.exchange}`, "
                     f"or `cexguard revoke --exchange {v.exchange} --playbook` for the steps by hand")
    return "\n".join(safe(line) for line in lines) + "\n"
