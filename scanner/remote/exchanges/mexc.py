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
unknown. It does not report the key's IP whitelist. Revoke: not done by cexguard (the master's
DELETE /api/v3/sub-account/apiKey needs the sub-account's name and is not wired here):
`not_revocable`, the playbook.
"""
from __future__ import annotations

import hashlib
import hmac
from typing import Any

from scanner.remote.errors import Unavailable
from scanner.remote.exchanges import ExchangeCredentials
from scanner.remote.exchanges.base import DELETED, IP_RESTRICTED, NO_PERMISSION, WRONG_SECRET, Base, scalars
from scanner.remote.model import Permissions
from scanner.remote.transport import Dialect, HttpTransport, base_headers

ACCOUNT = "/api/v3/account"
SERVER_TIME = "/api/v3/time"
RECV_WINDOW = 5000


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


class Mexc(Base):
    name = "mexc"
    title = "MEXC"
    production_url = "https://api.mexc.com"
    management_page = "Profile -> API Management"
    verify_endpoint = f"GET {ACCOUNT}"
    dialect = DIALECT
    time_codes = frozenset({700003})
    rejections = {10072: DELETED, 700002: WRONG_SECRET, 700006: IP_RESTRICTED, 700007: NO_PERMISSION,
                  401: ("rejected", ("rejected",), ("MEXC answered 'no authority' for this key",))}

    def request(self, transport: HttpTransport, creds: ExchangeCredentials, method: str, path: str) -> Any:
        def prepare() -> tuple[str, bytes | None, dict[str, str]]:
            query = f"recvWindow={RECV_WINDOW}&timestamp={transport.now_ms()}"
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


EXCHANGE = Mexc()
