"""Is a leaked key live, and what may it do?

`live` means a signed call succeeded. Binance's rejections are told apart, because they do not all
mean "dead": only `-2014` (`malformed`) and `-2008` (`deleted`) are. `-2015` (`rejected`) is what
Binance answers both for a deleted key and for a live key called from outside its IP whitelist;
with the master account's credentials it is settled through the sub-account API
(`live_ip_restricted` or `deleted`). `-1022` (`wrong_secret`) means this secret does not sign for
this key, not that the key is dead. `unknown` is everything else (WAF, rate limit or ban after the
bounded wait, 5xx, timeouts): never reported as live or dead.
"""
from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from scanner.errors import CexguardError
from scanner.models import Finding, fingerprint_of
from scanner.remote.model import Permissions, Verdict
from scanner.safetext import safe
from scanner.status import VERIFY_EXIT
from scanner.remote.binance import (
    CODE_BAD_KEY_ID,
    CODE_BAD_SIGNATURE,
    CODE_KEY_FORMAT,
    CODE_REJECTED,
    WEIGHT_LIMITS_1M,
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

STATUSES = ("live", "live_ip_restricted", "rejected", "wrong_secret", "deleted", "malformed", "unknown")
# exit codes of `cexguard verify`: 1 the key works (somewhere), 0 it is dead, 5 refused but not
# proven dead, 3 no verdict
EXIT_CODES = {s: VERIFY_EXIT[s] for s in STATUSES}  # (one table, in scanner/status.py)
DEAD = frozenset({"deleted", "malformed"})
LIVE = frozenset({"live", "live_ip_restricted"})
RISKS = ("critical", "high", "medium", "low", "unknown")
RESTRICTIONS_ENDPOINT = "GET /sapi/v1/account/apiRestrictions"
ACCOUNT_ENDPOINT = "GET /api/v3/account"
IP_RESTRICTION_ENDPOINT = "GET /sapi/v1/sub-account/subAccountApi/ipRestriction"
SUB_LIST_ENDPOINT = "GET /sapi/v1/sub-account/list"
IP_RESTRICTION_UID_WEIGHT = 3000  # Binance: Weight(UID) 3000 per lookup
DEFAULT_UID_BUDGET = 150_000  # UID weight one verify may spend settling a -2015 (50 lookups)
DEFAULT_ROTATE_AFTER = 90  # days

TRADING = ("enableSpotAndMarginTrading", "enableMargin", "enableFutures", "enablePortfolioMarginTrading",
           "enableVanillaOptions", "enableFixApiTrade")
TRANSFER = ("enableInternalTransfer", "permitsUniversalTransfer")

# Binance code -> (status, machine-readable causes, what a person should read)
REJECTIONS: dict[int, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    CODE_REJECTED: (
        "rejected",
        ("deleted", "ip_restricted_elsewhere", "no_permission"),
        ("the key was deleted, or never existed",
         ("the key is IP-restricted and this machine's address is not on its whitelist: "
          "it still works from the whitelisted addresses"),
         "the key lacks the permission this call needs"),
    ),
    CODE_KEY_FORMAT: ("malformed", ("malformed",),
                      ("Binance does not accept this as an API key (format invalid)",)),
    CODE_BAD_KEY_ID: ("deleted", ("deleted",),
                      ("Binance does not know this API key ID: deleted, or never existed",)),
    CODE_BAD_SIGNATURE: (
        "wrong_secret",
        ("wrong_secret",),
        (("the signature was rejected: the secret (or private key) does not belong to this API key; "
          "the API key itself may still be live with its real secret"),),
    ),
}

# How to tell a deleted key from a live IP-restricted one when Binance answers -2015.
TELL_APART = (
    "set the master account's key in CEXGUARD_MASTER_API_KEY and CEXGUARD_MASTER_API_SECRET (or "
    "CEXGUARD_MASTER_PRIVATE_KEY_FILE) and run `cexguard verify` again (with --email EMAIL if you know the "
    "sub-account): Binance then says whether the key still exists and lists its whitelisted IPs",
    "or run `cexguard verify` from a machine whose address is on the key's whitelist: `live` there means live",
    "or open API Management on binance.com as the owning account: a key listed there is live",
)


# One verdict class for every exchange: Binance's carries the exchange's own fields (`permissions`,
# apiRestrictions as Binance names them) and the shared model (`normalized`, from `normalize`).
VerifyResult = Verdict


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


def normalize(permissions: Mapping[str, Any]) -> Permissions:
    """apiRestrictions in the model every exchange shares. Binance keys do not expire (their trading
    authority may: `trading_authority_expires_at`), so `expires` stays None."""
    def flag(name: str) -> bool | None:
        v = permissions.get(name)
        return v if isinstance(v, bool) else None

    def any_on(names: tuple[str, ...]) -> bool | None:
        seen = [permissions[n] for n in names if isinstance(permissions.get(n), bool)]
        return any(seen) if seen else None

    return Permissions(read=flag("enableReading"), trade=any_on(TRADING), withdraw=flag("enableWithdrawals"),
                       transfer=any_on(TRANSFER), ip_restricted=flag("ipRestrict"))


def _iso_ms(ms: Any) -> str | None:
    if isinstance(ms, bool) or not isinstance(ms, (int, float)) or ms <= 0:
        return None
    try:
        when = _dt.datetime.fromtimestamp(ms / 1000, _dt.timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None
    return when.isoformat(timespec="seconds").replace("+00:00", "Z")


def key_age(permissions: Mapping[str, Any], *, now_ms: int, rotate_after: int = DEFAULT_ROTATE_AFTER,
            ) -> tuple[str | None, int | None, str | None, list[str]]:
    """(created_at, age_days, trading_authority_expires_at, risk reasons) from apiRestrictions."""
    created = permissions.get("createTime")
    created_at = _iso_ms(created)
    age = int((now_ms - created) // 86_400_000) if created_at is not None and isinstance(created, (int, float)) else None
    reasons: list[str] = []
    if age is not None and age > rotate_after:
        reasons.append(f"the key is {age} days old (created {created_at}), older than the rotation period "
                       f"of {rotate_after} days: replace it")
    expires = _iso_ms(permissions.get("tradingAuthorityExpirationTime"))
    if expires is not None:
        reasons.append(f"its trading authority expires at {expires}")
    return created_at, max(age, 0) if age is not None else None, expires, reasons


def verify_credentials(credentials: Credentials, *, transport: Transport,
                       rotate_after: int = DEFAULT_ROTATE_AFTER) -> VerifyResult:
    """One signed call with the pair (two when /sapi is missing). Raises only CexguardError for setup
    problems (Unreachable: no connection at all); every answer becomes a status."""
    if credentials.signer is None:
        raise CexguardError("verifying a key needs its secret or private key")
    client = BinanceClient(transport, credentials)
    base: dict[str, Any] = {"exchange": "binance", "key_fingerprint": credentials.fingerprint,
                            "key_redacted": credentials.redacted, "signature": credentials.signer.kind,
                            "api_url": transport.base_url}
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
    created_at, age, expires, age_reasons = key_age(permissions, now_ms=transport.now_ms(), rotate_after=rotate_after)
    return VerifyResult(status="live", endpoint=RESTRICTIONS_ENDPOINT, permissions=permissions,
                        normalized=normalize(permissions), risk=risk,
                        risk_reasons=tuple(why + age_reasons), reasons=("a signed call with this key succeeded",),
                        created_at=created_at, age_days=age, trading_authority_expires_at=expires, **base)


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
    can = [acct.get(k) if isinstance(acct.get(k), bool) else None for k in ("canTrade", "canWithdraw")]
    normalized = Permissions(read=True, trade=False if can[0] is False else None,  # the account's flags cap
                             withdraw=False if can[1] is False else None)        # the key's, never prove them
    return VerifyResult(
        status="live", endpoint=ACCOUNT_ENDPOINT, account=summary, normalized=normalized, risk="unknown",
        risk_reasons=(("this server has no /sapi (e.g. spot testnet): the key's own permissions are not "
                       "available; see the account's canTrade/canWithdraw"),),
        reasons=("a signed call with this key succeeded",), **base)


def _invalid(e: ApiError, base: dict[str, Any], endpoint: str) -> VerifyResult:
    status, causes, reasons = REJECTIONS.get(
        e.code if isinstance(e.code, int) else 0, ("rejected", ("rejected",), ("Binance rejected the credentials",)))
    return VerifyResult(status=status, endpoint=endpoint, causes=causes, reasons=reasons, error=e.to_dict(),
                        tell_apart=TELL_APART if status == "rejected" else (), **base)


def _unknown(e: Exception, base: dict[str, Any], endpoint: str) -> VerifyResult:
    err = e.to_dict() if isinstance(e, (ApiError, Unavailable)) else {"message": str(e)}
    return VerifyResult(status="unknown", endpoint=endpoint, error=err,
                        reasons=(f"no verdict: {e}", "the key may be live or dead; try again later"), **base)


# ----------------------------------------------------------------- settling -2015 through the master

def settle_rejected(result: VerifyResult, *, leaked: Credentials, master: Credentials, transport: Transport,
                    email: str | None = None, audit_log: Path | None = None,
                    uid_budget: int = DEFAULT_UID_BUDGET) -> VerifyResult:
    """Ask the master account whether a `rejected` sub-account key still exists.

    The owning sub-account comes from `email`, else from the revoke audit log, else from asking for
    the key under each sub-account of GET /sapi/v1/sub-account/list (a rejected key has no readable
    uid), each lookup costing 3000 UID weight, within `uid_budget` and Binance's per-minute UID
    limit. The key exists -> `live_ip_restricted` (with its IP list); Binance says -2008 under the
    sub-account known to own it -> `deleted`. Anything else leaves `rejected`, and `settled` says why.
    Only read calls are sent."""
    if result.status != "rejected":
        return result
    if leaked.api_key == master.api_key:
        return _settled(result, {"outcome": "not_settled", "detail": "the key is the master account's own key: "
                                 "the sub-account API cannot look it up"})
    client = BinanceClient(transport, master)
    source = "--email" if email else None
    if not email and audit_log is not None:
        from scanner.remote.revoke import known_email

        email = known_email(audit_log, leaked.fingerprint)
        source = "audit-log" if email else None
    spent = 0
    if email:
        assert source is not None
        state, info, detail = _lookup(client, email, leaked.api_key)
        spent += IP_RESTRICTION_UID_WEIGHT
        return _settle_with(result, state, info, detail, email=email, source=source, searched=1, spent=spent)
    try:
        subs = client.sub_accounts()
    except (ApiError, Unavailable) as e:
        return _settled(result, {"outcome": "not_settled", "endpoint": SUB_LIST_ENDPOINT,
                                 "detail": f"cannot list the master account's sub-accounts: {e}"})
    searched = 0
    skipped = 0
    for sub in subs:
        sub_email = sub.get("email")
        if not isinstance(sub_email, str) or not sub_email:
            continue
        if sub.get("isAssetManagementSubAccount") is True:
            skipped += 1
            continue
        used = transport.minute_weight("sapi_uid")
        if (spent + IP_RESTRICTION_UID_WEIGHT > uid_budget
                or used + IP_RESTRICTION_UID_WEIGHT > WEIGHT_LIMITS_1M["sapi_uid"]):
            left = len([x for x in subs if isinstance(x.get("email"), str)]) - searched - skipped
            return _settled(result, {
                "outcome": "not_settled", "endpoint": IP_RESTRICTION_ENDPOINT, "searched": searched,
                "uid_weight_spent": spent,
                "detail": (f"weight budget reached after {searched} of {searched + left} sub-accounts "
                           f"({spent} of {uid_budget} UID weight; Binance reports {used} used this minute): "
                           "re-run with --email EMAIL")})
        state, info, detail = _lookup(client, sub_email, leaked.api_key)
        spent += IP_RESTRICTION_UID_WEIGHT
        searched += 1
        if state == "exists":
            return _settle_with(result, state, info, detail, email=sub_email, source="sub-account search",
                                searched=searched, spent=spent)
    note = f" ({skipped} asset-management sub-account(s) cannot be asked)" if skipped else ""
    return _settled(result, {
        "outcome": "not_found", "endpoint": IP_RESTRICTION_ENDPOINT, "searched": searched, "uid_weight_spent": spent,
        "detail": (f"no sub-account of this master account holds the key (asked {searched}){note}: it was deleted, "
                   "or it belongs to another account (the master's own key, or someone else's); pass --email "
                   "EMAIL if you know its sub-account")})


def _lookup(client: BinanceClient, email: str, api_key: str) -> tuple[str, dict[str, Any] | None, str]:
    """exists | gone | unknown for `api_key` under `email`, as the master sees it."""
    try:
        info = client.sub_account_api_ip_restriction(email, api_key)
    except ApiError as e:
        if isinstance(e, AuthError) and e.code == CODE_BAD_KEY_ID:
            return "gone", None, f"Binance: no such key under {email} (code {e.code})"
        return "unknown", None, str(e)
    except Unavailable as e:
        return "unknown", None, str(e)
    return "exists", info, f"the key exists under sub-account {email}"


def _settle_with(result: VerifyResult, state: str, info: dict[str, Any] | None, detail: str, *, email: str,
                 source: str, searched: int, spent: int) -> VerifyResult:
    settled: dict[str, Any] = {"endpoint": IP_RESTRICTION_ENDPOINT, "email": email, "source": source,
                               "searched": searched, "uid_weight_spent": spent, "detail": detail}
    if state == "gone":
        settled["outcome"] = "deleted"
        return replace(result, status="deleted", settled=settled, tell_apart=(), causes=("deleted",),
                       reasons=(f"the master account reports no such key under sub-account {email}: it was "
                                "deleted",))
    if state == "unknown":
        settled["outcome"] = "not_settled"
        return _settled(result, settled)
    assert info is not None
    restricted = str(info.get("ipRestrict")).lower() == "true"
    raw_ips = info.get("ipList")
    ips = [str(x) for x in raw_ips] if isinstance(raw_ips, list) else []
    settled.update({"outcome": "exists", "ip_restrict": restricted, "ip_list": ips})
    if not restricted:
        settled["detail"] = (f"the key exists under sub-account {email} without an IP whitelist, yet Binance "
                             "rejects it here: it may lack a permission; treat it as live")
        return _settled(result, settled)
    shown = ", ".join(ips) or "(none listed)"
    return replace(result, status="live_ip_restricted", settled=settled, tell_apart=(),
                   causes=("ip_restricted_elsewhere",), risk=None,
                   reasons=(f"the key still exists under sub-account {email} and is IP-restricted to {shown}: "
                            "it is live from those addresses, and rejected from here",))


def _settled(result: VerifyResult, settled: dict[str, Any]) -> VerifyResult:
    return replace(result, settled=settled)


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
    from scanner.remote.exchanges.findings import verify_exchange_findings

    items = verify_exchange_findings(findings, api_url=api_url, env=env, timeout=timeout)
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
    if result.created_at:
        lines.append(f"created      {result.created_at} ({result.age_days} days ago)")
    if result.trading_authority_expires_at:
        lines.append(f"trading authority expires {result.trading_authority_expires_at}")
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
        lines.append({"rejected": "possible causes", "unknown": "why"}.get(result.status, "what it means"))
        lines.extend(f"  - {r}" for r in result.reasons)
        if result.error:
            lines.append(f"answer       {result.error.get('message')}")
    if result.settled:
        st = result.settled
        lines.append(f"master check {st.get('outcome')}: {st.get('detail')}")
    if result.tell_apart:
        lines.append("to tell a deleted key from a live IP-restricted one")
        lines.extend(f"  - {r}" for r in result.tell_apart)
    lines.append(f"server       {result.api_url}  at {result.checked_at}")
    if result.status in LIVE:
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
            "live_ip_restricted": ": the key exists and works from its whitelisted addresses only",
            "rejected": (": Binance rejected the key (-2015): deleted, OR live and IP-restricted to other "
                         "addresses; not proven dead"),
            "wrong_secret": ": this secret does not sign for this key (-1022); the key itself may be live",
            "deleted": ": the key no longer exists",
            "malformed": ": not a Binance API key (-2014)",
            "unknown": ": no verdict (neither live nor dead)"}.get(result.status, "")


__all__ = ["EXIT_CODES", "VerifyResult", "assess_risk", "key_age", "render_text", "settle_rejected", "unverifiable",
           "verify_credentials", "verify_findings"]
