"""Bitget (v2 API).

Facts (Bitget's API docs, "Signature" and "Get Account Information"; its official v3-bitget-api-sdk
`consts.py`; the error table ccxt keeps from Bitget's error-code page): a signed call carries
ACCESS-KEY, ACCESS-TIMESTAMP (ms), ACCESS-PASSPHRASE (as chosen, sent as is) and ACCESS-SIGN =
base64 HMAC-SHA256 of timestamp + METHOD + requestPath (with `?query`) + body, keyed with the
secret. Answers are {"code": "00000", "msg": "success", "data": ...}; errors {"code": "4xxxx",
"msg": "..."}: 40006 invalid ACCESS_KEY, 40037 API key does not exist, 40009 sign signature error,
40012 apikey/password (passphrase) incorrect, 40018 invalid IP, 40005/40008 timestamp invalid or
expired, 40014 incorrect permissions. The HTTP status of those errors is not confirmed here (400 is
what Bitget sends for most client errors), so 400 and 401 are accepted when the body has that shape.

Verify: GET /api/v2/spot/account/info: userId, parentId (the main account's uid), ips (the key's
whitelist, a string), authorities: per area a read-only code ending `or` (coor, cpor, stor, smor,
ttor, wtor, ...) or a read-write code ending `ow` (coow futures orders, cpow futures positions,
stow spot, smow margin, ttow copy trading, wtow wallet transfer, wwow withdrawal, chow sub-account
management); the docs' example also shows the plain words "trade" and "readonly". A key of a
unified (UTA) account gets 40085 "Classic Account API is not supported" from this endpoint: it
authenticated, so it is live, with its permissions unknown. Revoke: not done by cexguard
(`not_revocable`, the playbook).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from scanner.remote.errors import ApiError, Unavailable
from scanner.remote.exchanges import ExchangeCredentials
from scanner.remote.exchanges.base import (
    DELETED,
    IP_RESTRICTED,
    NO_PERMISSION,
    WRONG_PASSPHRASE,
    WRONG_SECRET,
    Base,
    code_msg_error,
    scalars,
)
from scanner.remote.model import Permissions, Verdict
from scanner.remote.transport import Dialect, HttpTransport, base_headers

ACCOUNT_INFO = "/api/v2/spot/account/info"
SERVER_TIME = "/api/v2/public/time"
OK = "00000"
UNIFIED = "40085"
TRADING = {"coow", "cpow", "stow", "smow", "ttow", "trade"}
TRANSFER = {"wtow"}
WITHDRAW = {"wwow"}


_error = code_msg_error(OK)


AUTH = frozenset({"40006", "40037", "40009", "40012", "40018", "40014"})
DIALECT = Dialect("Bitget", _error, frozenset(AUTH), frozenset({400, 401}))


def sign(secret: str, prehash: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), prehash.encode(), hashlib.sha256).digest()).decode()


class Bitget(Base):
    name = "bitget"
    title = "Bitget"
    production_url = "https://api.bitget.com"
    needs_passphrase = True
    management_page = "Profile -> API Key Management"
    verify_endpoint = f"GET {ACCOUNT_INFO}"
    dialect = DIALECT
    time_codes = frozenset({"40005", "40008"})
    rejections = {"40006": DELETED, "40037": DELETED, "40009": WRONG_SECRET, "40012": WRONG_PASSPHRASE,
                  "40018": IP_RESTRICTED, "40014": NO_PERMISSION}

    def request(self, transport: HttpTransport, creds: ExchangeCredentials, method: str, path: str) -> Any:
        def prepare() -> tuple[str, bytes | None, dict[str, str]]:
            ts = str(transport.now_ms())
            headers = base_headers()
            headers.update({"ACCESS-KEY": creds.api_key, "ACCESS-TIMESTAMP": ts,
                            "ACCESS-PASSPHRASE": creds.passphrase or "", "locale": "en-US",
                            "ACCESS-SIGN": sign(creds.secret or "", ts + method + path)})
            return path, None, headers

        return transport.exchange(method, path, prepare, api_key=creds.api_key)

    def server_time(self, transport: HttpTransport) -> int:
        data = transport.exchange("GET", SERVER_TIME, lambda: (SERVER_TIME, None, base_headers()))
        try:
            return int(data["data"]["serverTime"])
        except (TypeError, KeyError, ValueError):
            raise Unavailable(f"GET {SERVER_TIME}: no serverTime in the answer", endpoint=f"GET {SERVER_TIME}") from None

    def read_call(self, transport: HttpTransport, creds: ExchangeCredentials) -> Any:
        return self.request(transport, creds, "GET", ACCOUNT_INFO)

    def verify(self, credentials: ExchangeCredentials, transport: HttpTransport) -> Verdict:
        try:
            return super().verify(credentials, transport)
        except _Unified as u:
            return Verdict(status="live", normalized=None, risk="unknown",
                           risk_reasons=("the key's permissions could not be read (a unified account)",),
                           error=u.error.to_dict(), reasons=(
                               "Bitget authenticated the key and answered that its account is a unified (UTA) "
                               "account, which this read does not serve: the key is live",),
                           **self.base(credentials, transport))

    def call(self, transport: HttpTransport, fn: Any, *args: Any) -> Any:
        try:
            return super().call(transport, fn, *args)
        except ApiError as e:
            if e.code == UNIFIED and e.http_status in DIALECT.auth_statuses:
                raise _Unified(e) from None
            raise

    def read(self, data: Any, creds: ExchangeCredentials
             ) -> tuple[dict[str, Any], Permissions, str | None, dict[str, Any] | None]:
        ep = f"GET {ACCOUNT_INFO}"
        info = data.get("data") if isinstance(data, dict) and data.get("code") == OK else None
        if not isinstance(info, dict) or not isinstance(info.get("authorities"), list) or "userId" not in info:
            raise Unavailable(f"{ep}: the answer lacks data.userId or authorities: outcome unknown", endpoint=ep)
        granted = {str(x).strip().lower() for x in info["authorities"]}
        ips = info.get("ips")
        bound = bool(ips.strip()) if isinstance(ips, str) else bool(ips) if isinstance(ips, list) else None
        p = Permissions(read=True, trade=bool(granted & TRADING), withdraw=bool(granted & WITHDRAW),
                        transfer=bool(granted & TRANSFER), ip_restricted=bound)
        account = {"userId": info["userId"], "parentId": info.get("parentId")}
        return scalars(info), p, None, account  # regisTime is the account's, not the key's


class _Unified(Exception):
    def __init__(self, error: ApiError) -> None:
        self.error = error


EXCHANGE = Bitget()
