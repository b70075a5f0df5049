"""What the exchange modules share: turning an answer into a verdict (the exchange's credential
codes -> statuses, everything else `unknown`), one clock resynchronisation on a timestamp error,
and `not_revocable` with the exchange's own playbook where its API cannot delete a key."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from scanner.errors import CexguardError
from scanner.remote.errors import ApiError, AuthError, RemoteError, Unavailable
from scanner.remote.exchanges import ExchangeCredentials, manual_playbook
from scanner.remote.model import Permissions, Verdict, assess
from scanner.remote.transport import Dialect, HttpTransport

# code -> (status, machine-readable causes, what a person should read)
Rejections = Mapping[Any, tuple[str, tuple[str, ...], tuple[str, ...]]]

DELETED = ("deleted", ("deleted",), ("the exchange does not know this API key: deleted, expired or never existed",))
WRONG_SECRET = ("wrong_secret", ("wrong_secret",),
                ("the signature was rejected: the secret does not belong to this API key; the key itself may still "
                 "be live with its real secret",))
WRONG_PASSPHRASE = ("wrong_secret", ("wrong_passphrase",),
                    ("the passphrase was rejected: it does not belong to this API key; the key itself may be live",))
IP_RESTRICTED = ("live_ip_restricted", ("ip_restricted_elsewhere",),
                 ("the key exists and is IP-restricted: this machine's address is not on its whitelist, and it "
                  "works from the whitelisted addresses (the exchange checks the whitelist before it tells whether "
                  "the secret is right, so the secret is not proven here)",))
NO_PERMISSION = ("rejected", ("no_permission",), ("the key lacks the permission this call needs",))



MAX_SEARCHED = 500  # sub-accounts whose keys are listed when the leaked key's own sub-account is not known


def code_msg_error(ok: str) -> Callable[[Any], tuple[str, str | None] | None]:
    """The error reader of the exchanges that answer {"code": "<digits>", "msg": ...} and a code `ok`
    when all went well (OKX "0", KuCoin "200000", Bitget "00000"), for their transport Dialect."""

    def error(data: Any) -> tuple[str, str | None] | None:
        if not isinstance(data, dict):
            return None
        code, msg = data.get("code"), data.get("msg")
        if isinstance(code, str) and code.isdigit() and code != ok and isinstance(msg, str):
            return code, msg
        return None

    return error


class SubAccount(NamedTuple):
    """A sub-account as the master's list names it (OKX, KuCoin); shown by its name."""

    name: str
    uid: str

    def __str__(self) -> str:
        return self.name

class Base:
    name = "?"
    title = "?"
    production_url = ""
    needs_passphrase = False
    management_page = "API Management"
    verify_endpoint = ""
    signature = "hmac-sha256"
    dialect: Dialect
    rejections: Rejections = {}
    time_codes: frozenset[Any] = frozenset()

    # -- the interface
    def transport(self, base_url: str, *, timeout: float) -> HttpTransport:
        return HttpTransport(base_url, dialect=self.dialect, timeout=timeout)

    def playbook(self, key_redacted: str) -> list[str]:
        return manual_playbook(self.title, self.management_page)

    def verify(self, credentials: ExchangeCredentials, transport: HttpTransport) -> Verdict:
        """One signed read-only call. Raises only CexguardError for setup problems (bad secret format,
        no connection at all); every answer becomes a status."""
        if credentials.secret is None:
            raise CexguardError(f"verifying a {self.title} key needs its secret")
        if self.needs_passphrase and credentials.passphrase is None:
            raise CexguardError(f"verifying a {self.title} key needs its passphrase")
        base = self.base(credentials, transport)
        try:
            data = self.call(transport, self.read_call, credentials)
            raw, perms, created, account = self.read(data, credentials)
        except AuthError as e:
            status, causes, reasons = self.rejections.get(
                e.code, ("rejected", ("rejected",), (f"{self.title} rejected the credentials",)))
            return Verdict(status=status, causes=causes, reasons=reasons, error=e.to_dict(), **base)
        except (ApiError, Unavailable) as e:
            return Verdict(status="unknown", error=e.to_dict(),
                           reasons=(f"no verdict: {e}", "the key may be live or dead; try again later"), **base)
        risk, why = assess(perms)
        raw = without_key(raw, credentials)
        return Verdict(status="live", permissions=raw, normalized=perms, risk=risk, risk_reasons=tuple(why),
                       created_at=created, account=account, reasons=("a signed call with this key succeeded",),
                       **base)

    def revoke(self, *, leaked: ExchangeCredentials, master: ExchangeCredentials | None, transport: HttpTransport,
               execute: bool, quarantine_ips: list[str], audit: Any) -> Any:
        """No API to delete this exchange's key: `not_revocable` with the playbook; nothing is sent."""
        result = self.result(leaked, master, transport, execute, audit)
        result.status = "not_revocable"
        result.message = (f"{self.title}'s API cannot delete this key (or cexguard does not use such an endpoint): "
                          "delete it by hand")
        result.playbook = self.playbook(leaked.redacted)
        return result

    # -- helpers
    def base(self, credentials: ExchangeCredentials, transport: HttpTransport) -> dict[str, Any]:
        return {"exchange": self.name, "key_fingerprint": credentials.fingerprint,
                "key_redacted": credentials.redacted, "api_url": transport.base_url,
                "endpoint": self.verify_endpoint, "signature": self.signature}

    def result(self, leaked: ExchangeCredentials, master: ExchangeCredentials | None, transport: HttpTransport,
               execute: bool, audit: Any) -> Any:
        from scanner.remote.revoke import RevokeResult

        return RevokeResult(status="failed", key_fingerprint=leaked.fingerprint, key_redacted=leaked.redacted,
                            master_fingerprint=master.fingerprint if master else None, api_url=transport.base_url,
                            execute=execute, exchange=self.name,
                            audit_log=str(audit.path) if audit is not None else None)

    def call(self, transport: HttpTransport, fn: Callable[..., Any], *args: Any) -> Any:
        """`fn(transport, *args)`; on the exchange's timestamp error, the clock is set from the
        server's once and the call made again."""
        try:
            return fn(transport, *args)
        except ApiError as e:
            if e.code not in self.time_codes:
                raise
        t0 = transport.clock()
        server_ms = self.server_time(transport)
        transport.set_server_time(server_ms, t0, transport.clock())
        return fn(transport, *args)

    def server_time(self, transport: HttpTransport) -> int:
        raise Unavailable(f"{self.title}: no server time to correct the clock with")

    def read_call(self, transport: HttpTransport, credentials: ExchangeCredentials) -> Any:
        raise NotImplementedError

    def read(self, data: Any, credentials: ExchangeCredentials
             ) -> tuple[dict[str, Any], Permissions, str | None, dict[str, Any] | None]:
        raise NotImplementedError


