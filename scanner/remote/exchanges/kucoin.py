"""KuCoin.

Facts (KuCoin's API docs, "Authentication"; its official SDKs set `authVersion: 2`): KC-API-KEY,
KC-API-TIMESTAMP (ms), KC-API-SIGN = base64 HMAC-SHA256 of timestamp + METHOD + endpoint (with its
query string, signed as it reads before URL-encoding: `/api/v1/sub/api-key?apiKey=..&subName=..
&passphrase=abc!@#11` for a URL that carries `abc%21%40%2311`) + body, KC-API-KEY-VERSION 2, and
for v2 keys KC-API-PASSPHRASE = base64 HMAC-SHA256 of the passphrase, keyed with the secret.
Answers are {"code": "200000", "data": ...}; errors {"code": "4000xx", "msg": "..."}: 400002
timestamp, 400003 "KC-API-KEY not exists", 400004 invalid passphrase, 400005 signature error,
400006 IP not on the key's whitelist. The HTTP status of those errors is not confirmed here (401 is
what KuCoin's docs list for auth errors), so 200, 400 and 401 are all accepted when the body has
that shape.

Verify: GET /api/v1/user/api-key (the key's own info: remark, apiKey, apiVersion, permission as a
comma-separated list such as "General,Spot,Futures,Withdrawal", ipWhitelist, createdAt, uid,
isMaster; KuCoin's kucoin-universal-sdk tests); field names are read defensively.

Revoke (kucoin-universal-sdk's sub-account tests and kucoin-futures-python's user.py): the master
deletes a sub-account's key with DELETE /api/v1/sub/api-key?apiKey=..&subName=..&passphrase=..
(answer {"code": "200000", "data": {"subName", "apiKey"}}); the passphrase is the one of the
sub-account's key, i.e. the leaked one, so without it the key is `not_revocable` (playbook). The
sub-account is found by the master: GET /api/v2/sub/user?currentPage=..&pageSize=.. (pageSize
1..100, kucoin-node-sdk; data {currentPage, pageSize, totalNum, totalPage, items: [{userId, uid,
subName, ...}]}) names the sub-account whose uid the leaked key's own info gives (isMaster false),
and GET /api/v1/sub/api-key?subName=.. (data [{subName, apiKey, permission, ipWhitelist, uid,
isMaster, ...}]) lists its keys, matched here: the leaked key is never sent in a listing query
(the `apiKey` filter of that list is left out; that it is optional is read from the SDKs, which
send it only when given). Without the leaked secret every sub-account's keys are listed. A key
whose own info says isMaster true has no API delete: `not_revocable`. The error codes of the
sub-account endpoints are not confirmed here: any of them is shown, and the check after a delete
decides.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any
from urllib.parse import quote

from scanner.remote.errors import Unavailable
from scanner.remote.exchanges import ExchangeCredentials
from scanner.remote.exchanges.base import (
    DELETED,
    IP_RESTRICTED,
    WRONG_PASSPHRASE,
    WRONG_SECRET,
    MasterRevoke,
    SubAccount,
    code_msg_error,
    scalars,
)
from scanner.remote.model import Permissions
from scanner.remote.transport import Dialect, HttpTransport, base_headers

KEY_INFO = "/api/v1/user/api-key"
SERVER_TIME = "/api/v1/timestamp"
SUB_LIST = "/api/v2/sub/user"
SUB_KEYS = "/api/v1/sub/api-key"  # GET: a sub-account's keys; DELETE: one of them
PAGE = 100  # KuCoin's largest page of sub-accounts
MAX_PAGES = 50
OK = "200000"
TRADING = {"spot", "margin", "futures", "trade", "leveragedtoken"}
TRANSFER = {"innertransfer", "transfer", "flextransfers", "subtransfer"}


_error = code_msg_error(OK)


AUTH = frozenset({"400003", "400004", "400005", "400006"})
DIALECT = Dialect("KuCoin", _error, frozenset(AUTH), frozenset({200, 400, 401}), errors_in_2xx=True)


def b64hmac(secret: str, text: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), text.encode(), hashlib.sha256).digest()).decode()



class Kucoin(MasterRevoke):
    name = "kucoin"
    title = "KuCoin"
    production_url = "https://api.kucoin.com"
    needs_passphrase = True
    management_page = "Account -> API Management"
    verify_endpoint = f"GET {KEY_INFO}"
    dialect = DIALECT
    time_codes = frozenset({"400002"})
    rejections = {"400003": DELETED, "400004": WRONG_PASSPHRASE, "400005": WRONG_SECRET, "400006": IP_RESTRICTED}

    gone_codes = frozenset({"400003"})
    delete_request = f"DELETE {SUB_KEYS}"

    def request(self, transport: HttpTransport, creds: ExchangeCredentials, method: str, path: str,
                params: dict[str, str] | None = None) -> Any:
        """One signed call; the parameters go in the query, signed as they read before URL-encoding."""
        secret = creds.secret or ""
        items = list((params or {}).items())
        signed = path + ("?" + "&".join(f"{k}={v}" for k, v in items) if items else "")
        target = path + ("?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in items) if items else "")

        def prepare() -> tuple[str, bytes | None, dict[str, str]]:
            ts = str(transport.now_ms())
            headers = base_headers()
            headers.update({"KC-API-KEY": creds.api_key, "KC-API-TIMESTAMP": ts, "KC-API-KEY-VERSION": "2",
                            "KC-API-PASSPHRASE": b64hmac(secret, creds.passphrase or ""),
                            "KC-API-SIGN": b64hmac(secret, ts + method + signed)})
            return target, None, headers

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


    # ------------------------------------------------------------------------------------ revoke

    def sub_of(self, info: Any) -> Any:
        """The uid of the sub-account the leaked key's own info names; None for a master-account key."""
        account = info[3] or {}
        if account.get("isMaster") is True:
            return None
        uid = account.get("uid")
        if account.get("isMaster") is False and isinstance(uid, (int, str)) and not isinstance(uid, bool):
            return str(uid)
        return self.unknown_owner

    def missing_for_delete(self, leaked: ExchangeCredentials) -> str | None:
        if leaked.passphrase is None:
            return ("KuCoin deletes a sub-account's key only with that key's own passphrase, and the leaked "
                    "passphrase was not given (KUCOIN_API_PASSPHRASE)")
        return None

    def _data(self, data: Any, ep: str) -> Any:
        if not (isinstance(data, dict) and data.get("code") == OK and "data" in data):
            raise Unavailable(f"{ep}: the answer lacks code 200000 and data: outcome unknown", endpoint=ep)
        return data["data"]

    def _subs(self, transport: HttpTransport, master: ExchangeCredentials) -> tuple[list[SubAccount], bool]:
        """The master's sub-accounts, and whether the list was cut short."""
        ep = f"GET {SUB_LIST}"
        out: list[SubAccount] = []
        for page in range(1, MAX_PAGES + 1):
            data = self._data(self.call(transport, self.request, master, "GET", SUB_LIST,
                                        {"currentPage": str(page), "pageSize": str(PAGE)}), ep)
            items = data.get("items") if isinstance(data, dict) else None
            if not isinstance(items, list):
                raise Unavailable(f"{ep}: the answer lacks data.items: outcome unknown", endpoint=ep)
            out += [SubAccount(r["subName"], str(r.get("uid", ""))) for r in items
                    if isinstance(r, dict) and isinstance(r.get("subName"), str)]
            total = data.get("totalPage")
            last = page >= total if isinstance(total, int) and not isinstance(total, bool) else len(items) < PAGE
            if last or not items:
                return out, False
        return out, True

    def _keys(self, transport: HttpTransport, master: ExchangeCredentials, sub: SubAccount) -> list[str]:
        ep = f"GET {SUB_KEYS}"
        rows = self._data(self.call(transport, self.request, master, "GET", SUB_KEYS, {"subName": sub.name}), ep)
        if not isinstance(rows, list):
            raise Unavailable(f"{ep}: data is not a list: outcome unknown", endpoint=ep)
        return [str(r.get("apiKey")) for r in rows if isinstance(r, dict)]

    def locate(self, transport: HttpTransport, master: ExchangeCredentials, api_key: str, hint: Any) -> Any:
        """The sub-account holding the key: the one found before the delete, or the one with the uid
        the leaked key's own info names, or else any of the master's."""
        if isinstance(hint, SubAccount):  # the check after the delete
            return hint if api_key in self._keys(transport, master, hint) else None
        subs, cut = self._subs(transport, master)
        if hint is not None:
            return self.search_uid(api_key, subs, cut, str(hint), lambda s: self._keys(transport, master, s),
                                   MAX_PAGES * PAGE)
        return self.search_subs(api_key, subs, cut, lambda s: self._keys(transport, master, s),
                                "give the leaked key's secret and passphrase so its own sub-account is asked directly")

    def master_owns(self, transport: HttpTransport, master: ExchangeCredentials, hint: Any) -> bool:
        info = self._data(self.call(transport, self.read_call, master), f"GET {KEY_INFO}")
        return isinstance(info, dict) and str(info.get("uid")) == str(hint)

    def delete_leaked(self, transport: HttpTransport, master: ExchangeCredentials, sub: Any,
                      leaked: ExchangeCredentials) -> None:
        ep = f"DELETE {SUB_KEYS}"
        params = {"apiKey": leaked.api_key, "subName": sub.name, "passphrase": leaked.passphrase or ""}
        data = self._data(self.call(transport, self.request, master, "DELETE", SUB_KEYS, params), ep)
        if not (isinstance(data, dict) and data.get("subName") == sub.name):
            raise Unavailable(f"{ep}: the answer does not name the sub-account: outcome unknown", endpoint=ep)


EXCHANGE = Kucoin()
