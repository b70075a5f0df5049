"""Is a leaked key live, and what may it do?

`live` means a signed call succeeded; `invalid` means Binance rejected the credentials (-2015,
-2014, -2008, -1022) and the reasons say which causes are possible; `unknown` is everything else
(WAF, rate limit or ban after the bounded wait, 5xx, timeouts): never reported as live or dead.
"""
from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from scanner.errors import CexguardError
from scanner.models import Finding, fingerprint_of
from scanner.safetext import safe
from scanner.remote.binance import (
    CODE_BAD_KEY_ID,
    CODE_BAD_SIGNATURE,
    CODE_KEY_FORMAT,
    CODE_REJECTED,
    ApiError,
    AuthError,
    BinanceClient,
    Credentials,
    HmacSigner,
    Signer,
    Transport,
    Unavailable,
    load_private_key,
    resolve_base_url,
)

STATUSES = ("live", "invalid", "unknown")
RISKS = ("critical", "high", "medium", "low", "unknown")
RESTRICTIONS_ENDPOINT = "GET /sapi/v1/account/apiRestrictions"
ACCOUNT_ENDPOINT = "GET /api/v3/account"

TRADING = ("enableSpotAndMarginTrading", "enableMargin", "enableFutures", "enablePortfolioMarginTrading",
           "enableVanillaOptions", "enableFixApiTrade")
TRANSFER = ("enableInternalTransfer", "permitsUniversalTransfer")

# Binance code -> (machine-readable causes, what a person should read)
INVALID_CAUSES: dict[int, tuple[tuple[str, ...], tuple[str, ...]]] = {
    CODE_REJECTED: (
        ("deleted", "ip_restricted_elsewhere", "no_permission"),
        ("the key was deleted, or never existed",
         ("the key is IP-restricted and this machine's address is not on its whitelist: "
          "it may still work from the whitelisted addresses"),
         "the key lacks the permission this call needs"),
    ),
    CODE_KEY_FORMAT: (("malformed",), ("Binance does not accept this as an API key (format invalid)",)),
    CODE_BAD_KEY_ID: (("deleted",), ("Binance does not know this API key ID: deleted, or never existed",)),
    CODE_BAD_SIGNATURE: (
        ("wrong_secret",),
        (("the signature was rejected: the secret (or private key) does not belong to this API key; "
          "the API key itself may still be live with its real secret"),),
    ),
}


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class VerifyResult:
    """What `cexguard verify` prints, and what goes on a finding as `verification`."""

    status: str  # live | invalid | unknown
    key_fingerprint: str
    key_redacted: str
    signature: str | None  # hmac | rsa | ed25519
    api_url: str
    checked_at: str = field(default_factory=_now)
    endpoint: str | None = None
    permissions: dict[str, Any] | None = None
    account: dict[str, Any] | None = None
    risk: str | None = None
    risk_reasons: tuple[str, ...] = ()
    causes: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    error: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "key": {"fingerprint": self.key_fingerprint, "redacted": self.key_redacted},
            "signature": self.signature,
            "api_url": self.api_url,
            "endpoint": self.endpoint,
            "checked_at": self.checked_at,
            "permissions": self.permissions,
            "account": self.account,
            "risk": self.risk,
            "risk_reasons": list(self.risk_reasons),
            "causes": list(self.causes),
            "reasons": list(self.reasons),
            "error": self.error,
        }


def assess_risk(permissions: Mapping[str, Any] | None) -> tuple[str, list[str]]:
    """critical: withdrawals on without an IP whitelist; high: withdrawals on behind a whitelist, or
    any trading or transfer permission; medium: read-only without a whitelist; low: read-only behind
    one; unknown: permissions not available."""
    if permissions is None:
        return "unknown", ["the key's permissions could not be read"]
    on = {k for k, v in permissions.items() if v is True}
    ip = permissions.get("ipRestrict") is True
    trading = [k for k in TRADING if k in on]
    transfer = [k for k in TRANSFER if k in on]
    reasons: list[str] = []
    if "enableWithdrawals" in on:
        if not ip:
            reasons.append("withdrawals are enabled and the key has no IP whitelist: "
                           "anyone holding it can move funds out")
            level = "critical"
        else:
            reasons.append("withdrawals are enabled (the key is IP-restricted)")
            level = "high"
    elif trading or transfer:
        level = "high"
    elif ip:
        level = "low"
    else:
        level = "medium"
    if trading:
        reasons.append("trading is enabled: " + ", ".join(trading))
    if transfer:
        reasons.append("transfers are enabled: " + ", ".join(transfer))
    if level == "medium":
        reasons.append("read-only, but without an IP whitelist anyone can read balances, orders and history")
    if level == "low":
        reasons.append("read-only and IP-restricted")
    if ip and level != "low":
        reasons.append("IP-restricted, and this check succeeded: this machine's address is on the whitelist")
    return level, reasons


