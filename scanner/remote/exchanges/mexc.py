"""MEXC (Spot v3 API).

Facts (MEXC's Spot v3 docs, "General Info" and "Error Code"; the error tables of its SDKs and of
ccxt): a SIGNED call carries the header X-MEXC-APIKEY and the parameters timestamp (ms),
recvWindow and signature = lowercase hex HMAC-SHA256 of the query string (totalParams), keyed with
the secret; the server accepts timestamp < serverTime + 1000 and serverTime - timestamp <=
recvWindow. Errors are {"code": N, "msg": "..."} under HTTP 4xx (401 for authentication): 10072 API
key info invalid, 700002 signature not valid, 700003 timestamp outside the recvWindow, 700006 IP not
in the key's whitelist, 700007 no permission to access the endpoint, 401 no authority.

Verify: GET /api/v3/account: canTrade, canWithdraw, canDeposit, accountType, permissions. These
describe what the account may do, not what the key may: a False is a ceiling (the key cannot do
it either), a True says nothing about the key, so the normalised trade/withdraw are False or
unknown. It does not report the key's IP whitelist, nor the account that holds the key.

Revoke (MEXC's Spot v3 docs, "Sub-Account Endpoints", for master accounts): DELETE
/api/v3/sub-account/apiKey with subAccount (the name) and apiKey answers {"subAccount": name}.
The sub-account is found by the master: GET /api/v3/sub-account/list (page, limit up to 200:
{"subAccounts": [{subAccount, isFreeze, createTime, uid}]}) and each one's GET
/api/v3/sub-account/apiKey?subAccount=.. ({"subAccount": [{apiKey, permissions, ip, ...}]}), the
key matched here. MEXC's own answer never names the key's account, so a key that works but that no
sub-account of the master holds (the master's own, or another master's) is left alone with the
playbook.
"""
from __future__ import annotations

import hashlib
import hmac
from typing import Any
from urllib.parse import urlencode

from scanner.remote.errors import Unavailable
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

ACCOUNT = "/api/v3/account"
SERVER_TIME = "/api/v3/time"
RECV_WINDOW = 5000
SUB_LIST = "/api/v3/sub-account/list"
SUB_KEYS = "/api/v3/sub-account/apiKey"  # GET: a sub-account's keys; DELETE: one of them
PAGE = 200  # MEXC's largest page of sub-accounts
MAX_PAGES = 25


def _error(data: Any) -> tuple[int, str | None] | None:
    if not isinstance(data, dict):
        return None
    code, msg = data.get("code"), data.get("msg")
    if isinstance(code, int) and not isinstance(code, bool) and code not in (0, 200) and isinstance(msg, str):
        return code, msg
    return None


AUTH = frozenset({10072, 700002, 700006, 700007, 401})
DIALECT = Dialect("MEXC", _error, frozenset(AUTH), frozenset({400, 401}))


def sign(secret: str, query: str) -> str:
    return hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()


