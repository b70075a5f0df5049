"""Delete a leaked sub-account key through the master account, or say why that cannot be done.

An account cannot delete its own ordinary API key through the API; a master account can delete its
sub-accounts' keys (and a Binance Link broker its Link sub-accounts' keys). So:

1. find the owner: `--email`, else the leaked key's `uid` (GET /api/v3/account with the leaked
   pair) matched against the master's GET /sapi/v1/sub-account/list, else an earlier audit record;
2. check through the master that the key is there (GET .../subAccountApi/ipRestriction);
3. print the plan; without `execute` stop (dry run: only reads were sent);
4. optionally quarantine (IP-restrict) the key, DELETE it, then check it is gone: through the master
   and, when its secret is known, by calling with the leaked key itself.

Every run appends one JSON line to the audit log (fingerprints and outcomes; no secrets).
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scanner import __version__
from scanner.errors import CexguardError
from scanner.safetext import safe
from scanner.remote.binance import (
    CODE_BAD_KEY_ID,
    CODE_REJECTED,
    ApiError,
    AuthError,
    BinanceClient,
    Credentials,
    RemoteError,
    Transport,
    Unavailable,
    Unreachable,
)

STATUSES = ("revoked", "already_revoked", "not_revocable", "dry_run", "failed")
AUDIT_ENV = "CEXGUARD_AUDIT_LOG"

EP_LIST = "GET /sapi/v1/sub-account/list"
EP_ACCOUNT = "GET /api/v3/account"
EP_IP_GET = "GET /sapi/v1/sub-account/subAccountApi/ipRestriction"
EP_IP_POST = "POST /sapi/v2/sub-account/subAccountApi/ipRestriction"
EP_DELETE = "DELETE /sapi/v1/sub-account/subAccountApi"
EP_BROKER_DELETE = "DELETE /sapi/v1/broker/subAccountApi"
EP_RESTRICTIONS = "GET /sapi/v1/account/apiRestrictions"



def playbook(key_redacted: str) -> list[str]:
    """What to do by hand when the API cannot delete the key (the master account's own key)."""
    return [
        (f"Log in to Binance as the account that owns the key, open API Management and find the key "
         f"{key_redacted}."),
        "Click Delete, not Disable: a disabled key can be re-enabled, deleting is irreversible.",
        ("If you still need API access, create a new key with withdrawals disabled and access "
         "restricted to trusted IPs (IP whitelist)."),
        ("Keep the new key out of the code: read it from an environment variable or a secret manager; "
         "do not commit it again (run cexguard as a pre-commit hook)."),
        ("Review the last 30 days: trade history, open orders (cancel any you did not place), deposits, "
         "withdrawals and transfers, and the API key's activity in the API logs."),
    ]


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class Step:
    action: str  # find_owner | check_key | quarantine | delete | confirm
    request: str | None
    description: str
    outcome: str = "planned"  # planned | ok | error | unknown | skipped
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "request": self.request, "description": self.description,
                "outcome": self.outcome, "detail": self.detail}


@dataclass
class RevokeResult:
    status: str
    key_fingerprint: str
    key_redacted: str
    master_fingerprint: str | None
    api_url: str
    execute: bool
    exchange: str = "binance"
    owner: dict[str, Any] | None = None
    steps: list[Step] = field(default_factory=list)
    message: str = ""
    confirmed: bool | None = None
    playbook: list[str] | None = None
    audit_log: str | None = None
    time: str = field(default_factory=_now)

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "exchange": self.exchange,
            "message": self.message,
            "key": {"fingerprint": self.key_fingerprint, "redacted": self.key_redacted},
            "master_key_fingerprint": self.master_fingerprint,
            "owner": self.owner,
            "dry_run": not self.execute,
            "steps": [s.to_dict() for s in self.steps],
            "confirmed": self.confirmed,
            "playbook": self.playbook,
            "api_url": self.api_url,
            "audit_log": self.audit_log,
            "time": self.time,
        }

    def audit_record(self) -> dict[str, Any]:
        return {
            "time": self.time, "tool": "cexguard", "version": __version__, "command": "revoke", "exchange": self.exchange,
            "mode": "execute" if self.execute else "dry_run", "api_url": self.api_url,
            "key_fingerprint": self.key_fingerprint, "key_redacted": self.key_redacted,
            "master_key_fingerprint": self.master_fingerprint, "owner": self.owner,
            "actions": [{"action": s.action, "request": s.request, "outcome": s.outcome} for s in self.steps],
            "status": self.status, "confirmed": self.confirmed, "message": self.message,
        }