def verify_credentials(credentials: Credentials, *, transport: Transport) -> VerifyResult:
    """One signed call with the pair (two when /sapi is missing). Raises only CexguardError for setup
    problems (Unreachable: no connection at all); every answer becomes a status."""
    if credentials.signer is None:
        raise CexguardError("verifying a key needs its secret or private key")
    client = BinanceClient(transport, credentials)
    base: dict[str, Any] = {"key_fingerprint": credentials.fingerprint, "key_redacted": credentials.redacted,
            "signature": credentials.signer.kind, "api_url": transport.base_url}
    try:
        perms = client.api_restrictions()
    except AuthError as e:
        return _invalid(e, base, RESTRICTIONS_ENDPOINT)
    except ApiError as e:
        if e.http_status != 404:
            return _unknown(e, base, RESTRICTIONS_ENDPOINT)
        return _verify_without_sapi(client, base)
    except Unavailable as e:
        return _unknown(e, base, RESTRICTIONS_ENDPOINT)
    permissions = {k: v for k, v in perms.items() if isinstance(v, (bool, int, float, str)) or v is None}
    risk, why = assess_risk(permissions)
    return VerifyResult(status="live", endpoint=RESTRICTIONS_ENDPOINT, permissions=permissions, risk=risk,
                        risk_reasons=tuple(why), reasons=("a signed call with this key succeeded",), **base)


def _verify_without_sapi(client: BinanceClient, base: dict[str, Any]) -> VerifyResult:
    """Spot testnet and some local servers have no /sapi: fall back to GET /api/v3/account."""
    try:
        acct = client.account()
    except AuthError as e:
        return _invalid(e, base, ACCOUNT_ENDPOINT)
    except (ApiError, Unavailable) as e:
        return _unknown(e, base, ACCOUNT_ENDPOINT)
    fields = ("accountType", "canTrade", "canWithdraw", "canDeposit", "permissions")
    summary: dict[str, Any] = {k: acct[k] for k in fields if k in acct}
    return VerifyResult(
        status="live", endpoint=ACCOUNT_ENDPOINT, account=summary, risk="unknown",
        risk_reasons=(("this server has no /sapi (e.g. spot testnet): the key's own permissions are not "
                       "available; see the account's canTrade/canWithdraw"),),
        reasons=("a signed call with this key succeeded",), **base)


def _invalid(e: ApiError, base: dict[str, Any], endpoint: str) -> VerifyResult:
    causes, reasons = INVALID_CAUSES.get(e.code or 0, (("rejected",), ("Binance rejected the credentials",)))
    return VerifyResult(status="invalid", endpoint=endpoint, causes=causes, reasons=reasons,
                        error=e.to_dict(), **base)


def _unknown(e: Exception, base: dict[str, Any], endpoint: str) -> VerifyResult:
    err = e.to_dict() if isinstance(e, (ApiError, Unavailable)) else {"message": str(e)}
    return VerifyResult(status="unknown", endpoint=endpoint, error=err,
                        reasons=(f"no verdict: {e}", "the key may be live or dead; try again later"), **base)


# ------------------------------------------------------------------------------------ scan --verify

SECRET_KINDS = ("binance_secret_key", "binance_private_key")
KEY_KIND = "binance_api_key"


def _fp(f: Finding) -> str:
    return f.fingerprint or fingerprint_of(f.secret)


def _partner(f: Finding, by_fp: Mapping[str, list[Finding]], linked_to: Mapping[str, list[Finding]]) -> Finding | None:
    want = SECRET_KINDS if f.kind == KEY_KIND else (KEY_KIND,)
    if f.paired_with:
        for g in by_fp.get(f.paired_with, ()):
            if g.kind in want:
                return g
    for g in linked_to.get(_fp(f), ()):
        if g.kind in want:
            return g
    return None


def _signer_for(secret_finding: Finding) -> Signer:
    if secret_finding.kind == "binance_secret_key":
        return HmacSigner(secret_finding.secret)
    pem = secret_finding.secret
    if "ENCRYPTED" in pem:
        raise CexguardError("the private key is encrypted: cexguard cannot sign with it")
    return load_private_key(pem.encode(), source="the private key")


