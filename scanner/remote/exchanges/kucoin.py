"""KuCoin.

Facts (KuCoin's API docs, "Authentication"; its official SDKs set `authVersion: 2`): KC-API-KEY,
KC-API-TIMESTAMP (ms), KC-API-SIGN = base64 HMAC-SHA256 of timestamp + METHOD + endpoint (with its
query string) + body, KC-API-KEY-VERSION 2, and for v2 keys KC-API-PASSPHRASE = base64
HMAC-SHA256 of the passphrase, keyed with the secret. Answers are {"code": "200000", "data": ...};
errors {"code": "4000xx", "msg": "..."}: 400002 timestamp, 400003 "KC-API-KEY not exists",
400004 invalid passphrase, 400005 signature error, 400006 IP not on the key's whitelist. The HTTP
status of those errors is not confirmed here (401 is what KuCoin's docs list for auth errors), so
200, 400 and 401 are all accepted when the body has that shape.

Verify: GET /api/v1/user/api-key (the key's own info: apiKey, permission as a comma-separated list
such as "General,Spot,Futures,Withdrawal", ipWhitelist, createdAt, uid, isMaster); field names
are read defensively. Revoke: not done by cexguard (the master's DELETE /api/v1/sub/api-key needs
the sub-account name and the key's passphrase, and is not confirmed here): `not_revocable`.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from scanner.remote.errors import Unavailable
from scanner.remote.exchanges import ExchangeCredentials
from scanner.remote.exchanges.base import DELETED, IP_RESTRICTED, WRONG_PASSPHRASE, WRONG_SECRET, Base, scalars
from scanner.remote.model import Permissions
from scanner.remote.transport import Dialect, HttpTransport, base_headers

KEY_INFO = "/api/v1/user/api-key"
SERVER_TIME = "/api/v1/timestamp"
OK = "200000"
TRADING = {"spot", "margin", "futures", "trade", "leveragedtoken"}
TRANSFER = {"innertransfer", "transfer", "flextransfers", "subtransfer"}


def _error(data: Any) -> tuple[str, str | None] | None:
    if not isinstance(data, dict):
        return None
    code, msg = data.get("code"), data.get("msg")
    if isinstance(code, str) and code.isdigit() and code != OK and isinstance(msg, str):
        return code, msg
    return None


AUTH = frozenset({"400003", "400004", "400005", "400006"})
DIALECT = Dialect("KuCoin", _error, frozenset(AUTH), frozenset({200, 400, 401}), errors_in_2xx=True)


def b64hmac(secret: str, text: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), text.encode(), hashlib.sha256).digest()).decode()


class Kucoin(Base):
    name = "kucoin"
    title = "KuCoin"
    production_url = "https://api.kucoin.com"
    needs_passphrase = True
    management_page = "Account -> API Management"
    verify_endpoint = f"GET {KEY_INFO}"
    dialect = DIALECT
    time_codes = frozenset({"400002"})
    rejections = {"400003": DELETED, "400004": WRONG_PASSPHRASE, "400005": WRONG_SECRET, "400006": IP_RESTRICTED}

    def request(self, transport: HttpTransport, creds: ExchangeCredentials, method: str, path: str) -> Any:
        secret = creds.secret or ""

        def prepare() -> tuple[str, bytes | None, dict[str, str]]:
            ts = str(transport.now_ms())
            headers = base_headers()
            headers.update({"KC-API-KEY": creds.api_key, "KC-API-TIMESTAMP": ts, "KC-API-KEY-VERSION": "2",
                            "KC-API-PASSPHRASE": b64hmac(secret, creds.passphrase or ""),
                            "KC-API-SIGN": b64hmac(secret, ts + method + path)})
            return path, None, headers

        return transport.exchange(method, path, prepare, api_key=creds.api_key)

    def server_time(self, transport: HttpTransport) -> int:
        data = transport.exchange("GET", SERVER_TIME, lambda: (SERVER_TIME, None, base_headers()))
        value = data.get("data") if isinstance(data, dict) else None
        if isinstance(value, bool) or not isinstance(value, int):
            raise Unavailable(f"GET {SERVER_TIME}: no time in the answer", endpoint=f"GET {SERVER_TIME}")
        return value

    def read_call(self, transport: HttpTransport, creds: ExchangeCredentials) -> Any:
        return self.request(transport, creds, "GET", KEY_INFO)

    def read(self, data: Any, creds: ExchangeCredentials
             ) -> tuple[dict[str, Any], Permissions, str | None, dict[str, Any] | None]:
        ep = f"GET {KEY_INFO}"
        info = data.get("data") if isinstance(data, dict) and data.get("code") == OK else None
        if not isinstance(info, dict) or not isinstance(info.get("permission"), str):
            raise Unavailable(f"{ep}: the answer lacks data.permission: outcome unknown", endpoint=ep)
        if info.get("apiKey") not in (None, creds.api_key):
            raise Unavailable(f"{ep}: the answer is about another API key", endpoint=ep)
        perm = {x.strip().lower() for x in info["permission"].split(",") if x.strip()}
        ips = info.get("ipWhitelist")
        bound = bool(ips.strip()) if isinstance(ips, str) else bool(ips) if isinstance(ips, list) else None
        p = Permissions(read=True, trade=bool(perm & TRADING), withdraw="withdrawal" in perm,
                        transfer=bool(perm & TRANSFER), ip_restricted=bound)
        account = {k: info[k] for k in ("uid", "isMaster", "subName") if k in info}
        created = info.get("createdAt")
        return scalars(info), p, str(created) if isinstance(created, (int, str)) else None, account or None


EXCHANGE = Kucoin()
