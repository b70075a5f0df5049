"""Bybit (v5 API).

Facts (Bybit's v5 docs and its official SDK pybit, `_http_manager.py`): a signed call carries
X-BAPI-API-KEY, X-BAPI-TIMESTAMP (ms), X-BAPI-RECV-WINDOW and X-BAPI-SIGN = hex HMAC-SHA256 of
timestamp + api key + recv window + (the query string of a GET | the JSON body of a POST), keyed
with the secret (a self-generated RSA key signs the same string, RSASSA-PKCS1-v1_5 SHA-256, base64).
Errors come as {"retCode": N, "retMsg": "..."}, usually under HTTP 200; the error page also lists
HTTP 401 "use the correct key", so both are accepted as Bybit's answer when the body has that shape.
10003 "API key is invalid" (or of another environment), 10004 "error sign", 10005 permission
denied, 10010 "unmatched IP", 10002 timestamp outside the recv window, 33004 / -2015 key expired.

Verify: GET /v5/user/query-api ("any permission can access this endpoint"): readOnly, permissions,
ips, expiredAt, isMaster, userID. Revoke: a master-account key deletes itself with POST
/v5/user/delete-api, a sub-account key with POST /v5/user/delete-sub-api, or the master deletes a
sub-account's key with delete-sub-api and `apikey`; the calling key needs Account Transfer, Sub
Member Transfer or Withdrawal permission. Quarantine first (when the master deletes a sub-account's
key): POST /v5/user/update-sub-api with `apikey`, readOnly 1 and `ips`; a key that deletes itself
is not quarantined first (read-only and bound to other IPs, it could no longer delete itself). The docs' example gives `ips` as a
comma-separated string while the bybit-api TypeScript types say string[]: the string is sent.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from scanner.errors import CexguardError
from scanner.remote.errors import ApiError, AuthError, RemoteError, Unavailable, Unreachable
from scanner.remote.exchanges import ExchangeCredentials
from scanner.remote.exchanges.base import IP_RESTRICTED, NO_PERMISSION, WRONG_SECRET, Base, scalars
from scanner.remote.model import Permissions
from scanner.remote.transport import Dialect, HttpTransport, base_headers

RECV_WINDOW = 5000
QUERY_API = "/v5/user/query-api"
DELETE_API = "/v5/user/delete-api"
DELETE_SUB_API = "/v5/user/delete-sub-api"
UPDATE_API = "/v5/user/update-api"
UPDATE_SUB_API = "/v5/user/update-sub-api"
SERVER_TIME = "/v5/market/time"

CODE_TIMESTAMP = 10002
CODE_INVALID_KEY = 10003
CODE_SIGN = 10004
CODE_PERMISSION = 10005
CODE_IP = 10010
CODES_EXPIRED = (33004, -2015)
TRADING = ("ContractTrade", "Spot", "Options", "Derivatives", "CopyTrading", "BlockTrade", "Exchange")
TRANSFER = ("AccountTransfer", "SubMemberTransfer", "SubMemberTransferList")
CAN_DELETE = frozenset({"AccountTransfer", "SubMemberTransfer", "Withdraw"})


def _error(data: Any) -> tuple[int, str | None] | None:
    if not isinstance(data, dict):
        return None
    code, msg = data.get("retCode"), data.get("retMsg")
    if isinstance(code, int) and not isinstance(code, bool) and code != 0 and isinstance(msg, str):
        return code, msg
    return None


AUTH = frozenset({CODE_INVALID_KEY, CODE_SIGN, CODE_PERMISSION, CODE_IP, *CODES_EXPIRED})
DIALECT = Dialect("Bybit", _error, frozenset(AUTH), frozenset({200, 401}), errors_in_2xx=True)


def sign(secret: str, payload: str) -> str:
    if secret.startswith("-----BEGIN"):
        from scanner.remote.signing import load_private_key

        return load_private_key(secret.encode(), source="the Bybit RSA key").sign(payload.encode())
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


class Bybit(Base):
    name = "bybit"
    title = "Bybit"
    production_url = "https://api.bybit.com"
    management_page = "Account & Security -> API Management (API keys)"
    verify_endpoint = f"GET {QUERY_API}"
    dialect = DIALECT
    time_codes = frozenset({CODE_TIMESTAMP})
    rejections = {
        CODE_INVALID_KEY: ("deleted", ("deleted", "other_environment"),
                           ("Bybit does not know this API key (10003): deleted, or a key of another environment "
                            "(testnet, demo)",)),
        CODE_SIGN: WRONG_SECRET,
        CODE_IP: IP_RESTRICTED,
        CODE_PERMISSION: NO_PERMISSION,
        **{c: ("deleted", ("expired",), ("Bybit reports the key expired",)) for c in CODES_EXPIRED},
    }

    def request(self, transport: HttpTransport, creds: ExchangeCredentials, method: str, path: str,
                body: dict[str, Any] | None = None) -> Any:
        assert creds.secret is not None
        text = json.dumps(body, separators=(",", ":")) if body is not None else ""

        def prepare() -> tuple[str, bytes | None, dict[str, str]]:
            ts = str(transport.now_ms())
            headers = base_headers()
            headers.update({"X-BAPI-API-KEY": creds.api_key, "X-BAPI-TIMESTAMP": ts,
                            "X-BAPI-RECV-WINDOW": str(RECV_WINDOW), "X-BAPI-SIGN-TYPE": "2",
                            "X-BAPI-SIGN": sign(creds.secret or "", ts + creds.api_key + str(RECV_WINDOW) + text)})
            if method == "POST":
                headers["Content-Type"] = "application/json"
                return path, text.encode(), headers
            return path, None, headers

        return transport.exchange(method, path, prepare, api_key=creds.api_key)

    def server_time(self, transport: HttpTransport) -> int:
        data = transport.exchange("GET", SERVER_TIME, lambda: (SERVER_TIME, None, base_headers()))
        try:
            return int(data["time"])
        except (TypeError, KeyError, ValueError):
            raise Unavailable(f"GET {SERVER_TIME}: no time in the answer", endpoint=f"GET {SERVER_TIME}") from None

    def read_call(self, transport: HttpTransport, creds: ExchangeCredentials) -> Any:
        return self.request(transport, creds, "GET", QUERY_API)

    def read(self, data: Any, creds: ExchangeCredentials
             ) -> tuple[dict[str, Any], Permissions, str | None, dict[str, Any] | None]:
        result = data.get("result") if isinstance(data, dict) and data.get("retCode") == 0 else None
        ep = f"GET {QUERY_API}"
        if not isinstance(result, dict):
            raise Unavailable(f"{ep}: no result object in the answer: outcome unknown", endpoint=ep)
        perms, ips, ro = result.get("permissions"), result.get("ips"), result.get("readOnly")
        if (not isinstance(perms, dict) or not isinstance(ips, list) or ro not in (0, 1) or isinstance(ro, bool)
                or not all(isinstance(v, list) for v in perms.values())):
            raise Unavailable(f"{ep}: the answer lacks readOnly, permissions or ips: outcome unknown", endpoint=ep)
        if result.get("apiKey") not in (None, creds.api_key):
            raise Unavailable(f"{ep}: the answer is about another API key", endpoint=ep)
        granted = {str(x) for v in perms.values() for x in v}
        writes = ro == 0
        trade = writes and any(perms.get(k) for k in TRADING)
        bound = [str(x) for x in ips if str(x) not in ("", "*")]
        expires = result.get("expiredAt") if isinstance(result.get("expiredAt"), str) and result.get("expiredAt") else None
        p = Permissions(read=True, trade=bool(trade), withdraw=writes and "Withdraw" in granted,
                        transfer=writes and bool(granted & set(TRANSFER)), ip_restricted=bool(bound), expires=expires)
        account = {k: result[k] for k in ("userID", "isMaster", "parentUid") if k in result}
        created = result.get("createdAt") if isinstance(result.get("createdAt"), str) else None
        return scalars(result), p, created, account

    # ------------------------------------------------------------------------------------ revoke

    def revoke(self, *, leaked: ExchangeCredentials, master: ExchangeCredentials | None, transport: HttpTransport,
               execute: bool, quarantine_ips: list[str], audit: Any) -> Any:
        """Delete the key: by itself when it may (its secret known, and Account Transfer, Sub Member
        Transfer or Withdrawal permission), else a sub-account key through the master key. Dry run
        unless `execute`; a key Bybit no longer knows is `already_revoked`; every run is audited."""
        r = self.result(leaked, master, transport, execute, audit)
        try:
            self._revoke(r, leaked, master, transport, quarantine_ips)
        except RemoteError as e:
            mutated = any(s.action in ("quarantine", "delete") and s.outcome not in ("planned", "skipped")
                          for s in r.steps)
            r.status, r.message = "failed", str(e) + ("" if mutated else "; nothing was changed")
            for s in r.steps:
                if s.outcome == "planned":
                    s.outcome = "skipped"
            if isinstance(e, Unreachable) and not mutated:
                if audit is not None:
                    audit.append(r.audit_record())
                raise
        if audit is not None:
            audit.append(r.audit_record())
        return r

    def _finish(self, r: Any, status: str, message: str, *, playbook: bool = False,
                confirmed: bool | None = None) -> Any:
        r.status, r.message, r.confirmed = status, message, confirmed
        if playbook:
            r.playbook = self.playbook(r.key_redacted)
        return r

    def _state(self, transport: HttpTransport, leaked: ExchangeCredentials) -> tuple[str, Any]:
        """live | gone | refused | unknown, with the key's info or the error, as the key itself sees it."""
        try:
            data = self.call(transport, self.read_call, leaked)
            return "live", self.read(data, leaked)
        except AuthError as e:
            if e.code == CODE_INVALID_KEY or e.code in CODES_EXPIRED:
                return "gone", e
            return "refused", e
        except (ApiError, Unavailable) as e:
            return "unknown", e

    def _revoke(self, r: Any, leaked: ExchangeCredentials, master: ExchangeCredentials | None,
                transport: HttpTransport, ips: list[str]) -> Any:
        from scanner.remote.revoke import Step

        def step(action: str, request: str | None, description: str) -> Step:
            s = Step(action, request, description)
            r.steps.append(s)
            return s

        if master is not None and master.secret is None:
            raise CexguardError("the master key needs its secret (CEXGUARD_MASTER_API_SECRET)")
        own_path = None
        if leaked.secret is not None:
            s = step("check_key", f"GET {QUERY_API} (leaked key)", "ask Bybit about the leaked key with the key itself")
            state, info = self._state(transport, leaked)
            if state == "gone":
                s.outcome, s.detail = "ok", f"Bybit does not know the key (code {info.code})"
                return self._finish(r, "already_revoked", "Bybit does not know the key any more (deleted or expired); "
                                    "nothing to do", confirmed=True)
            if state == "unknown":
                s.outcome, s.detail = "unknown", str(info)
                return self._finish(r, "failed", f"could not check the key: {info}; nothing was changed")
            if state == "refused":
                s.outcome, s.detail = "error", f"Bybit refuses the key here (code {info.code})"
            else:
                raw, perms, _created, account = info
                is_master = account.get("isMaster") is True
                r.owner = {"type": "master_account" if is_master else "sub_account", "uid": account.get("userID"),
                           "parent_uid": None if is_master else account.get("parentUid"), "source": "query-api"}
                granted = {str(x) for v in (raw.get("permissions") or {}).values() for x in v}
                s.outcome = "ok"
                s.detail = "live, " + ("master-account key" if is_master else "sub-account key")
                if raw.get("readOnly") == 0 and granted & CAN_DELETE:
                    own_path = (DELETE_API, UPDATE_API) if is_master else (DELETE_SUB_API, UPDATE_SUB_API)
                elif is_master or master is None:
                    return self._finish(r, "not_revocable", "the key may not delete itself (it needs Account Transfer, "
                                        "Sub Member Transfer or Withdrawal permission and write access)"
                                        + ("" if is_master else " and no master key was given")
                                        + ": delete it by hand; nothing was changed", playbook=True)
        if own_path is None and master is None:
            return self._finish(r, "failed", "without the leaked key's secret (BYBIT_API_SECRET) or the master key "
                                "(CEXGUARD_MASTER_API_KEY and CEXGUARD_MASTER_API_SECRET) nothing can delete it; "
                                "nothing was changed", playbook=True)
        if own_path is not None:
            delete, update = own_path
            caller, body = leaked, None
            who = "the key deletes itself"
        else:
            assert master is not None
            delete, update, caller, body = DELETE_SUB_API, UPDATE_SUB_API, master, {"apikey": leaked.api_key}
            who = "the master account deletes its sub-account's key"
            r.owner = r.owner or {"type": "sub_account", "source": "master"}
        q = None
        if ips and own_path is None:
            q = step("quarantine", f"POST {update}", "make the key read-only and restrict it to " + ", ".join(ips))
        elif ips:
            step("quarantine", None, "not done: a read-only key bound to other IPs could no longer delete itself, "
                 "and it is deleted at once").outcome = "skipped"
        d = step("delete", f"POST {delete}", who)
        c = step("confirm", f"GET {QUERY_API} (leaked key)", "check Bybit no longer knows the key") \
            if leaked.secret is not None else None
        if not r.execute:
            return self._finish(r, "dry_run", f"nothing was changed; re-run with --yes: {who}")
        if q is not None:
            try:
                self.request(transport, caller, "POST", update,
                             {"apikey": leaked.api_key, "readOnly": 1, "ips": ",".join(ips)})
                q.outcome, q.detail = "ok", "read-only, trusted IPs only: " + ", ".join(ips)
            except RemoteError as e:  # deleting is what matters: go on
                q.outcome, q.detail = ("unknown" if isinstance(e, (Unavailable, Unreachable)) else "error"), str(e)
        try:
            self.request(transport, caller, "POST", delete, body if body is not None else {})
            d.outcome, d.detail = "ok", "deleted"
        except AuthError as e:
            d.outcome, d.detail = "error", str(e)
        except ApiError as e:
            d.outcome, d.detail = "error", str(e)
        except (Unavailable, Unreachable) as e:
            d.outcome, d.detail = "unknown", f"no answer, the delete may or may not have happened: {e}"
        if c is None:
            if d.outcome == "ok":
                return self._finish(r, "revoked", "Bybit accepted the delete; not checked (no secret for the "
                                    "leaked key): confirm in API Management")
            return self._finish(r, "failed", f"{d.detail}; check API Management, or run again")
        state, info = self._state(transport, leaked)
        c.outcome = "unknown" if state == "unknown" else "ok"
        c.detail = {"gone": "Bybit no longer knows the key", "live": "the key still works"}.get(state, str(info))
        if state == "gone":
            return self._finish(r, "revoked", "deleted the key; Bybit confirms it is gone", confirmed=True)
        if state == "live":
            return self._finish(r, "failed", f"the key still works after the delete ({d.detail}): delete it by hand "
                                "now", playbook=True, confirmed=False)
        if d.outcome == "ok":
            return self._finish(r, "revoked", "Bybit accepted the delete, but the check after it gave no verdict: "
                                "confirm in API Management")
        return self._finish(r, "failed", f"the outcome is unknown: {d.detail}; check API Management, or run again")


EXCHANGE = Bybit()