def unverifiable(reason: str) -> dict[str, Any]:
    return {"status": "unverifiable", "reason": reason}


def verify_findings(findings: Iterable[Finding], *, api_url: str | None = None,
                    env: Mapping[str, str] | None = None, timeout: float = 10.0,
                    transport: Transport | None = None) -> list[Finding]:
    """Verify each distinct key/secret (or key/private key) pair found, once, in process; return the
    findings with `verification` set on both members of every pair. Unpaired findings, and pairs
    involving a published documentation example, are marked unverifiable and never sent."""
    items = list(findings)
    relevant = [f for f in items if f.kind == KEY_KIND or f.kind in SECRET_KINDS]
    if not relevant:
        return items
    by_fp: dict[str, list[Finding]] = {}
    linked_to: dict[str, list[Finding]] = {}
    for f in relevant:
        by_fp.setdefault(_fp(f), []).append(f)
        if f.paired_with:
            linked_to.setdefault(f.paired_with, []).append(f)

    cache: dict[tuple[str, str], dict[str, Any]] = {}
    tr: list[Transport] = [transport] if transport is not None else []

    def get_transport() -> Transport:
        if not tr:
            tr.append(Transport(resolve_base_url(api_url, env=env), timeout=timeout))
        return tr[0]

    def check(key: Finding, secret: Finding) -> dict[str, Any]:
        pair = (_fp(key), _fp(secret))
        if pair not in cache:
            if key.example or secret.example:
                cache[pair] = unverifiable("a published Binance documentation example: never sent")
            else:
                try:
                    creds = Credentials(key.secret, _signer_for(secret), label="found")
                except CexguardError as e:
                    cache[pair] = unverifiable(str(e))
                else:
                    cache[pair] = verify_credentials(creds, transport=get_transport()).to_dict()
        return cache[pair]

    out: list[Finding] = []
    for f in items:
        if f.kind != KEY_KIND and f.kind not in SECRET_KINDS:
            out.append(f)
            continue
        if f.example:
            out.append(f.replace(verification=unverifiable("a published Binance documentation example: never sent")))
            continue
        partner = _partner(f, by_fp, linked_to)
        if partner is None:
            what = "no secret or private key" if f.kind == KEY_KIND else "no API key"
            out.append(f.replace(verification=unverifiable(f"{what} paired with it in this scan")))
            continue
        key, secret = (f, partner) if f.kind == KEY_KIND else (partner, f)
        out.append(f.replace(verification=dict(check(key, secret))))
    return out


# ------------------------------------------------------------------------------------------- text

def render_text(result: VerifyResult) -> str:
    lines = [f"key          {result.key_redacted}  ({result.key_fingerprint})",
             f"status       {result.status.upper()}" + _status_note(result)]
    if result.risk:
        lines.append(f"risk         {result.risk}")
        lines.extend(f"               - {r}" for r in result.risk_reasons)
    if result.permissions:
        lines.append("permissions")
        width = max(len(k) for k in result.permissions)
        lines.extend(f"  {k:<{width}}  {_shown(k, v)}" for k, v in result.permissions.items())
    if result.account:
        lines.append("account      " + ", ".join(f"{k}={v}" for k, v in result.account.items()))
    if result.status != "live":
        lines.append("possible causes" if result.status == "invalid" else "why")
        lines.extend(f"  - {r}" for r in result.reasons)
        if result.error:
            lines.append(f"answer       {result.error.get('message')}")
    lines.append(f"server       {result.api_url}  at {result.checked_at}")
    if result.status == "live":
        lines.append("next         delete this key now: `cexguard revoke --help` (sub-accounts), or "
                     "API Management on binance.com (your own account)")
    return "\n".join(safe(line) for line in lines) + "\n"  # server values may hold escapes


def _shown(name: str, value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if name.endswith("Time") and isinstance(value, int) and value > 10**11:
        when = _dt.datetime.fromtimestamp(value / 1000, _dt.timezone.utc)
        return when.isoformat(timespec="seconds").replace("+00:00", "Z")
    return str(value)


def _status_note(result: VerifyResult) -> str:
    return {"live": ": a signed call with this key succeeded",
            "invalid": ": Binance rejected the credentials",
            "unknown": ": no verdict (neither live nor dead)"}.get(result.status, "")


__all__ = ["VerifyResult", "assess_risk", "render_text", "unverifiable", "verify_credentials", "verify_findings"]