def scalars(d: Mapping[str, Any]) -> dict[str, Any]:
    """The exchange's own fields worth showing: scalars, and lists/dicts of scalars."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, (bool, int, float, str)) or v is None:
            out[k] = v
        elif isinstance(v, list) and all(isinstance(x, (str, int, float, bool)) for x in v):
            out[k] = list(v)
        elif isinstance(v, dict) and all(isinstance(x, list) for x in v.values()):
            out[k] = {kk: [str(x) for x in vv] for kk, vv in v.items()}
    return out


def without_key(raw: Mapping[str, Any], credentials: ExchangeCredentials) -> dict[str, Any]:
    """The exchange's own fields minus the key itself and any secret field: a verdict goes into scan
    output, which shows keys only redacted (Bybit's query-api, KuCoin's and Kraken's key info echo it)."""
    return {k: v for k, v in raw.items()
            if v != credentials.api_key and k.lower() not in ("apikey", "accesskey", "secret", "secretkey")}


def audit_and_return(result: Any, audit: Any) -> Any:
    if audit is not None:
        audit.append(result.audit_record())
    return result


__all__ = ["DELETED", "IP_RESTRICTED", "NO_PERMISSION", "WRONG_PASSPHRASE", "WRONG_SECRET", "Base", "MasterRevoke",
           "RemoteError", "scalars"]


class MasterRevoke(Base):
    """Sub-account keys deleted through the master account (OKX, Gate, HTX, MEXC, KuCoin): the same behaviour as
    Bybit's and Binance's revoke. Dry run unless `execute`; a key the exchange no longer knows (the
    key's own check) or that no sub-account of the master holds any more is `already_revoked`; a
    master-account key is `not_revocable` with the playbook; every run is audited; nothing is sent
    before the plan is printed, and the master's calls are read-only until the delete.

    An exchange supplies `sub_of(info)` (the sub-account a live key's own read names, None for a
    master-account key, `unknown_owner` when the read does not say), `locate(transport, master, api_key, hint)` (the sub-account that holds the
    key, listing the master's sub-accounts when there is no hint; None when none does),
    `delete_sub(transport, master, sub, api_key)` and `gone_codes` (the key's own check: unknown key);
    `missing_for_delete(leaked)` when the delete needs more of the leaked key than its id (KuCoin: its
    passphrase), with `delete_leaked` then given the leaked credentials."""

    gone_codes: frozenset[Any] = frozenset()
    unknown_owner: Any = object()  # what `sub_of` returns when a live key's own read does not name its account
    delete_request = ""  # e.g. "DELETE /api/v4/sub_accounts/{sub}/keys/{key}" for the plan

    def sub_of(self, info: Any) -> Any:
        raise NotImplementedError

    def search_uid(self, api_key: str, subs: list[SubAccount], cut: bool, uid: str,
                   keys: Callable[[Any], list[str]], listed: int) -> SubAccount | None:
        """The sub-account with this uid (the leaked key's own), if its key list holds `api_key`;
        Unavailable when the master's listing was cut (at `listed`) before it."""
        named = [sub for sub in subs if sub.uid == uid]
        if not named and cut:
            raise Unavailable(f"the master account has more than {listed} sub-accounts and none of those "
                              "listed is the key's: delete it by hand")
        return next((sub for sub in named if api_key in keys(sub)), None)

    def search_subs(self, api_key: str, subs: list[Any], cut: bool, keys: Callable[[Any], list[str]],
                    instead: str) -> Any:
        """The first of the master's sub-accounts whose key list holds `api_key`, asking at most
        MAX_SEARCHED of them; Unavailable when there are more (or the listing was cut), with `instead`:
        what the user can do."""
        for sub in subs[:MAX_SEARCHED]:
            if api_key in keys(sub):
                return sub
        if cut or len(subs) > MAX_SEARCHED:
            raise Unavailable(f"the master account has more than {MAX_SEARCHED} sub-accounts: {instead}")
        return None

    def locate(self, transport: HttpTransport, master: ExchangeCredentials, api_key: str, hint: Any) -> Any:
        raise NotImplementedError

    def delete_sub(self, transport: HttpTransport, master: ExchangeCredentials, sub: Any, api_key: str) -> None:
        raise NotImplementedError

    def master_owns(self, transport: HttpTransport, master: ExchangeCredentials, hint: Any) -> bool:
        """Whether the account a live key's own read names is the master account itself."""
        return False

    def missing_for_delete(self, leaked: ExchangeCredentials) -> str | None:
        """Why the master cannot delete this key with what was given (then `not_revocable`), or None."""
        return None

    def delete_leaked(self, transport: HttpTransport, master: ExchangeCredentials, sub: Any,
                      leaked: ExchangeCredentials) -> None:
        self.delete_sub(transport, master, sub, leaked.api_key)

    def _own_state(self, transport: HttpTransport, leaked: ExchangeCredentials) -> tuple[str, Any]:
        """live | gone | refused | unknown, with the key's info or the error, as the key itself sees it."""
        try:
            data = self.call(transport, self.read_call, leaked)
            return "live", self.read(data, leaked)
        except AuthError as e:
            return ("gone" if e.code in self.gone_codes else "refused"), e
        except (ApiError, Unavailable) as e:
            return "unknown", e

    def revoke(self, *, leaked: ExchangeCredentials, master: ExchangeCredentials | None, transport: HttpTransport,
               execute: bool, quarantine_ips: list[str], audit: Any) -> Any:
        from scanner.remote.errors import Unreachable

        r = self.result(leaked, master, transport, execute, audit)
        try:
            self._revoke(r, leaked, master, transport, quarantine_ips)
        except RemoteError as e:
            mutated = any(s.action == "delete" and s.outcome not in ("planned", "skipped") for s in r.steps)
            r.status, r.message = "failed", str(e) + ("" if mutated else "; nothing was changed")
            for s in r.steps:
                if s.outcome == "planned":
                    s.outcome = "skipped"
            if isinstance(e, Unreachable) and not mutated:
                audit_and_return(r, audit)
                raise
        return audit_and_return(r, audit)

    def _finish(self, r: Any, status: str, message: str, *, playbook: bool = False,
                confirmed: bool | None = None) -> Any:
        r.status, r.message, r.confirmed = status, message, confirmed
        if playbook:
            r.playbook = self.playbook(r.key_redacted)
        return r

    def _revoke(self, r: Any, leaked: ExchangeCredentials, master: ExchangeCredentials | None,
                transport: HttpTransport, ips: list[str]) -> Any:
        from scanner.remote.revoke import Step

        def step(action: str, request: str | None, description: str) -> Step:
            s = Step(action, request, description)
            r.steps.append(s)
            return s

        if master is not None and (master.secret is None or (self.needs_passphrase and master.passphrase is None)):
            raise CexguardError("the master key needs its secret (CEXGUARD_MASTER_API_SECRET)"
                                + (" and passphrase (CEXGUARD_MASTER_API_PASSPHRASE)" if self.needs_passphrase else ""))
        if ips:
            step("quarantine", None, f"not done: {self.title}'s sub-account key is deleted at once").outcome = "skipped"
        hint = None
        live = False  # the key itself proved it works (its owner may not be told)
        if leaked.secret is not None and (not self.needs_passphrase or leaked.passphrase is not None):
            s = step("check_key", f"{self.verify_endpoint} (leaked key)",
                     f"ask {self.title} about the leaked key with the key itself")
            state, info = self._own_state(transport, leaked)
            if state == "gone":
                s.outcome, s.detail = "ok", f"{self.title} does not know the key (code {info.code})"
                return self._finish(r, "already_revoked", f"{self.title} does not know the key any more (deleted); "
                                    "nothing to do", confirmed=True)
            if state == "live":
                hint = self.sub_of(info)
                live = True
                s.outcome = "ok"
                if hint is self.unknown_owner:
                    hint = None
                    s.detail = "live; its own answer does not say which account holds it"
                elif hint is None:
                    s.detail = "live, a master-account key"
                    r.owner = {"type": "master_account", "source": "the key's own read"}
                    return self._finish(r, "not_revocable", f"a master-account key cannot be deleted through "
                                        f"{self.title}'s API: delete it by hand; nothing was changed", playbook=True)
                else:
                    s.detail = f"live, a key of sub-account {hint}"
            else:
                s.outcome = "unknown" if state == "unknown" else "error"
                s.detail = str(info)
        missing = self.missing_for_delete(leaked)
        if master is None and missing:
            return self._finish(r, "not_revocable", f"{missing}: delete it by hand; nothing was changed",
                                playbook=True)
        if master is None:
            return self._finish(r, "failed", f"only the master account can delete a sub-account's key through "
                                f"{self.title}'s API: set CEXGUARD_MASTER_API_KEY and CEXGUARD_MASTER_API_SECRET"
                                + (" and CEXGUARD_MASTER_API_PASSPHRASE" if self.needs_passphrase else "")
                                + "; nothing was changed", playbook=True)
        f = step("find_owner", None, "find the sub-account that holds the key (the master's read-only calls)")
        sub = self.locate(transport, master, leaked.api_key, hint)
        if sub is None and hint is not None and self.master_owns(transport, master, hint):
            f.outcome, f.detail = "ok", "the key belongs to the master account itself"
            r.owner = {"type": "master_account", "source": "master"}
            return self._finish(r, "not_revocable", f"a key of the master account itself cannot be deleted through "
                                f"{self.title}'s API: delete it by hand; nothing was changed", playbook=True)
        if sub is None and hint is not None:
            f.outcome, f.detail = "ok", f"sub-account {hint} of this master does not hold the key"
            return self._finish(r, "failed", "the key works but no sub-account of this master account holds it "
                                "(the key of another master account?): nothing was changed", playbook=True)
        if sub is None and live:
            f.outcome, f.detail = "ok", "no sub-account of this master holds the key"
            return self._finish(r, "failed", "the key works but no sub-account of this master account holds it (a "
                                "key of the master account itself, or of another account): delete it by hand; nothing "
                                "was changed", playbook=True)
        if sub is None:
            f.outcome, f.detail = "ok", "no sub-account of this master holds the key"
            r.owner = {"type": "unknown", "source": "master"}
            return self._finish(r, "already_revoked", "no sub-account of this master account holds the key: already "
                                "deleted (or a key of another account: check the master account is the right one)",
                                confirmed=True)
        f.outcome, f.detail = "ok", f"sub-account {sub}"
        r.owner = {"type": "sub_account", "sub_account": str(sub), "source": "master"}
        if missing:
            return self._finish(r, "not_revocable", f"{missing}: delete sub-account {sub}'s key by hand; nothing "
                                "was changed", playbook=True)
        d = step("delete", self.delete_request, f"the master account deletes sub-account {sub}'s key")
        c = step("confirm", None, "check no sub-account of the master holds the key any more")
        if not r.execute:
            return self._finish(r, "dry_run", f"nothing was changed; re-run with --yes: the master account deletes "
                                f"sub-account {sub}'s key")
        try:
            self.delete_leaked(transport, master, sub, leaked)
            d.outcome, d.detail = "ok", "deleted"
        except ApiError as e:
            d.outcome, d.detail = "error", str(e)
        except Unavailable as e:
            d.outcome, d.detail = "unknown", f"no answer, the delete may or may not have happened: {e}"
        try:
            still = self.locate(transport, master, leaked.api_key, sub)
        except (ApiError, Unavailable) as e:
            c.outcome, c.detail = "unknown", str(e)
            if d.outcome == "ok":
                return self._finish(r, "revoked", f"{self.title} accepted the delete, but the check after it gave no "
                                    "verdict: confirm in API Management")
            return self._finish(r, "failed", f"the outcome is unknown: {d.detail}; check API Management, or run again")
        c.outcome, c.detail = "ok", ("the key is still there" if still is not None else "the key is gone")
        if still is None:
            return self._finish(r, "revoked", f"deleted the key; {self.title} confirms no sub-account holds it",
                                confirmed=True)
        return self._finish(r, "failed", f"the key is still there after the delete ({d.detail}): delete it by hand now",
                            playbook=True, confirmed=False)