class Mexc(MasterRevoke):
    name = "mexc"
    title = "MEXC"
    production_url = "https://api.mexc.com"
    management_page = "Profile -> API Management"
    verify_endpoint = f"GET {ACCOUNT}"
    dialect = DIALECT
    time_codes = frozenset({700003})
    rejections = {10072: DELETED, 700002: WRONG_SECRET, 700006: IP_RESTRICTED, 700007: NO_PERMISSION,
                  401: ("rejected", ("rejected",), ("MEXC answered 'no authority' for this key",))}

    gone_codes = frozenset({10072})
    delete_request = f"DELETE {SUB_KEYS}"

    def request(self, transport: HttpTransport, creds: ExchangeCredentials, method: str, path: str,
                params: dict[str, str] | None = None) -> Any:
        """One SIGNED call: the parameters, recvWindow and timestamp in the query, signed together."""
        def prepare() -> tuple[str, bytes | None, dict[str, str]]:
            query = (f"{urlencode(params)}&" if params else "") + f"recvWindow={RECV_WINDOW}&timestamp={transport.now_ms()}"
            headers = base_headers()
            headers.update({"X-MEXC-APIKEY": creds.api_key, "Content-Type": "application/json"})
            return f"{path}?{query}&signature={sign(creds.secret or '', query)}", None, headers

        return transport.exchange(method, path, prepare, api_key=creds.api_key)

    def server_time(self, transport: HttpTransport) -> int:
        data = transport.exchange("GET", SERVER_TIME, lambda: (SERVER_TIME, None, base_headers()))
        value = data.get("serverTime") if isinstance(data, dict) else None
        if isinstance(value, bool) or not isinstance(value, int):
            raise Unavailable(f"GET {SERVER_TIME}: no serverTime in the answer", endpoint=f"GET {SERVER_TIME}")
        return value

    def read_call(self, transport: HttpTransport, creds: ExchangeCredentials) -> Any:
        return self.request(transport, creds, "GET", ACCOUNT)

    def read(self, data: Any, creds: ExchangeCredentials
             ) -> tuple[dict[str, Any], Permissions, str | None, dict[str, Any] | None]:
        ep = f"GET {ACCOUNT}"
        flags = [data.get(k) if isinstance(data, dict) else None for k in ("canTrade", "canWithdraw")]
        if not all(isinstance(x, bool) for x in flags) or not isinstance(data.get("balances"), list):
            raise Unavailable(f"{ep}: the answer lacks canTrade, canWithdraw or balances: outcome unknown", endpoint=ep)
        can_trade, can_withdraw = flags
        p = Permissions(read=True, trade=False if not can_trade else None,
                        withdraw=False if not can_withdraw else None, transfer=None, ip_restricted=None)
        raw = {k: v for k, v in scalars(data).items() if k != "balances"}
        return raw, p, None, None

    # ------------------------------------------------------------------------------------ revoke

    def sub_of(self, info: Any) -> Any:
        return self.unknown_owner  # GET /api/v3/account does not name the key's account

    def _subs(self, transport: HttpTransport, master: ExchangeCredentials) -> tuple[list[str], bool]:
        out: list[str] = []
        for page in range(1, MAX_PAGES + 1):
            data = self.call(transport, self.request, master, "GET", SUB_LIST, {"page": str(page), "limit": str(PAGE)})
            rows = data.get("subAccounts") if isinstance(data, dict) else None
            if not isinstance(rows, list):
                raise Unavailable(f"GET {SUB_LIST}: the answer lacks subAccounts: outcome unknown",
                                  endpoint=f"GET {SUB_LIST}")
            out += [r["subAccount"] for r in rows if isinstance(r, dict) and isinstance(r.get("subAccount"), str)]
            if len(rows) < PAGE:
                return out, False
        return out, True

    def _keys(self, transport: HttpTransport, master: ExchangeCredentials, sub: str) -> list[str]:
        data = self.call(transport, self.request, master, "GET", SUB_KEYS, {"subAccount": sub})
        rows = data.get("subAccount") if isinstance(data, dict) else None
        if not isinstance(rows, list):
            raise Unavailable(f"GET {SUB_KEYS}: the answer lacks the subAccount list: outcome unknown",
                              endpoint=f"GET {SUB_KEYS}")
        return [str(r.get("apiKey")) for r in rows if isinstance(r, dict)]

    def locate(self, transport: HttpTransport, master: ExchangeCredentials, api_key: str, hint: Any) -> Any:
        if hint is not None:  # the check after the delete: the sub-account found before it
            return hint if api_key in self._keys(transport, master, hint) else None
        subs, cut = self._subs(transport, master)
        return self.search_subs(api_key, subs, cut, lambda s: self._keys(transport, master, s),
                                "cexguard does not search them all; delete the key by hand")

    def delete_sub(self, transport: HttpTransport, master: ExchangeCredentials, sub: Any, api_key: str) -> None:
        data = self.call(transport, self.request, master, "DELETE", SUB_KEYS, {"subAccount": sub, "apiKey": api_key})
        if not (isinstance(data, dict) and data.get("subAccount") == sub):
            raise Unavailable(f"DELETE {SUB_KEYS}: the answer does not name the sub-account: outcome unknown",
                              endpoint=f"DELETE {SUB_KEYS}")


EXCHANGE = Mexc()
