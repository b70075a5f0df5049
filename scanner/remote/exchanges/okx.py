"""OKX (v5 API).

Facts (OKX's v5 REST docs, as quoted by its SDKs and users): OK-ACCESS-KEY, OK-ACCESS-TIMESTAMP
(ISO 8601 UTC with milliseconds, `2020-12-08T09:08:57.715Z`), OK-ACCESS-PASSPHRASE (as chosen,
sent as is) and OK-ACCESS-SIGN = base64 HMAC-SHA256 of timestamp + METHOD + requestPath (with its
query string) + body. Errors are {"code": "<digits>", "msg": "..."} (`code` a string; "0" is
success); the credential errors come with HTTP 401: 50101 key of another environment, 50102
timestamp expired, 50105 wrong passphrase, 50110 IP not on the key's whitelist, 50111 invalid
OK-ACCESS-KEY, 50113 invalid signature.

Verify: GET /api/v5/account/config: uid, mainUid (uid != mainUid: a sub-account), label, `perm`
("read_only,trade,withdraw") and `ip` (the key's bound IPs, comma-separated). Revoke: the
sub-account API-key endpoints (POST /api/v5/users/subaccount/delete-apikey) are marked removed in
the official python-okx SDK; cexguard does not use them, so OKX keys are `not_revocable` with the
playbook.
"""
from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import hmac
from typing import Any

from scanner.remote.errors import Unavailable
from scanner.remote.exchanges import ExchangeCredentials
from scanner.remote.exchanges.base import DELETED, IP_RESTRICTED, WRONG_PASSPHRASE, WRONG_SECRET, Base, scalars
from scanner.remote.model import Permissions
from scanner.remote.transport import Dialect, HttpTransport, base_headers

CONFIG = "/api/v5/account/config"
SERVER_TIME = "/api/v5/public/time"


def _error(data: Any) -> tuple[str, str | None] | None:
    if not isinstance(data, dict):
        return None
    code, msg = data.get("code"), data.get("msg")
    if isinstance(code, str) and code.isdigit() and code != "0" and isinstance(msg, str):
        return code, msg
    return None


AUTH = frozenset({"50101", "50105", "50110", "50111", "50113"})
DIALECT = Dialect("OKX", _error, frozenset(AUTH), frozenset({401, 200}), errors_in_2xx=True)


def iso_ms(ms: int) -> str:
    when = _dt.datetime.fromtimestamp(ms / 1000, _dt.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def sign(secret: str, prehash: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), prehash.encode(), hashlib.sha256).digest()).decode()


class Okx(Base):
    name = "okx"
    title = "OKX"
    production_url = "https://www.okx.com"
    needs_passphrase = True
    management_page = "Profile -> API keys"
    verify_endpoint = f"GET {CONFIG}"
    dialect = DIALECT
    time_codes = frozenset({"50102"})
    rejections = {
        "50111": DELETED,
        "50113": WRONG_SECRET,
        "50105": WRONG_PASSPHRASE,
        "50110": IP_RESTRICTED,
        "50101": ("rejected", ("other_environment",),
                  ("the key belongs to the other OKX environment (live trading vs demo trading)",)),
    }

    def request(self, transport: HttpTransport, creds: ExchangeCredentials, method: str, path: str) -> Any:
        def prepare() -> tuple[str, bytes | None, dict[str, str]]:
            ts = iso_ms(transport.now_ms())
            headers = base_headers()
            headers.update({"OK-ACCESS-KEY": creds.api_key, "OK-ACCESS-TIMESTAMP": ts,
                            "OK-ACCESS-PASSPHRASE": creds.passphrase or "",
                            "OK-ACCESS-SIGN": sign(creds.secret or "", ts + method + path)})
            return path, None, headers

        return transport.exchange(method, path, prepare, api_key=creds.api_key)

    def server_time(self, transport: HttpTransport) -> int:
        data = transport.exchange("GET", SERVER_TIME, lambda: (SERVER_TIME, None, base_headers()))
        try:
            return int(data["data"][0]["ts"])
        except (TypeError, KeyError, ValueError, IndexError):
            raise Unavailable(f"GET {SERVER_TIME}: no ts in the answer", endpoint=f"GET {SERVER_TIME}") from None

    def read_call(self, transport: HttpTransport, creds: ExchangeCredentials) -> Any:
        return self.request(transport, creds, "GET", CONFIG)

    def read(self, data: Any, creds: ExchangeCredentials
             ) -> tuple[dict[str, Any], Permissions, str | None, dict[str, Any] | None]:
        ep = f"GET {CONFIG}"
        rows = data.get("data") if isinstance(data, dict) and data.get("code") == "0" else None
        row = rows[0] if isinstance(rows, list) and len(rows) == 1 else None
        if not isinstance(row, dict) or not isinstance(row.get("perm"), str) or not isinstance(row.get("uid"), str):
            raise Unavailable(f"{ep}: the answer lacks data[0].uid or perm: outcome unknown", endpoint=ep)
        perm = {x.strip() for x in row["perm"].split(",") if x.strip()}
        raw_ip = row.get("ip")
        ip = raw_ip if isinstance(raw_ip, str) else ""
        p = Permissions(read=True, trade="trade" in perm, withdraw="withdraw" in perm, transfer=None,
                        ip_restricted=bool(ip.strip()))
        main = row.get("mainUid")
        account = {"uid": row["uid"], "mainUid": main, "sub_account": isinstance(main, str) and main != row["uid"]}
        return scalars(row), p, None, account


EXCHANGE = Okx()
