"""HTX (Huobi).

Facts (HTX's spot API docs, "Authentication"; its official SDK huobi_Python, `utils/api_signature.py`;
the v1 error answers ccxt quotes): a signed call carries the query parameters AccessKeyId,
SignatureMethod=HmacSHA256, SignatureVersion=2 and Timestamp (UTC, `YYYY-MM-DDThh:mm:ss`), and
Signature = base64 HMAC-SHA256 of "METHOD\\nhost\\npath\\n" + those parameters sorted by name and
URL-encoded, keyed with the secret. v1 answers are {"status": "ok", "data": ...} or, under HTTP
200, {"status": "error", "err-code": "...", "err-msg": "..."}; a refused key is err-code
`api-signature-not-valid` whatever the cause, and only its message tells an unknown key
("Signature not valid: Incorrect Access key [Access key错误]") from the rest (a wrong secret, an IP
outside the whitelist, a timestamp off, which HTX's answers do not tell apart here). v2 answers
are {"code": 200, "data": ...}.

Verify: GET /v1/account/accounts (any key may read it) tells live or refused; then, best effort,
GET /v2/user/uid and GET /v2/user/api-key?uid=..&accessKey=.. for the key's own `permission`
("readOnly,trade,withdraw"), `ipAddresses`, `status` and `validDays`. When those two fail the key
is still live, with its permissions unknown. Revoke: not done by cexguard (`not_revocable`, the
playbook).
"""
from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import hmac
from typing import Any
from urllib.parse import quote, urlsplit

from scanner.remote.errors import ApiError, Unavailable
from scanner.remote.exchanges import ExchangeCredentials
from scanner.remote.exchanges.base import DELETED, Base, scalars
from scanner.remote.model import Permissions
from scanner.remote.transport import Dialect, HttpTransport, base_headers

ACCOUNTS = "/v1/account/accounts"
UID = "/v2/user/uid"
API_KEY = "/v2/user/api-key"
REFUSED = "api-signature-not-valid"
UNKNOWN_KEY = REFUSED + ":access-key"


def _error(data: Any) -> tuple[str, str | None] | None:
    if not isinstance(data, dict):
        return None
    if data.get("status") == "error" and isinstance(data.get("err-code"), str):
        code, msg = data["err-code"], data.get("err-msg")
        msg = msg if isinstance(msg, str) else None
        if code == REFUSED and msg and "Incorrect Access key" in msg:
            code = UNKNOWN_KEY
        return code, msg
    code = data.get("code")
    if isinstance(code, int) and not isinstance(code, bool) and code != 200 and "status" not in data:
        msg = data.get("message")
        return str(code), msg if isinstance(msg, str) else None
    return None


AUTH = frozenset({REFUSED, UNKNOWN_KEY, "api-signature-check-failed"})
DIALECT = Dialect("HTX", _error, frozenset(AUTH), frozenset({200, 400, 401}), errors_in_2xx=True)


def canonical(params: dict[str, str]) -> str:
    return "&".join(f"{k}={quote(v, safe='')}" for k, v in sorted(params.items()))


def sign(secret: str, method: str, host: str, path: str, query: str) -> str:
    payload = f"{method}\n{host.lower()}\n{path}\n{query}"
    return base64.b64encode(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()).decode()


class Htx(Base):
    name = "htx"
    title = "HTX (Huobi)"
    production_url = "https://api.huobi.pro"
    management_page = "Account -> API Management"
    verify_endpoint = f"GET {ACCOUNTS}"
    dialect = DIALECT
    rejections = {UNKNOWN_KEY: DELETED,
                  REFUSED: ("rejected", ("rejected",),
                            ("HTX refused the signature: a wrong secret, an IP outside the key's whitelist or a "
                             "deleted key (HTX's answer does not say which)",))}

    def request(self, transport: HttpTransport, creds: ExchangeCredentials, method: str, path: str,
                extra: dict[str, str] | None = None) -> Any:
        host = urlsplit(transport.base_url).netloc
        prefix = urlsplit(transport.base_url).path.rstrip("/")

        def prepare() -> tuple[str, bytes | None, dict[str, str]]:
            when = _dt.datetime.fromtimestamp(transport.now_ms() / 1000, _dt.timezone.utc)
            params = {"AccessKeyId": creds.api_key, "SignatureMethod": "HmacSHA256", "SignatureVersion": "2",
                      "Timestamp": when.strftime("%Y-%m-%dT%H:%M:%S"), **(extra or {})}
            query = canonical(params)
            sig = sign(creds.secret or "", method, host, prefix + path, query)
            return f"{path}?{query}&Signature={quote(sig, safe='')}", None, base_headers()

        return transport.exchange(method, path, prepare, api_key=creds.api_key)

    def read_call(self, transport: HttpTransport, creds: ExchangeCredentials) -> Any:
        accounts = self.request(transport, creds, "GET", ACCOUNTS)
        if not (isinstance(accounts, dict) and accounts.get("status") == "ok" and isinstance(accounts.get("data"), list)):
            raise Unavailable(f"GET {ACCOUNTS}: the answer lacks status ok and data: outcome unknown",
                              endpoint=f"GET {ACCOUNTS}")
        info: Any = None
        try:
            uid = self.request(transport, creds, "GET", UID)
            if isinstance(uid, dict) and uid.get("code") == 200 and isinstance(uid.get("data"), int):
                keys = self.request(transport, creds, "GET", API_KEY,
                                    {"uid": str(uid["data"]), "accessKey": creds.api_key})
                rows = keys.get("data") if isinstance(keys, dict) and keys.get("code") == 200 else None
                mine = [k for k in rows or [] if isinstance(k, dict) and k.get("accessKey") == creds.api_key]
                info = {"uid": uid["data"], **mine[0]} if len(mine) == 1 else {"uid": uid["data"]}
        except (ApiError, Unavailable):
            info = None  # live; the key's permissions are not readable
        return {"accounts": accounts["data"], "info": info}

    def read(self, data: Any, creds: ExchangeCredentials
             ) -> tuple[dict[str, Any], Permissions, str | None, dict[str, Any] | None]:
        info = data.get("info")
        if not isinstance(info, dict) or not isinstance(info.get("permission"), str):
            p = Permissions(read=True)
            return ({"accounts": len(data["accounts"])}, p,
                    None, {"uid": info["uid"]} if isinstance(info, dict) else None)
        perm = {x.strip() for x in info["permission"].split(",") if x.strip()}
        ips = info.get("ipAddresses")
        days = info.get("validDays")
        p = Permissions(read=True, trade="trade" in perm, withdraw="withdraw" in perm, transfer=None,
                        ip_restricted=bool(ips.strip()) if isinstance(ips, str) else None,
                        expires=f"in {days} days" if isinstance(days, int) and days >= 0 else None)
        raw = {k: v for k, v in scalars(info).items() if k != "accessKey"}
        created = info.get("createTime")
        return raw, p, str(created) if isinstance(created, (int, str)) else None, {"uid": info["uid"]}


EXCHANGE = Htx()
