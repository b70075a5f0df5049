"""Gate (APIv4).

Facts (Gate's APIv4 docs, "Authentication" and "Error handling"; its official SDK gateapi-python,
`SubAccountApi`): a signed call carries KEY, Timestamp (Unix seconds) and SIGN = hex HMAC-SHA512
of METHOD + "\\n" + path (with /api/v4) + "\\n" + query string + "\\n" + hex SHA-512 of the body +
"\\n" + Timestamp, keyed with the secret; a Timestamp more than 60 s from the server's is refused.
Every error is a non-2xx answer {"label": "...", "message": "..."}; authentication errors come with
HTTP 401: INVALID_KEY invalid API key, INVALID_SIGNATURE, IP_FORBIDDEN request IP not in the
whitelist, REQUEST_EXPIRED timestamp far from the server's, INVALID_CREDENTIALS, FORBIDDEN and
READ_ONLY (the key lacks a permission). A 400 with one of those labels is read the same.

Verify: GET /api/v4/account/detail: user_id, ip_whitelist, currency_pairs, key.mode, tier. It
does not say the key's permissions (those are readable only by the master account, for its
sub-accounts' keys): the normalised permissions are read=True, the rest unknown, ip_restricted
from ip_whitelist. Revoke: a sub-account's key is deleted by the master with DELETE
/api/v4/sub_accounts/{user_id}/keys/{key} (HTTP 204, no body); the master finds the sub-account
from the leaked key's own user_id, else by listing GET /api/v4/sub_accounts and each one's GET
/api/v4/sub_accounts/{user_id}/keys. A master-account key has no API delete: `not_revocable`.
"""
from __future__ import annotations

import hashlib
import hmac
from typing import Any
from urllib.parse import quote

from scanner.remote.errors import ApiError, Unavailable
from scanner.remote.exchanges import ExchangeCredentials
from scanner.remote.exchanges.base import (
    DELETED,
    IP_RESTRICTED,
    NO_PERMISSION,
    WRONG_SECRET,
    MasterRevoke,
    scalars,
)
from scanner.remote.model import Permissions
from scanner.remote.transport import Dialect, HttpTransport, base_headers

PREFIX = "/api/v4"
DETAIL = f"{PREFIX}/account/detail"
SERVER_TIME = f"{PREFIX}/spot/time"
SUB_ACCOUNTS = f"{PREFIX}/sub_accounts"
MAX_SUB_ACCOUNTS = 500  # listing stops here; a bigger master is searched only by the key's own user_id


def _error(data: Any) -> tuple[str, str | None] | None:
    if isinstance(data, dict) and isinstance(data.get("label"), str) and data["label"]:
        msg = data.get("message", data.get("detail"))
        return data["label"], msg if isinstance(msg, str) else None
    return None


AUTH = frozenset({"INVALID_KEY", "INVALID_SIGNATURE", "IP_FORBIDDEN", "INVALID_CREDENTIALS", "FORBIDDEN",
                  "READ_ONLY"})
DIALECT = Dialect("Gate", _error, AUTH, frozenset({400, 401}), empty_204=True)


def sign(secret: str, method: str, path: str, query: str, body: str, ts: str) -> str:
    payload = "\n".join((method, path, query, hashlib.sha512(body.encode()).hexdigest(), ts))
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha512).hexdigest()


