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
is still live, with its permissions unknown.

Revoke (HTX's docs, "Sub-user management"; huobi_Python `SubuserClient`): the parent user deletes
a sub user's key with POST /v2/sub-user/api-key-deletion {"subUid", "accessKey"} (answer
{"code": 200, "data": null}; the Trade permission). The sub user is the uid the leaked key's own
GET /v2/user/uid names, checked against the parent's GET /v2/sub-user/user-list (rows {uid,
userState}, `nextId` when there are more, asked again with `fromId`); without the leaked secret
every sub user's keys are listed with GET /v2/user/api-key?uid=.. and the key matched here. A
parent-account key has no API delete: `not_revocable`.
"""
from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import hmac
import json
from typing import Any
from urllib.parse import quote, urlsplit

from scanner.remote.errors import ApiError, Unavailable
from scanner.remote.exchanges import ExchangeCredentials
from scanner.remote.exchanges.base import DELETED, MasterRevoke, scalars
from scanner.remote.model import Permissions
from scanner.remote.transport import Dialect, HttpTransport, base_headers

ACCOUNTS = "/v1/account/accounts"
UID = "/v2/user/uid"
API_KEY = "/v2/user/api-key"
SUB_LIST = "/v2/sub-user/user-list"
SUB_DELETE = "/v2/sub-user/api-key-deletion"
MAX_PAGES = 50  # of the sub-user list
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


class Htx(MasterRevoke):
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

    gone_codes = frozenset({UNKNOWN_KEY})
    delete_request = f"POST {SUB_DELETE}"

    def request(self, transport: HttpTransport, creds: ExchangeCredentials, method: str, path: str,
                extra: dict[str, str] | None = None, body: dict[str, Any] | None = None) -> Any:
        """One signed call: the signature covers the query's parameters (a POST's JSON body is not signed)."""
        host = urlsplit(transport.base_url).netloc
        prefix = urlsplit(transport.base_url).path.rstrip("/")

        def prepare() -> tuple[str, bytes | None, dict[str, str]]:
            when = _dt.datetime.fromtimestamp(transport.now_ms() / 1000, _dt.timezone.utc)
            params = {"AccessKeyId": creds.api_key, "SignatureMethod": "HmacSHA256", "SignatureVersion": "2",
                      "Timestamp": when.strftime("%Y-%m-%dT%H:%M:%S"), **(extra or {})}
            query = canonical(params)
            sig = sign(creds.secret or "", method, host, prefix + path, query)
            headers = base_headers()
            target = f"{path}?{query}&Signature={quote(sig, safe='')}"
            if body is not None:
                headers["Content-Type"] = "application/json"
                return target, json.dumps(body, separators=(",", ":")).encode(), headers
            return target, None, headers

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

    # ------------------------------------------------------------------------------------ revoke

    def sub_of(self, info: Any) -> Any:
        """The uid the leaked key's own GET /v2/user/uid named (a sub user's or the parent's own)."""
        account = info[3]
        return account["uid"] if isinstance(account, dict) and "uid" in account else self.unknown_owner

    def _v2(self, data: Any, ep: str) -> Any:
        if not (isinstance(data, dict) and data.get("code") == 200 and "data" in data):
            raise Unavailable(f"{ep}: the answer lacks code 200 and data: outcome unknown", endpoint=ep)
        return data["data"]

    def _subs(self, transport: HttpTransport, master: ExchangeCredentials) -> tuple[list[int], bool]:
        """The parent's sub users' uids, and whether the list was cut short."""
        out: list[int] = []
        extra: dict[str, str] = {}
        for _ in range(MAX_PAGES):
            data = self.call(transport, self.request, master, "GET", SUB_LIST, extra)
            rows = self._v2(data, f"GET {SUB_LIST}")
            if not isinstance(rows, list):
                raise Unavailable(f"GET {SUB_LIST}: data is not a list: outcome unknown", endpoint=f"GET {SUB_LIST}")
            out += [r["uid"] for r in rows if isinstance(r, dict) and isinstance(r.get("uid"), int)
                    and not isinstance(r.get("uid"), bool)]
            nxt = data.get("nextId")
            if not isinstance(nxt, int) or isinstance(nxt, bool) or str(nxt) == extra.get("fromId"):
                return out, False
            extra = {"fromId": str(nxt)}
        return out, True

    def _keys(self, transport: HttpTransport, master: ExchangeCredentials, uid: int) -> list[str]:
        data = self.call(transport, self.request, master, "GET", API_KEY, {"uid": str(uid)})
        rows = self._v2(data, f"GET {API_KEY}")
        if not isinstance(rows, list):
            raise Unavailable(f"GET {API_KEY}: data is not a list: outcome unknown", endpoint=f"GET {API_KEY}")
        return [str(r.get("accessKey")) for r in rows if isinstance(r, dict)]

    def locate(self, transport: HttpTransport, master: ExchangeCredentials, api_key: str, hint: Any) -> Any:
        subs, cut = self._subs(transport, master)
        if hint is not None:
            if hint not in subs:
                if cut:
                    raise Unavailable(f"the parent account has more sub users than cexguard lists ({MAX_PAGES} "
                                      "pages) and the key's is not among those listed: delete it by hand")
                return None
            return hint if api_key in self._keys(transport, master, hint) else None
        return self.search_subs(api_key, subs, cut, lambda s: self._keys(transport, master, s),
                                "give the leaked key's secret so its own uid is asked directly")

    def master_owns(self, transport: HttpTransport, master: ExchangeCredentials, hint: Any) -> bool:
        uid = self._v2(self.call(transport, self.request, master, "GET", UID), f"GET {UID}")
        return bool(uid == hint)

    def delete_sub(self, transport: HttpTransport, master: ExchangeCredentials, sub: Any, api_key: str) -> None:
        data = self.call(transport, self.request, master, "POST", SUB_DELETE, None,
                         {"subUid": sub, "accessKey": api_key})
        self._v2(data, f"POST {SUB_DELETE}")


EXCHANGE = Htx()