# --------------------------------------------------------------------------------------- audit log

def default_audit_path(env: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if env is None else env
    if environ.get(AUDIT_ENV):
        return Path(environ[AUDIT_ENV]).expanduser()
    state = environ.get("XDG_STATE_HOME") or str(Path(environ.get("HOME") or Path.home()) / ".local" / "state")
    return Path(state) / "cexguard" / "revoke-audit.jsonl"


class AuditLog:
    """Append-only JSON lines. Opened (and so checked) before anything is sent."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            os.close(fd)
        except OSError as e:
            raise CexguardError(f"cannot write the audit log {path}: {e.strerror}") from None

    def append(self, record: Mapping[str, Any]) -> None:
        line = json.dumps(record, sort_keys=True, ensure_ascii=True) + "\n"
        try:
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(line)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as e:
            raise CexguardError(f"cannot write the audit log {self.path}: {e.strerror}") from None

    def known_email(self, key_fingerprint: str) -> str | None:
        """The sub-account an earlier run found for this key, if any."""
        return known_email(self.path, key_fingerprint)


def read_audit_log(path: Path, key_fingerprint: str | None = None) -> list[dict[str, Any]]:
    """The records of an audit log (those about one key when given), oldest first; a missing or
    unreadable log is an empty list, a damaged line is skipped."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and (key_fingerprint is None or rec.get("key_fingerprint") == key_fingerprint):
            out.append(rec)
    return out


def known_email(path: Path, key_fingerprint: str) -> str | None:
    """The sub-account an earlier revoke run recorded for this key, if any (read only)."""
    for rec in reversed(read_audit_log(path, key_fingerprint)):
        owner = rec.get("owner")
        if isinstance(owner, dict) and owner.get("type") == "sub_account" and isinstance(owner.get("email"), str):
            return str(owner["email"])
    return None


# ------------------------------------------------------------------------------------------ revoke

def _not_found(e: ApiError) -> bool:
    """Binance says the key is not there: -2008 (invalid Api-Key ID) under HTTP 400/401, and nothing
    else. A message that happens to say "not found", another code or status proves nothing."""
    return isinstance(e, AuthError) and e.code == CODE_BAD_KEY_ID


def _subs_match(subs: Iterable[Mapping[str, Any]], uid: Any) -> Mapping[str, Any] | None:
    for s in subs:
        for field_name in ("subUserId", "uid", "userId"):
            if field_name in s and str(s[field_name]) == str(uid):
                return s
    return None


class _Revoke:
    def __init__(self, *, leaked: Credentials, master: Credentials, transport: Transport, execute: bool,
                 audit: AuditLog | None) -> None:
        self.leaked = leaked
        self.transport = transport
        self.audit = audit
        self.m = BinanceClient(transport, master)
        self.l = BinanceClient(transport, leaked) if leaked.signer is not None else None
        self.mutated = False
        self.leaked_code: Any = None
        self.r = RevokeResult(status="failed", key_fingerprint=leaked.fingerprint, key_redacted=leaked.redacted,
                              master_fingerprint=master.fingerprint, api_url=transport.base_url, execute=execute,
                              audit_log=str(audit.path) if audit else None)

    # -- helpers
    def step(self, action: str, request: str | None, description: str) -> Step:
        s = Step(action, request, description)
        self.r.steps.append(s)
        return s

    def finish(self, status: str, message: str, *, with_playbook: bool = False) -> RevokeResult:
        """The run's final status: every step returns this result, or None to go on."""
        self.r.status = status
        self.r.message = message
        if with_playbook:
            self.r.playbook = playbook(self.leaked.redacted)
        return self.r

    def leaked_status(self) -> str:
        """live | invalid | unknown | skipped: what the leaked key itself says (the Binance code of an
        `invalid` is kept in `leaked_code`)."""
        if self.l is None:
            return "skipped"
        from scanner.remote.verify import verify_credentials

        v = verify_credentials(self.leaked, transport=self.transport)
        if v.status in ("live", "unknown"):
            self.leaked_code = None
            return v.status
        self.leaked_code = (v.error or {}).get("code")
        return "invalid"  # rejected, wrong_secret, deleted, malformed: Binance refuses the key

    def leaked_uid(self) -> Any:
        assert self.l is not None
        uid = self.l.account().get("uid")
        if isinstance(uid, bool) or not isinstance(uid, (int, str)) or not str(uid).isdigit():
            raise Unavailable(f"{EP_ACCOUNT}: the answer has no account uid", endpoint=EP_ACCOUNT)
        return uid

    def own_key_check(self, uid: Any) -> RevokeResult | None:
        """If the leaked key belongs to the master account itself, the run ends not_revocable."""
        s = self.step("check_owner", EP_ACCOUNT, "compare with the master account's own uid")
        master_uid = self.m.account().get("uid")
        s.outcome = "ok"
        if uid is not None and str(uid) == str(master_uid):
            s.detail = "the key belongs to the master account itself"
            return self.finish("not_revocable", "the leaked key belongs to the master account itself: Binance does "
                        "not let an account delete its own key through the API; delete it by hand",
                        with_playbook=True)
        s.detail = "not the master account"
        return None

    # -- flow
    def run(self, *, email: str | None, broker: bool, sub_account_id: str | None, ips: list[str]) -> RevokeResult:
        if self.leaked.api_key == self.m.credentials.api_key:
            return self.finish("not_revocable", "the leaked key is the master account's own key (CEXGUARD_MASTER_API_KEY): "
                        "Binance does not let an account delete its own key through the API; delete it by hand",
                        with_playbook=True)
        if broker:
            assert sub_account_id is not None
            return self.broker(sub_account_id)
        owner = self.find_owner(email)
        if isinstance(owner, RevokeResult):
            return owner
        return self.sub_account(owner, ips)

    def find_owner(self, email: str | None) -> str | RevokeResult:
        """The owning sub-account's email, or the run's final result."""
        source = "--email" if email else None
        rejected: AuthError | None = None
        if not email and self.l is not None:
            s = self.step("find_owner", EP_ACCOUNT, "read the leaked key's account uid")
            try:
                uid = self.leaked_uid()
            except AuthError as e:
                rejected = e
                s.outcome, s.detail = "error", f"the leaked key is rejected (Binance code {e.code})"
            except (ApiError, Unavailable) as e:
                s.outcome, s.detail = "unknown", str(e)
                return self.finish("failed", f"cannot identify the key's account: {e}; nothing was changed")
            else:
                s.outcome, s.detail = "ok", f"uid {uid}"
                s2 = self.step("find_owner", EP_LIST, "match the uid with the master's sub-accounts")
                match = _subs_match(self.m.sub_accounts(), uid)
                if match is not None:
                    s2.outcome, s2.detail = "ok", f"sub-account {match.get('email')}"
                    email, source = str(match.get("email")), "uid"
                else:
                    s2.outcome, s2.detail = "ok", "no sub-account has this uid"
                    if (done := self.own_key_check(uid)) is not None:
                        return done
                    return self.finish("failed", f"the key belongs to account uid {uid}, which is not a sub-account of "
                                "this master account: only that account's owner can delete it (by hand)",
                                with_playbook=True)
        if not email and self.audit is not None:
            email = self.audit.known_email(self.leaked.fingerprint)
            if email:
                source = "audit-log"
        if not email:
            if rejected is not None:
                return self.finish("failed", f"Binance rejects the leaked key (code {rejected.code}): it was deleted, or it "
                            "is IP-restricted so this machine cannot use it; its sub-account cannot be found from "
                            "the key. Re-run with --email EMAIL to check and delete it through the master account")
            return self.finish("failed", "cannot tell which sub-account owns the key: pass --email EMAIL, or set "
                        "BINANCE_API_SECRET (or BINANCE_PRIVATE_KEY_FILE) so cexguard can read the key's uid")
        assert email is not None
        if source != "uid":
            s = self.step("find_owner", EP_LIST, f"check {email} is a sub-account of this master account")
            subs = self.m.sub_accounts(email=email)
            match = next((x for x in subs if str(x.get("email", "")).lower() == email.lower()), None)
            if match is None:
                s.outcome, s.detail = "error", "no such sub-account"
                if (self.l is not None and rejected is None and self.leaked_status() == "live"
                        and (done := self.own_key_check(self.leaked_uid())) is not None):
                    return done
                return self.finish("failed", f"{email} is not a sub-account of this master account; nothing was changed")
            s.outcome, s.detail = "ok", f"sub-account {email}"
            if match.get("isAssetManagementSubAccount") is True:
                self.r.owner = {"type": "sub_account", "email": email, "source": source}
                return self.finish("failed", f"{email} is an asset-management sub-account: Binance does not let a master "
                            "account manage its API keys through the API; delete the key by hand",
                            with_playbook=True)
        self.r.owner = {"type": "sub_account", "email": email, "source": source}
        return email

    def key_state(self, email: str) -> tuple[str, str]:
        """exists | gone | unknown, as the master account sees the key under `email`."""
        try:
            info = self.m.sub_account_api_ip_restriction(email, self.leaked.api_key)
        except ApiError as e:
            if _not_found(e):
                return "gone", f"Binance: no such key under {email} (code {e.code})"
            return "unknown", str(e)
        except Unavailable as e:
            return "unknown", str(e)
        restricted = str(info.get("ipRestrict")).lower() == "true"
        raw_ips = info.get("ipList")
        ips = [str(x) for x in raw_ips] if isinstance(raw_ips, list) else []
        return "exists", ("IP-restricted to " + ", ".join(ips)) if restricted else "no IP restriction"

    def sub_account(self, email: str, ips: list[str]) -> RevokeResult:
        s = self.step("check_key", EP_IP_GET, f"check the key exists under {email}")
        state, detail = self.key_state(email)
        s.outcome, s.detail = {"exists": "ok", "gone": "ok", "unknown": "unknown"}[state], detail
        if state == "unknown":
            return self.finish("failed", f"could not check the key through the master account: {detail}; nothing was changed")
        if state == "gone":
            live = self.leaked_status()
            if live == "live":
                if (done := self.own_key_check(self.leaked_uid())) is not None:
                    return done
                return self.finish("failed", f"the key still works but is not under sub-account {email} (wrong --email?); "
                            "nothing was changed")
            tail = ", and the key itself is rejected" if live == "invalid" else ""
            self.r.confirmed = True
            return self.finish("already_revoked", f"Binance reports no such key under sub-account {email}{tail}; "
                        "nothing to do")
        q = self.step("quarantine", EP_IP_POST, "restrict the key to " + ", ".join(ips)) if ips else None
        d = self.step("delete", EP_DELETE, f"delete the key from sub-account {email}")
        c = self.step("confirm", EP_IP_GET + (f" + {EP_RESTRICTIONS} (leaked key)" if self.l else ""),
                      "check the key is gone")
        if not self.r.execute:
            return self.finish("dry_run", f"the key exists under sub-account {email}; nothing was changed. "
                        "Re-run with --yes to " + ("quarantine and " if ips else "") + "delete it")
        self.mutated = True
        if q is not None:
            try:
                self.m.restrict_sub_account_api(email, self.leaked.api_key, ips)
                q.outcome, q.detail = "ok", "trusted IPs only: " + ", ".join(ips)
            except RemoteError as e:  # deleting is what matters: go on
                q.outcome, q.detail = ("unknown" if isinstance(e, (Unavailable, Unreachable)) else "error"), str(e)
        gone_before = self._delete(d, lambda: self.m.delete_sub_account_api(email, self.leaked.api_key))
        state, detail = self.key_state(email)
        live = self.leaked_status()
        c.outcome = "ok" if state != "unknown" else "unknown"
        c.detail = detail + (f"; leaked key: {live}" if live != "skipped" else "")
        return self.decide(d, state == "gone", state == "exists", live, gone_before, f"sub-account {email}", detail)

    def _delete(self, d: Step, call: Any) -> bool:
        """Run the DELETE; returns True when Binance says the key was already gone."""
        try:
            call()
        except ApiError as e:
            if _not_found(e):
                d.outcome, d.detail = "ok", f"already gone (Binance code {e.code})"
                return True
            d.outcome, d.detail = "error", str(e)
        except (Unavailable, Unreachable) as e:
            d.outcome, d.detail = "unknown", f"no answer, the delete may or may not have happened: {e}"
        else:
            d.outcome, d.detail = "ok", "deleted"
        return False

    def decide(self, d: Step, gone: bool, exists: bool, live: str, gone_before: bool, where: str,
               state: str = "") -> RevokeResult:
        if live == "live":
            self.r.confirmed = False
            return self.finish("failed", f"the key still works after the delete ({d.detail}): delete it by hand now",
                        with_playbook=True)
        if gone:
            self.r.confirmed = True
            if gone_before:
                return self.finish("already_revoked", f"the key was already gone from {where}")
            return self.finish("revoked", f"deleted the key from {where}; Binance confirms it is gone")
        if exists:
            self.r.confirmed = False
            return self.finish("failed", f"the key still exists under {where} ({state}); the delete did not take "
                        f"effect: {d.detail}")
        # the check gave no verdict
        if d.outcome == "ok" and not gone_before:
            self.r.confirmed = None
            extra = "; the leaked key is rejected" if live == "invalid" else ""
            return self.finish("revoked", f"Binance accepted the delete for {where}, but the check after it gave no "
                        f"verdict{extra}: confirm in API Management")
        if gone_before:
            return self.finish("already_revoked", f"Binance says the key is not in {where}")
        return self.finish("failed", f"the outcome is unknown: {d.detail}; check API Management, or run again")

    def broker(self, sub_account_id: str) -> RevokeResult:
        self.r.owner = {"type": "broker_sub_account", "sub_account_id": sub_account_id, "source": "--sub-account-id"}
        where = f"Binance Link sub-account {sub_account_id}"
        before = self.leaked_status()
        if before != "skipped":
            self.step("check_key", f"{EP_RESTRICTIONS} (leaked key)", "call with the leaked key").outcome = "ok"
            self.r.steps[-1].detail = f"leaked key: {before}"
        d = self.step("delete", EP_BROKER_DELETE, f"delete the key from {where}")
        c = self.step("confirm", f"{EP_RESTRICTIONS} (leaked key)", "check the leaked key is rejected") \
            if self.l is not None else None
        if not self.r.execute:
            note = f" (the leaked key is {before} now)" if before != "skipped" else ""
            return self.finish("dry_run", f"nothing was changed{note}. Re-run with --yes to delete the key "
                        f"from {where}")
        self.mutated = True
        gone_before = self._delete(d, lambda: self.m.delete_broker_sub_account_api(sub_account_id,
                                                                                  self.leaked.api_key))
        live = self.leaked_status()
        if c is not None:
            c.outcome, c.detail = ("ok" if live != "unknown" else "unknown"), f"leaked key: {live}"
        # Binance Link has no confirmed endpoint to look a key up: the leaked key's own answer is the check
        if live == "live":
            return self.decide(d, False, False, live, gone_before, where)
        if gone_before:
            return self.finish("already_revoked", f"Binance says the key is not in {where}")
        if d.outcome == "ok":
            # the key's own answer confirms the delete only if it says "unknown key" (-2008), or
            # "rejected" (-2015) for a key that worked just before (-2015 also means "IP-restricted")
            self.r.confirmed = True if live == "invalid" and (
                self.leaked_code == CODE_BAD_KEY_ID or (self.leaked_code == CODE_REJECTED and before == "live")
            ) else None
            tail = {"invalid": "; the key is now rejected",
                    "skipped": "; not checked (no secret or private key for the leaked key)"}.get(
                        live, "; the check after it gave no verdict: confirm in API Management")
            return self.finish("revoked", f"deleted the key from {where}{tail}")
        return self.finish("failed", f"{d.detail}; check API Management, or run again")


def check_options(*, email: str | None, broker: bool, sub_account_id: str | None,
                  quarantine_ips: Iterable[str]) -> None:
    """Refuse option combinations that make no sense, before anything is read or sent."""
    if broker and not sub_account_id:
        raise CexguardError("--broker needs --sub-account-id ID")
    if sub_account_id and not broker:
        raise CexguardError("--sub-account-id is for Binance Link sub-accounts: add --broker")
    if broker and email:
        raise CexguardError("--email is for ordinary sub-accounts; Binance Link sub-accounts use --sub-account-id")
    if broker and list(quarantine_ips):
        raise CexguardError("--quarantine-ip is not supported with --broker")
    if email is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+", email.strip()):
        raise CexguardError(f"--email: {email!r} is not an email address")


def revoke_key(*, leaked: Credentials, master: Credentials, transport: Transport, email: str | None = None,
               broker: bool = False, sub_account_id: str | None = None, quarantine_ips: Iterable[str] = (),
               execute: bool = False, audit_log: Path | None = None) -> RevokeResult:
    """Revoke (or, without `execute`, plan to revoke) the leaked key. Every outcome is a status in
    the result; a CexguardError is raised only for setup problems found before anything changed
    (such as an unreachable server), after the audit record is written."""
    ips = list(quarantine_ips)
    check_options(email=email, broker=broker, sub_account_id=sub_account_id, quarantine_ips=ips)
    audit = AuditLog(audit_log) if audit_log is not None else None
    run = _Revoke(leaked=leaked, master=master, transport=transport, execute=execute, audit=audit)
    setup_error: Unreachable | None = None
    try:
        run.run(email=email.strip() if email else None, broker=broker, sub_account_id=sub_account_id, ips=ips)
    except RemoteError as e:
        run.r.status = "failed"
        run.r.message = str(e) + ("" if run.mutated else "; nothing was changed")
        for s in run.r.steps:
            if s.outcome == "planned":
                s.outcome = "skipped"
        if isinstance(e, Unreachable) and not run.mutated:
            setup_error = e
    if audit is not None:
        audit.append(run.r.audit_record())
    if setup_error is not None:
        raise setup_error
    return run.r


# -------------------------------------------------------------------------------------------- text

def render_text(result: RevokeResult) -> str:
    lines = [f"key      {result.key_redacted}  ({result.key_fingerprint})"]
    o = result.owner
    if o and o.get("type") == "sub_account":
        how = {"--email": "given with --email", "uid": "found from the key's uid",
               "audit-log": "from an earlier run's audit record"}.get(str(o.get("source")), "")
        lines.append(f"owner    sub-account {o.get('email')} ({how})")
    elif o and o.get("type") == "broker_sub_account":
        lines.append(f"owner    Binance Link sub-account {o.get('sub_account_id')}")
    elif o:
        lines.append("owner    " + ", ".join(f"{k} {v}" for k, v in o.items() if v is not None))
    if result.steps:
        lines.append("steps" if result.execute else "steps (dry run: only reads are sent)")
        for i, s in enumerate(result.steps, 1):
            mark = f"  [{s.outcome}{': ' + s.detail if s.detail else ''}]"
            lines.append(f"  {i}. {s.description}: {s.request or ''}{mark}")
    lines.append(f"status   {result.status}: {result.message}")
    if result.playbook:
        lines.append("what to do by hand")
        lines.extend(f"  {i}. {p}" for i, p in enumerate(result.playbook, 1))
    if result.audit_log:
        lines.append(f"audit    appended to {result.audit_log}")
    return "\n".join(safe(line) for line in lines) + "\n"  # server values may hold escapes