class Gate(MasterRevoke):
    name = "gate"
    title = "Gate"
    production_url = "https://api.gateio.ws"
    management_page = "Account -> API Management (APIv4 keys)"
    verify_endpoint = f"GET {DETAIL}"
    signature = "hmac-sha512"
    dialect = DIALECT
    time_codes = frozenset({"REQUEST_EXPIRED"})
    rejections = {"INVALID_KEY": DELETED, "INVALID_SIGNATURE": WRONG_SECRET, "IP_FORBIDDEN": IP_RESTRICTED,
                  "FORBIDDEN": NO_PERMISSION, "READ_ONLY": NO_PERMISSION,
                  "INVALID_CREDENTIALS": ("rejected", ("rejected",), ("Gate rejected the credentials",))}
    gone_codes = frozenset({"INVALID_KEY"})
    delete_request = f"DELETE {SUB_ACCOUNTS}/{{user_id}}/keys/{{key}}"

    def request(self, transport: HttpTransport, creds: ExchangeCredentials, method: str, path: str,
                query: str = "", *, label: str | None = None) -> Any:
        """One signed call; `label` names the endpoint in messages when the path holds ids or keys."""
        def prepare() -> tuple[str, bytes | None, dict[str, str]]:
            ts = str(transport.now_ms() // 1000)
            headers = base_headers()
            headers.update({"KEY": creds.api_key, "Timestamp": ts,
                            "SIGN": sign(creds.secret or "", method, path, query, "", ts)})
            return path + (f"?{query}" if query else ""), None, headers

        return transport.exchange(method, label or path, prepare, api_key=creds.api_key)

    def server_time(self, transport: HttpTransport) -> int:
        data = transport.exchange("GET", SERVER_TIME, lambda: (SERVER_TIME, None, base_headers()))
        value = data.get("server_time") if isinstance(data, dict) else None
        if isinstance(value, bool) or not isinstance(value, int):
            raise Unavailable(f"GET {SERVER_TIME}: no server_time in the answer", endpoint=f"GET {SERVER_TIME}")
        return value

    def read_call(self, transport: HttpTransport, creds: ExchangeCredentials) -> Any:
        return self.request(transport, creds, "GET", DETAIL)

    def read(self, data: Any, creds: ExchangeCredentials
             ) -> tuple[dict[str, Any], Permissions, str | None, dict[str, Any] | None]:
        ep = f"GET {DETAIL}"
        uid = data.get("user_id") if isinstance(data, dict) else None
        if isinstance(uid, bool) or not isinstance(uid, int):
            raise Unavailable(f"{ep}: the answer lacks user_id: outcome unknown", endpoint=ep)
        ips = data.get("ip_whitelist")
        bound = bool(ips) if isinstance(ips, list) else None
        p = Permissions(read=True, trade=None, withdraw=None, transfer=None, ip_restricted=bound)
        return scalars(data), p, None, {"user_id": uid}

    # ------------------------------------------------------------------------------------ revoke

    def sub_of(self, info: Any) -> Any:
        """The leaked key's own user_id: a sub-account's, or the master's own (then locate finds nothing)."""
        return info[3]["user_id"]

    def _keys(self, transport: HttpTransport, master: ExchangeCredentials, uid: Any) -> list[str]:
        data = self.call(transport, lambda t, c: self.request(t, c, "GET", f"{SUB_ACCOUNTS}/{uid}/keys",
                                                              label=f"{SUB_ACCOUNTS}/{{user_id}}/keys"), master)
        if not isinstance(data, list):
            raise Unavailable(f"GET {SUB_ACCOUNTS}/{{user_id}}/keys: not a list: outcome unknown")
        return [str(k.get("key")) for k in data if isinstance(k, dict)]  # locked keys too: they still exist

    def locate(self, transport: HttpTransport, master: ExchangeCredentials, api_key: str, hint: Any) -> Any:
        if hint is not None:
            try:
                return hint if api_key in self._keys(transport, master, hint) else None
            except ApiError as e:
                if e.code in ("SUB_ACCOUNT_NOT_FOUND", "NOT_FOUND"):  # the key's own account is no sub-account
                    return None
                raise
        subs = self.call(transport, self.request, master, "GET", SUB_ACCOUNTS)
        if not isinstance(subs, list):
            raise Unavailable(f"GET {SUB_ACCOUNTS}: not a list: outcome unknown")
        uids = [s["user_id"] for s in subs if isinstance(s, dict) and isinstance(s.get("user_id"), int)]
        for uid in uids[:MAX_SUB_ACCOUNTS]:
            if api_key in self._keys(transport, master, uid):
                return uid
        if len(uids) > MAX_SUB_ACCOUNTS:
            raise Unavailable(f"the master account has more than {MAX_SUB_ACCOUNTS} sub-accounts: give the leaked "
                              "key's secret so its own sub-account is asked directly")
        return None

    def master_owns(self, transport: HttpTransport, master: ExchangeCredentials, hint: Any) -> bool:
        data = self.call(transport, self.read_call, master)
        return bool(isinstance(data, dict) and data.get("user_id") == hint)

    def delete_sub(self, transport: HttpTransport, master: ExchangeCredentials, sub: Any, api_key: str) -> None:
        path = f"{SUB_ACCOUNTS}/{sub}/keys/{quote(api_key, safe='')}"
        self.call(transport, lambda t, c: self.request(t, c, "DELETE", path, label=self.delete_request.split()[1]),
                  master)


EXCHANGE = Gate()
