"""OKX (v5 API).

Facts (OKX's v5 REST docs, as quoted by its SDKs and users): OK-ACCESS-KEY, OK-ACCESS-TIMESTAMP
(ISO 8601 UTC with milliseconds, `2020-12-08T09:08:57.715Z`), OK-ACCESS-PASSPHRASE (as chosen,
sent as is) and OK-ACCESS-SIGN = base64 HMAC-SHA256 of timestamp + METHOD + requestPath (with its
query string) + body. Errors are {"code": "<digits>", "msg": "..."} (`code` a string; "0" is
success); the credential errors come with HTTP 401: 50101 key of another environment, 50102
timestamp expired, 50105 wrong passphrase, 50110 IP not on the key's whitelist, 50111 invalid
OK-ACCESS-KEY, 50113 invalid signature.

Verify: GET /api/v5/account/config: uid, mainUid (uid != mainUid: a sub-account), label, `perm`
("read_only,trade,withdraw") and `ip` (the key's bound IPs, comma-separated).

Revoke (OKX's v5 docs, "Sub-account": applies to master accounts only): a sub-account's key is
deleted by the master with POST /api/v5/users/subaccount/delete-apikey {"subAcct", "apiKey"}
(the master's key needs the Trade permission and, OKX says, bound IP addresses). The sub-account
is found by name: GET /api/v5/users/subaccount/list (rows {subAcct, uid, ts, ...}, at most 100 a
page, older pages with `after`=ts) gives the name of the uid the leaked key's own config names,
or, without the leaked secret, every sub-account is asked GET /api/v5/users/subaccount/apikey
?subAcct=.. (rows {apiKey, perm, ip, label, ts}) and the key matched here, so the leaked key is
never sent in a query. A master-account key (uid == mainUid) has no API delete: `not_revocable`.
(The official python-okx SDK dropped its wrapper for these endpoints; the REST docs still list
them.)
"""
from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import hmac
import json
from typing import Any
from urllib.parse import urlencode

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

CONFIG = "/api/v5/account/config"
SERVER_TIME = "/api/v5/public/time"
SUB_LIST = "/api/v5/users/subaccount/list"
SUB_KEYS = "/api/v5/users/subaccount/apikey"
SUB_DELETE = "/api/v5/users/subaccount/delete-apikey"
PAGE = 100  # OKX's largest page of sub-accounts
MAX_LISTED = 5000  # sub-accounts listed at most (50 pages)


_error = code_msg_error("0")


AUTH = frozenset({"50101", "50105", "50110", "50111", "50113"})
DIALECT = Dialect("OKX", _error, frozenset(AUTH), frozenset({401, 200}), errors_in_2xx=True)


def iso_ms(ms: int) -> str:
    when = _dt.datetime.fromtimestamp(ms / 1000, _dt.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"



def sign(secret: str, prehash: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), prehash.encode(), hashlib.sha256).digest()).decode()


class Okx(MasterRevoke):
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

    gone_codes = frozenset({"50111"})
    delete_request = f"POST {SUB_DELETE}"

    def request(self, transport: HttpTransport, creds: ExchangeCredentials, method: str, path: str,
                query: dict[str, str] | None = None, body: dict[str, str] | None = None) -> Any:
        """One signed call: the signature covers the path with its query string and the JSON body."""
        target = path + (f"?{urlencode(query)}" if query else "")
        text = json.dumps(body, separators=(",", ":")) if body is not None else ""

        def prepare() -> tuple[str, bytes | None, dict[str, str]]:
            ts = iso_ms(transport.now_ms())
            headers = base_headers()
            headers.update({"OK-ACCESS-KEY": creds.api_key, "OK-ACCESS-TIMESTAMP": ts,
                            "OK-ACCESS-PASSPHRASE": creds.passphrase or "",
                            "OK-ACCESS-SIGN": sign(creds.secret or "", ts + method + target + text)})
            if body is not None:
                headers["Content-Type"] = "application/json"
                return target, text.encode(), headers
            return target, None, headers

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

    # ------------------------------------------------------------------------------------ revoke

    def sub_of(self, info: Any) -> Any:
        """The uid of the sub-account the leaked key's own config names; None for a master-account key."""
        account = info[3]
        return account["uid"] if account.get("sub_account") else None

    def _rows(self, data: Any, ep: str) -> list[dict[str, Any]]:
        rows = data.get("data") if isinstance(data, dict) and data.get("code") == "0" else None
        if not isinstance(rows, list):
            raise Unavailable(f"{ep}: the answer lacks code 0 and a data list: outcome unknown", endpoint=ep)
        return [r for r in rows if isinstance(r, dict)]

    def _subs(self, transport: HttpTransport, master: ExchangeCredentials) -> tuple[list[SubAccount], bool]:
        """The master's sub-accounts, newest first, and whether the list was cut short."""
        out: list[SubAccount] = []
        after: str | None = None
        while len(out) < MAX_LISTED:
            query = {"limit": str(PAGE), **({"after": after} if after else {})}
            rows = self._rows(self.call(transport, self.request, master, "GET", SUB_LIST, query), f"GET {SUB_LIST}")
            out += [SubAccount(r["subAcct"], str(r.get("uid", ""))) for r in rows if isinstance(r.get("subAcct"), str)]
            last = rows[-1].get("ts") if rows else None
            if len(rows) < PAGE or not isinstance(last, str) or last == after:
                return out, False
            after = last
        return out, True

    def _keys(self, transport: HttpTransport, master: ExchangeCredentials, sub: SubAccount) -> list[str]:
        rows = self._rows(self.call(transport, self.request, master, "GET", SUB_KEYS, {"subAcct": sub.name}),
                          f"GET {SUB_KEYS}")
        return [str(r.get("apiKey")) for r in rows]

    def locate(self, transport: HttpTransport, master: ExchangeCredentials, api_key: str, hint: Any) -> Any:
        """The sub-account holding the key: among those with the hinted uid (the leaked key's own
        config's, or the sub-account found before the delete), else among all of the master's."""
        subs, cut = self._subs(transport, master)
        if hint is not None:
            uid = hint.uid if isinstance(hint, SubAccount) else str(hint)
            return self.search_uid(api_key, subs, cut, uid, lambda s: self._keys(transport, master, s), MAX_LISTED)
        return self.search_subs(api_key, subs, cut, lambda s: self._keys(transport, master, s),
                                "give the leaked key's secret and passphrase so its own sub-account is asked directly")

    def master_owns(self, transport: HttpTransport, master: ExchangeCredentials, hint: Any) -> bool:
        rows = self._rows(self.call(transport, self.read_call, master), f"GET {CONFIG}")
        return bool(rows) and rows[0].get("uid") == str(hint)

    def delete_sub(self, transport: HttpTransport, master: ExchangeCredentials, sub: Any, api_key: str) -> None:
        data = self.call(transport, self.request, master, "POST", SUB_DELETE, None,
                         {"subAcct": sub.name, "apiKey": api_key})
        self._rows(data, f"POST {SUB_DELETE}")


EXCHANGE = Okx()
