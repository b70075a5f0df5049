"""A local stand-in for Bybit, OKX, KuCoin, Kraken, Coinbase, Bitget, Gate, MEXC and HTX, over real
HTTP on 127.0.0.1.

Each family checks its own signature scheme with an implementation written here, apart from the
client's: Bybit's hex HMAC-SHA256 over timestamp+key+recv window+payload and its recv window; OKX's
base64 HMAC-SHA256 over ISO timestamp+method+path and the passphrase; KuCoin's v2 signature and
HMAC-signed passphrase; Kraken's HMAC-SHA512 over path+SHA256(nonce+body) with increasing nonces;
Coinbase's JWT (ES256 or EdDSA; header kid, nonce; claims iss, sub, nbf, exp 120 s later, uri);
Bitget's base64 HMAC-SHA256 with its passphrase and a 30 s window; Gate's hex HMAC-SHA512 over
method/path/query/SHA-512(body)/seconds with a 60 s window, and its sub-accounts (list, keys,
delete with HTTP 204); MEXC's hex HMAC-SHA256 over the query with its recvWindow rule; HTX's
signature v2 (base64 HMAC-SHA256 over "METHOD\nhost\npath\nsorted query"). OKX, MEXC, HTX and
KuCoin also keep master/sub-account relations: the master's sub-account list, each sub-account's
keys and the delete (OKX: POST with a signed JSON body; MEXC: DELETE with signed query parameters;
HTX: POST with a JSON body, parent only; KuCoin: DELETE with the query signed before URL-encoding,
and the sub-account key's own passphrase).
It answers each exchange's documented error codes and shapes, keeps keys (deleting one really
kills it), a skewable clock, IP whitelists (`client_ip`), and injected faults (any status, any
body). Every key is generated at run time; nothing key-shaped is written in this file.
"""
from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import hmac
import json
import secrets
import string
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"


def rand(chars: str, n: int) -> str:
    while True:
        s = "".join(secrets.choice(chars) for _ in range(n))
        if chars != ALNUM or (any(c.isdigit() for c in s) and any(c.isalpha() for c in s)):
            return s


class Reply(Exception):
    def __init__(self, status: int, body: Any, content_type: str = "application/json") -> None:
        self.status, self.body, self.content_type = status, body, content_type


@dataclass
class FKey:
    exchange: str
    api_key: str
    secret: str
    passphrase: str | None = None
    uid: int = 0
    is_master: bool = True
    parent_uid: int = 0
    read_only: int = 0
    permissions: dict[str, Any] = field(default_factory=dict)  # exchange-shaped
    ips: list[str] = field(default_factory=list)
    deleted: bool = False
    public_key: Any = None  # Coinbase


@dataclass
class Fault:
    status: int
    body: bytes
    path: str | None = None
    times: int = 1
    content_type: str = "application/json"
    method: str | None = None


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: str
    query: str = ""


class FakeExchanges:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.keys: dict[str, FKey] = {}
        self.requests: list[Seen] = []
        self.faults: list[Fault] = []
        self.violations: list[str] = []
        self.client_ip = "127.0.0.1"
        self.clock_offset_ms = 0
        self.nonces: dict[str, int] = {}
        self._uid = 1000
        self._server: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------------------- lifecycle
    def start(self) -> FakeExchanges:
        fake = self

        class Handler(_Handler):
            pass

        Handler.fake = fake
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def now_ms(self) -> int:
        return int(time.time() * 1000) + self.clock_offset_ms

    def inject(self, status: int, body: bytes | str, *, path: str | None = None, times: int = 1,
               content_type: str = "application/json", method: str | None = None) -> None:
        self.faults.append(Fault(status, body.encode() if isinstance(body, str) else body, path, times, content_type,
                                 method))

    def mutating(self) -> list[Seen]:
        return [r for r in self.requests if r.method == "POST" and ("/delete" in r.path or "/update" in r.path)]

    def alive(self, api_key: str) -> bool:
        return not self.keys[api_key].deleted

    # ----------------------------------------------------------------------------- keys
    def add(self, exchange: str, *, is_master: bool = True, parent: FKey | None = None, **kw: Any) -> FKey:
        self._uid += 1
        secret: str
        passphrase = None
        public = None
        if exchange == "bybit":
            api_key, secret = rand(ALNUM, 18), rand(ALNUM, 36)
        elif exchange == "okx":
            api_key, secret, passphrase = str(uuid.uuid4()), rand("0123456789ABCDEF", 32), rand(ALNUM, 12)
        elif exchange == "kucoin":
            api_key, secret = rand("0123456789abcdef", 24), str(uuid.uuid4())
            passphrase = kw.pop("passphrase", None) or rand(ALNUM, 12)
        elif exchange == "kraken":
            api_key = base64.b64encode(secrets.token_bytes(42)).decode()
            secret = base64.b64encode(secrets.token_bytes(64)).decode()
        elif exchange == "coinbase":
            api_key = f"organizations/{uuid.uuid4()}/apiKeys/{uuid.uuid4()}"
            if kw.pop("ed25519_pem", False):  # a PKCS#8 PEM Ed25519 key (`-----BEGIN PRIVATE KEY-----`)
                priv = ed25519.Ed25519PrivateKey.generate()
                secret = priv.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()).decode()
                public = priv.public_key()
            elif kw.pop("ed25519", False):
                priv = ed25519.Ed25519PrivateKey.generate()
                seed = priv.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                          serialization.NoEncryption())
                pub = priv.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
                secret = base64.b64encode(seed + pub).decode()
                public = priv.public_key()
            else:
                priv_ec = ec.generate_private_key(ec.SECP256R1())
                secret = priv_ec.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                               serialization.NoEncryption()).decode()
                public = priv_ec.public_key()
        elif exchange == "bitget":
            api_key, secret, passphrase = "bg_" + rand(HEX, 32), rand(HEX, 64), rand(ALNUM, 12)
        elif exchange == "gate":
            api_key, secret = rand(HEX, 32), rand(HEX, 64)
        elif exchange == "mexc":
            api_key, secret = "mx0" + rand(ALNUM, 15), rand(HEX, 32)
        elif exchange == "htx":
            api_key = "-".join((rand(HEX, 8), rand(HEX, 8), rand(string.ascii_lowercase + string.digits, 10),
                                rand(HEX, 5)))
            secret = "-".join((rand(HEX, 8), rand(HEX, 8), rand(HEX, 8), rand(HEX, 5)))
        else:
            raise ValueError(exchange)
        key = FKey(exchange, api_key, secret, passphrase, uid=self._uid, is_master=is_master,
                   parent_uid=parent.uid if parent else 0, public_key=public, **kw)
        self.keys[api_key] = key
        return key

    # ---------------------------------------------------------------------------- serving
    def handle(self, method: str, path: str, query: str, headers: dict[str, str], body: str) -> tuple[int, bytes, str]:
        with self.lock:
            self.requests.append(Seen(method, path, headers, body, query))
            for f in self.faults:
                if f.times > 0 and (f.path is None or f.path == path) and f.method in (None, method):
                    f.times -= 1
                    return f.status, f.body, f.content_type
        try:
            if path.startswith("/v5/"):
                out = self.bybit(method, path, query, headers, body)
            elif path.startswith("/api/v5/"):
                out = self.okx(method, path, query, headers, body)
            elif path.startswith("/api/v1/") or path == "/api/v2/sub/user":
                out = self.kucoin(method, path, query, headers)
            elif path.startswith("/0/"):
                out = self.kraken(path, headers, body)
            elif path.startswith("/api/v3/brokerage/"):
                out = self.coinbase(method, path, headers)
            elif path.startswith("/api/v2/"):
                out = self.bitget(method, path, query, headers)
            elif path.startswith("/api/v4/"):
                out = self.gate(method, path, query, headers, body)
            elif path.startswith("/api/v3/"):
                out = self.mexc(method, path, query, headers)
            elif path.startswith(("/v1/", "/v2/")):
                out = self.htx(method, path, query, headers, body)
            else:
                raise Reply(404, {"error": "not found"})
        except Reply as r:
            body_out = r.body if isinstance(r.body, bytes) else json.dumps(r.body).encode()
            return r.status, body_out, r.content_type
        return 200, json.dumps(out).encode(), "application/json"

    def _ip_ok(self, key: FKey) -> bool:
        return not key.ips or self.client_ip in key.ips

    # -- Bybit
    def _bybit_err(self, code: int, msg: str) -> Reply:
        return Reply(200, {"retCode": code, "retMsg": msg, "result": {}, "retExtInfo": {}, "time": self.now_ms()})

    def bybit(self, method: str, path: str, query: str, headers: dict[str, str], body: str) -> Any:
        if path == "/v5/market/time":
            now = self.now_ms()
            return {"retCode": 0, "retMsg": "OK", "result": {"timeSecond": str(now // 1000)}, "time": now}
        api_key = headers.get("x-bapi-api-key", "")
        key = self.keys.get(api_key)
        if key is None or key.exchange != "bybit" or key.deleted:
            raise self._bybit_err(10003, "API key is invalid.")
        ts, recv, sign = (headers.get("x-bapi-timestamp", ""), headers.get("x-bapi-recv-window", ""),
                          headers.get("x-bapi-sign", ""))
        if not (ts.isdigit() and recv.isdigit()):
            raise self._bybit_err(10001, "params error")
        if not (int(ts) - int(recv) <= self.now_ms() < int(ts) + 1000):
            raise self._bybit_err(10002, "invalid request, please check your server timestamp or recv_window param")
        payload = query if method == "GET" else body
        want = hmac.new(key.secret.encode(), (ts + api_key + recv + payload).encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, sign):
            raise self._bybit_err(10004, "Error sign, please check your signature generation algorithm.")
        if not self._ip_ok(key):
            raise self._bybit_err(10010, "Unmatched IP, please check your API key's bound IP addresses.")
        ok: dict[str, Any] = {"retCode": 0, "retMsg": "", "result": {}, "retExtInfo": {}, "time": self.now_ms()}
        if method == "GET" and path == "/v5/user/query-api":
            ok["result"] = {"id": str(key.uid), "note": "bot", "apiKey": key.api_key, "readOnly": key.read_only,
                            "secret": "", "permissions": key.permissions, "ips": key.ips or ["*"], "type": 1,
                            "deadlineDay": 90, "expiredAt": "", "createdAt": "2024-01-02T03:04:05Z", "uta": 1,
                            "userID": key.uid, "inviterID": 0, "isMaster": key.is_master,
                            "parentUid": "0" if key.is_master else str(key.parent_uid)}
            return ok
        if method != "POST":
            raise Reply(404, b"")
        try:
            data = json.loads(body or "{}")
        except ValueError:
            raise self._bybit_err(10001, "params error") from None
        granted = {x for v in key.permissions.values() for x in v}
        may = key.read_only == 0 and bool(granted & {"AccountTransfer", "SubMemberTransfer", "Withdraw"})
        if path in ("/v5/user/delete-api", "/v5/user/update-api"):
            if not key.is_master or not may:
                raise self._bybit_err(10005, "Permission denied, please check your API key permissions.")
            target = key
        elif path in ("/v5/user/delete-sub-api", "/v5/user/update-sub-api"):
            if "apikey" in data:
                target_key = self.keys.get(str(data["apikey"]))
                if (not key.is_master or not may or target_key is None or target_key.deleted
                        or target_key.parent_uid != key.uid):
                    raise self._bybit_err(10005, "Permission denied, please check your API key permissions.")
                target = target_key
            else:
                if key.is_master or not may:
                    raise self._bybit_err(10005, "Permission denied, please check your API key permissions.")
                target = key
        else:
            raise Reply(404, b"")
        if "delete" in path:
            target.deleted = True
        else:
            if not isinstance(data.get("ips"), str):
                self.violations.append(f"{path}: ips must be a comma-separated string")
            target.ips = [x for x in str(data.get("ips", "")).split(",") if x and x != "*"]
            if data.get("readOnly") == 1:
                target.read_only = 1
        return ok

    # -- OKX
    def okx(self, method: str, path: str, query: str, headers: dict[str, str], body: str = "") -> Any:
        if path == "/api/v5/public/time":
            return {"code": "0", "msg": "", "data": [{"ts": str(self.now_ms())}]}

        def err(code: str, msg: str) -> Reply:
            return Reply(401, {"msg": msg, "code": code})

        key = self.keys.get(headers.get("ok-access-key", ""))
        if key is None or key.exchange != "okx" or key.deleted:
            raise err("50111", "Invalid OK-ACCESS-KEY")
        ts = headers.get("ok-access-timestamp", "")
        try:
            when = _dt.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=_dt.timezone.utc)
        except ValueError:
            raise err("50112", "Invalid OK-ACCESS-TIMESTAMP") from None
        if abs(when.timestamp() * 1000 - self.now_ms()) > 30_000:
            raise err("50102", "Timestamp request expired")
        target = path + (f"?{query}" if query else "")
        prehash = ts + method + target + (body if method == "POST" else "")
        want = base64.b64encode(hmac.new(key.secret.encode(), prehash.encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(want.decode(), headers.get("ok-access-sign", "")):
            raise err("50113", "Invalid Sign")
        if headers.get("ok-access-passphrase") != key.passphrase:
            raise err("50105", "Your OK-ACCESS-PASSPHRASE is incorrect.")
        if not self._ip_ok(key):
            raise err("50110", f"Your IP {self.client_ip} is not included in your API key's IP whitelist.")
        if method == "GET" and path == "/api/v5/account/config":
            main = str(key.uid if key.is_master else key.parent_uid)
            return {"code": "0", "msg": "", "data": [{"uid": str(key.uid), "mainUid": main, "acctLv": "2",
                                                       "posMode": "net_mode",
                                                       "perm": key.permissions.get("perm", "read_only"),
                                                       "ip": ",".join(key.ips), "label": "bot", "level": "Lv1"}]}
        return self._okx_subaccounts(key, method, path, dict(parse_qsl(query)), headers, body)

    def _okx_subaccounts(self, key: FKey, method: str, path: str, params: dict[str, str], headers: dict[str, str],
                         body: str) -> Any:
        """The master's sub-account endpoints: list (100 a page, older pages by `after`=ts), a
        sub-account's keys by name, and the delete, which needs a master key with Trade and bound IPs."""
        def fail(code: str, msg: str) -> Reply:  # codes and words illustrative: the client relies on none
            return Reply(200, {"code": code, "msg": msg, "data": []})

        if not key.is_master:
            raise fail("59500", "Only the APIKey of the main account has permission for this operation.")
        mine = [k for k in self.keys.values() if k.exchange == "okx" and k.parent_uid == key.uid]
        subs = {k.uid: f"sub{k.uid}" for k in mine}
        by_name = {v: u for u, v in subs.items()}
        if method == "GET" and path == "/api/v5/users/subaccount/list":
            limit = int(params.get("limit", "100"))
            if limit > 100:
                raise fail("51000", "Parameter limit error")
            rows = [{"subAcct": name, "uid": str(uid), "ts": str(1_600_000_000_000 + uid), "type": "1", "enable": True,
                     "label": "", "canTransOut": True} for uid, name in sorted(subs.items(), reverse=True)]
            if "after" in params:
                rows = [r for r in rows if int(r["ts"]) < int(params["after"])]
            return {"code": "0", "msg": "", "data": rows[:limit]}
        if method == "GET" and path == "/api/v5/users/subaccount/apikey":
            uid = by_name.get(params.get("subAcct", ""))
            if uid is None:
                raise fail("59510", "Sub-account does not exist")
            return {"code": "0", "msg": "", "data": [
                {"label": "bot", "apiKey": k.api_key, "perm": k.permissions.get("perm", "read_only"),
                 "ip": ",".join(k.ips), "ts": "1704164645000"} for k in mine if k.uid == uid and not k.deleted]}
        if method == "POST" and path == "/api/v5/users/subaccount/delete-apikey":
            if headers.get("content-type") != "application/json":
                self.violations.append("OKX delete-apikey: not a JSON body")
            data = json.loads(body or "{}")
            if "trade" not in key.permissions.get("perm", "read_only") or not key.ips:
                raise fail("59001", "the master key needs the Trade permission and bound IP addresses")
            uid = by_name.get(str(data.get("subAcct", "")))
            if uid is None:
                raise fail("59510", "Sub-account does not exist")
            target = [k for k in mine if k.uid == uid and k.api_key == data.get("apiKey") and not k.deleted]
            if not target:
                raise fail("59506", "APIKey does not exist")
            target[0].deleted = True
            return {"code": "0", "msg": "", "data": [{"subAcct": data["subAcct"]}]}
        raise Reply(404, b"")

    # -- KuCoin
    def kucoin(self, method: str, path: str, query: str, headers: dict[str, str]) -> Any:
        if path == "/api/v1/timestamp":
            return {"code": "200000", "data": self.now_ms()}

        def err(code: str, msg: str) -> Reply:
            return Reply(401, {"code": code, "msg": msg})

        key = self.keys.get(headers.get("kc-api-key", ""))
        if key is None or key.exchange != "kucoin" or key.deleted:
            raise err("400003", "KC-API-KEY not exists")
        ts = headers.get("kc-api-timestamp", "")
        if not ts.isdigit() or abs(int(ts) - self.now_ms()) > 5000:
            raise err("400002", "KC-API-TIMESTAMP Invalid -- Time differs from server time by more than 5 seconds")
        if headers.get("kc-api-key-version") != "2":
            self.violations.append("KC-API-KEY-VERSION is not 2")

        def b64(text: str) -> str:
            return base64.b64encode(hmac.new(key.secret.encode(), text.encode(), hashlib.sha256).digest()).decode()

        target = path + (f"?{unquote(query)}" if query else "")  # KuCoin signs the query before URL-encoding
        if not hmac.compare_digest(b64(ts + method + target), headers.get("kc-api-sign", "")):
            raise err("400005", "Signature error. Please check your signature.")
        if headers.get("kc-api-passphrase") != b64(key.passphrase or ""):
            raise err("400004", "Invalid KC-API-PASSPHRASE")
        if not self._ip_ok(key):
            raise err("400006", "Invalid request ip, the current clientIp is:" + self.client_ip)
        if method == "GET" and path == "/api/v1/user/api-key":
            return {"code": "200000", "data": {"remark": "bot", "apiKey": key.api_key, "apiVersion": 3,
                                                "permission": key.permissions.get("permission", "General"),
                                                "ipWhitelist": ",".join(key.ips), "createdAt": 1704164645000,
                                                "uid": key.uid, "isMaster": key.is_master}}
        return self._kucoin_subaccounts(key, method, path, dict(parse_qsl(query)))

    def _kucoin_subaccounts(self, key: FKey, method: str, path: str, params: dict[str, str]) -> Any:
        """The master's sub-account endpoints: the paged list (pageSize 1..100), a sub-account's keys
        by name (the apiKey filter optional), and the delete, which needs the sub-account key's own
        passphrase."""
        def fail(code: str, msg: str) -> Reply:  # codes and words illustrative: the client relies on none
            return Reply(200, {"code": code, "msg": msg})

        if not key.is_master:
            raise fail("400007", "Access denied, require more permission.")
        mine = [k for k in self.keys.values() if k.exchange == "kucoin" and k.parent_uid == key.uid]
        subs = {k.uid: f"sub{k.uid}" for k in mine}
        by_name = {v: u for u, v in subs.items()}
        if method == "GET" and path == "/api/v2/sub/user":
            page, size = int(params.get("currentPage", "1")), int(params.get("pageSize", "10"))
            if not 1 <= size <= 100:
                raise fail("400100", "pageSize must be between 1 and 100")
            rows = [{"userId": f"{uid:024x}", "uid": uid, "subName": name, "status": 2, "type": 0, "access": "All",
                     "createdAt": 1668562696000, "remarks": ""} for uid, name in sorted(subs.items())]
            total_page = max(1, -(-len(rows) // size))
            return {"code": "200000", "data": {"currentPage": page, "pageSize": size, "totalNum": len(rows),
                                               "totalPage": total_page, "items": rows[(page - 1) * size: page * size]}}
        if path != "/api/v1/sub/api-key" or method not in ("GET", "DELETE"):
            raise Reply(404, b"")
        uid = by_name.get(params.get("subName", ""))
        if uid is None:
            raise fail("400100", "sub account does not exist")
        held = [k for k in mine if k.uid == uid and not k.deleted]
        if method == "GET":
            return {"code": "200000", "data": [
                {"subName": subs[uid], "remark": "bot", "apiKey": k.api_key, "apiVersion": 3,
                 "permission": k.permissions.get("permission", "General"), "ipWhitelist": ",".join(k.ips),
                 "createdAt": 1704164645000, "uid": uid, "isMaster": False}
                for k in held if k.api_key == params.get("apiKey", k.api_key)]}
        target = [k for k in held if k.api_key == params.get("apiKey")]
        if not target:
            raise fail("400100", "api key does not exist")
        if target[0].passphrase != params.get("passphrase"):
            raise fail("400100", "passphrase error")
        target[0].deleted = True
        return {"code": "200000", "data": {"subName": subs[uid], "apiKey": target[0].api_key}}

    # -- Kraken
    def kraken(self, path: str, headers: dict[str, str], body: str) -> Any:
        def err(*errors: str) -> Reply:
            return Reply(200, {"error": list(errors)})

        key = self.keys.get(headers.get("api-key", ""))
        if key is None or key.exchange != "kraken" or key.deleted or not self._ip_ok(key):
            raise err("EAPI:Invalid key")
        nonce = dict(parse_qsl(body)).get("nonce", "")
        message = path.encode() + hashlib.sha256((nonce + body).encode()).digest()
        want = base64.b64encode(hmac.new(base64.b64decode(key.secret), message, hashlib.sha512).digest()).decode()
        if not hmac.compare_digest(want, headers.get("api-sign", "")):
            raise err("EAPI:Invalid signature")
        if not nonce.isdigit() or int(nonce) <= self.nonces.get(key.api_key, 0):
            raise err("EAPI:Invalid nonce")
        self.nonces[key.api_key] = int(nonce)
        if path != "/0/private/GetApiKeyInfo":
            raise err("EGeneral:Unknown method")
        return {"error": [], "result": {"apiKeyName": "bot", "apiKey": key.api_key, "nonce": nonce, "nonceWindow": 0,
                                        "permissions": key.permissions.get("permissions", ["query-funds"]),
                                        "iban": "AA00 TEST TEST TEST", "validUntil": "0", "queryFrom": "0",
                                        "queryTo": "0", "createdTime": "1704164645", "modifiedTime": "1704164645",
                                        "ipAllowlist": key.ips, "lastUsed": "0"}}

    # -- Coinbase
    def coinbase(self, method: str, path: str, headers: dict[str, str]) -> Any:
        unauthorized = Reply(401, b"Unauthorized\n", "text/plain")
        auth = headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth.count(".") != 2:
            raise unauthorized
        h64, c64, s64 = auth[len("Bearer "):].split(".")

        def unb64(s: str) -> bytes:
            return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))

        header, claims, sig = json.loads(unb64(h64)), json.loads(unb64(c64)), unb64(s64)
        key = self.keys.get(str(header.get("kid")))
        if key is None or key.exchange != "coinbase" or key.deleted or not self._ip_ok(key):
            raise unauthorized
        signed = f"{h64}.{c64}".encode()
        try:
            if header.get("alg") == "ES256" and isinstance(key.public_key, ec.EllipticCurvePublicKey):
                r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
                key.public_key.verify(encode_dss_signature(r, s), signed, ec.ECDSA(hashes.SHA256()))
            elif header.get("alg") == "EdDSA" and isinstance(key.public_key, ed25519.Ed25519PublicKey):
                key.public_key.verify(sig, signed)
            else:
                raise unauthorized
        except InvalidSignature:
            raise unauthorized from None
        now = self.now_ms() // 1000
        host = headers.get("host", "")
        problems = [name for name, ok in (
            ("iss", claims.get("iss") == "cdp"), ("sub", claims.get("sub") == key.api_key),
            ("nonce", isinstance(header.get("nonce"), str) and len(header["nonce"]) >= 16),
            ("exp", claims.get("exp", 0) - claims.get("nbf", 0) == 120),
            ("time", claims.get("nbf", 1 << 40) - 5 <= now <= claims.get("exp", 0)),
            ("uri", claims.get("uri") == f"{method} {host}{path}")) if not ok]
        if problems:
            self.violations.append("JWT: " + ", ".join(problems))
            raise unauthorized
        if path != "/api/v3/brokerage/key_permissions":
            raise Reply(404, b"")
        p = key.permissions
        return {"can_view": p.get("can_view", True), "can_trade": p.get("can_trade", False),
                "can_transfer": p.get("can_transfer", False), "portfolio_uuid": str(uuid.UUID(int=key.uid)),
                "portfolio_type": "DEFAULT"}

    # -- Bitget
    def bitget(self, method: str, path: str, query: str, headers: dict[str, str]) -> Any:
        def ok(data: Any) -> dict[str, Any]:
            return {"code": "00000", "msg": "success", "requestTime": self.now_ms(), "data": data}

        if path == "/api/v2/public/time":
            return ok({"serverTime": str(self.now_ms())})

        def err(code: str, msg: str) -> Reply:
            return Reply(400, {"code": code, "msg": msg, "requestTime": self.now_ms(), "data": None})

        key = self.keys.get(headers.get("access-key", ""))
        if key is None or key.exchange != "bitget" or key.deleted:
            raise err("40006", "Invalid ACCESS_KEY")
        ts = headers.get("access-timestamp", "")
        if not ts.isdigit():
            raise err("40005", "Invalid ACCESS_TIMESTAMP")
        if abs(int(ts) - self.now_ms()) > 30_000:
            raise err("40008", "Request timestamp expired")
        target = path + (f"?{query}" if query else "")
        want = base64.b64encode(hmac.new(key.secret.encode(), (ts + method + target).encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(want.decode(), headers.get("access-sign", "")):
            raise err("40009", "sign signature error")
        if headers.get("access-passphrase") != key.passphrase:
            raise err("40012", "apikey/password is incorrect")
        if not self._ip_ok(key):
            raise err("40018", "Invalid IP")
        if path != "/api/v2/spot/account/info":
            raise Reply(404, b"")
        if key.permissions.get("unified"):
            raise err("40085", "You are in Unified Account mode, and the Classic Account API is not supported")
        return ok({"userId": str(key.uid), "inviterId": "0", "ips": ",".join(key.ips),
                   "authorities": key.permissions.get("authorities", ["stor"]),
                   "parentId": key.parent_uid or key.uid, "traderType": "not_trader", "channelCode": "",
                   "channel": "", "regisTime": "1704164645000"})

    # -- Gate
    def gate(self, method: str, path: str, query: str, headers: dict[str, str], body: str) -> Any:
        if path == "/api/v4/spot/time":
            return {"server_time": self.now_ms()}

        def err(label: str, message: str, status: int = 401) -> Reply:
            return Reply(status, {"label": label, "message": message})

        key = self.keys.get(headers.get("key", ""))
        if key is None or key.exchange != "gate" or key.deleted:
            raise err("INVALID_KEY", "Invalid key provided")
        ts = headers.get("timestamp", "")
        if not ts.isdigit():
            raise err("MISSING_REQUIRED_HEADER", "Timestamp")
        if abs(int(ts) - self.now_ms() // 1000) > 60:
            raise err("REQUEST_EXPIRED", "gap between request Timestamp and server time exceeds 60")
        payload = "\n".join((method, path, query, hashlib.sha512(body.encode()).hexdigest(), ts))
        want = hmac.new(key.secret.encode(), payload.encode(), hashlib.sha512).hexdigest()
        if not hmac.compare_digest(want, headers.get("sign", "")):
            raise err("INVALID_SIGNATURE", "Signature mismatch")
        if not self._ip_ok(key):
            raise err("IP_FORBIDDEN", f"Request IP not in whitelist: {self.client_ip}")
        if method == "GET" and path == "/api/v4/account/detail":
            return {"user_id": key.uid, "ip_whitelist": key.ips, "currency_pairs": [], "key": {"mode": 1}, "tier": 0}
        parts = path.split("/")  # '', api, v4, sub_accounts, uid, keys, key
        if len(parts) < 4 or parts[3] != "sub_accounts":
            raise Reply(404, {"label": "NOT_FOUND", "message": "not found"})
        if not key.is_master:
            raise err("FORBIDDEN", "Account has no permission to request operation")
        mine = [k for k in self.keys.values() if k.exchange == "gate" and k.parent_uid == key.uid]
        if len(parts) == 4 and method == "GET":
            return [{"user_id": uid, "login_name": f"sub{uid}", "state": 1} for uid in sorted({k.uid for k in mine})]
        uid = int(parts[4]) if parts[4].isdigit() else -1
        if uid not in {k.uid for k in mine}:
            raise err("SUB_ACCOUNT_NOT_FOUND", "Sub account not found", 400)
        held = [k for k in mine if k.uid == uid and not k.deleted]
        if len(parts) == 6 and method == "GET":
            return [{"user_id": str(uid), "key": k.api_key, "name": "bot", "mode": 1, "state": 1,
                     "perms": [{"name": "spot", "read_only": False}], "ip_whitelist": k.ips} for k in held]
        if len(parts) == 7 and method == "DELETE":
            target = [k for k in held if k.api_key == parts[6]]
            if not target:
                raise err("NOT_FOUND", "API key not found", 400)
            target[0].deleted = True
            raise Reply(204, b"")
        raise Reply(404, {"label": "NOT_FOUND", "message": "not found"})

    # -- MEXC
    def mexc(self, method: str, path: str, query: str, headers: dict[str, str]) -> Any:
        if path == "/api/v3/time":
            return {"serverTime": self.now_ms()}

        def err(code: int, msg: str) -> Reply:
            return Reply(400, {"code": code, "msg": msg})

        key = self.keys.get(headers.get("x-mexc-apikey", ""))
        if key is None or key.exchange != "mexc" or key.deleted:
            raise err(10072, "Api key info invalid")
        total, _, signature = query.rpartition("&signature=")
        params = dict(parse_qsl(total))
        if not params.get("timestamp", "").isdigit():
            raise err(700004, "Param 'timestamp' must be sent")
        want = hmac.new(key.secret.encode(), total.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, signature):
            raise err(700002, "Signature for this request is not valid.")
        ts, window, now = int(params["timestamp"]), int(params.get("recvWindow", "5000")), self.now_ms()
        if not (ts < now + 1000 and now - ts <= window):
            raise err(700003, "Timestamp for this request is outside of the recvWindow.")
        if not self._ip_ok(key):
            raise err(700006, f"IP [{self.client_ip}] not in the ip white list")
        if path.startswith("/api/v3/sub-account/"):
            return self._mexc_subaccounts(key, method, path, params)
        if path != "/api/v3/account":
            raise Reply(404, b"")
        p = key.permissions
        return {"makerCommission": None, "takerCommission": None, "buyerCommission": None, "sellerCommission": None,
                "canTrade": p.get("canTrade", True), "canWithdraw": p.get("canWithdraw", True), "canDeposit": True,
                "updateTime": None, "accountType": "SPOT", "balances": [{"asset": "USDT", "free": "1", "locked": "0"}],
                "permissions": ["SPOT"]}

    def _mexc_subaccounts(self, key: FKey, method: str, path: str, params: dict[str, str]) -> Any:
        """The master's sub-account endpoints: list (pages of `limit`), a sub-account's keys, delete."""
        def err(code: int, msg: str) -> Reply:
            return Reply(400, {"code": code, "msg": msg})

        if not key.is_master:
            raise err(700007, "No permission to access the endpoint.")
        mine = [k for k in self.keys.values() if k.exchange == "mexc" and k.parent_uid == key.uid]
        subs = {f"sub{u}": u for u in sorted({k.uid for k in mine})}
        if method == "GET" and path == "/api/v3/sub-account/list":
            page, limit = int(params.get("page", "1")), int(params.get("limit", "10"))
            if limit > 200:
                raise err(700004, "limit must be at most 200")  # illustrative: the client never sends more
            rows = [{"subAccount": n, "isFreeze": False, "createTime": 1704164645000, "uid": str(u)}
                    for n, u in subs.items()]
            return {"subAccounts": rows[(page - 1) * limit: page * limit]}
        uid = subs.get(params.get("subAccount", ""))
        if uid is None:
            raise err(140001, "sub account does not exist")  # illustrative code
        held = [k for k in mine if k.uid == uid and not k.deleted]
        if method == "GET" and path == "/api/v3/sub-account/apiKey":
            return {"subAccount": [{"note": "bot", "apiKey": k.api_key, "permissions": "SPOT_ACCOUNT_READ",
                                    "ip": ",".join(k.ips), "creatTime": 1704164645000} for k in held]}
        if method == "DELETE" and path == "/api/v3/sub-account/apiKey":
            target = [k for k in held if k.api_key == params.get("apiKey")]
            if not target:
                raise err(140002, "api key does not exist")  # illustrative code
            target[0].deleted = True
            return {"subAccount": params["subAccount"]}
        raise Reply(404, b"")

    # -- HTX
    def htx(self, method: str, path: str, query: str, headers: dict[str, str], body: str = "") -> Any:
        def err(msg: str) -> Reply:
            return Reply(200, {"status": "error", "err-code": "api-signature-not-valid", "err-msg": msg, "data": None})

        pairs = parse_qsl(query, keep_blank_values=True)
        params = {k: v for k, v in pairs if k != "Signature"}
        key = self.keys.get(params.get("AccessKeyId", ""))
        if key is None or key.exchange != "htx" or key.deleted:
            raise err("Signature not valid: Incorrect Access key [Access key错误]")
        if (params.get("SignatureMethod"), params.get("SignatureVersion")) != ("HmacSHA256", "2"):
            self.violations.append("HTX: SignatureMethod/SignatureVersion")
        try:
            when = _dt.datetime.strptime(params.get("Timestamp", ""), "%Y-%m-%dT%H:%M:%S")
        except ValueError:
            raise err("Signature not valid: Invalid Timestamp") from None
        if abs(when.replace(tzinfo=_dt.timezone.utc).timestamp() * 1000 - self.now_ms()) > 5 * 60_000:
            raise err("Signature not valid: Timestamp expired")
        from urllib.parse import quote as _q

        canon = "&".join(f"{k}={_q(v, safe='')}" for k, v in sorted(params.items()))
        payload = f"{method}\n{headers.get('host', '').lower()}\n{path}\n{canon}"
        want = base64.b64encode(hmac.new(key.secret.encode(), payload.encode(), hashlib.sha256).digest()).decode()
        if not hmac.compare_digest(want, dict(pairs).get("Signature", "")):
            raise err("Signature not valid: Verification failure [校验失败]")
        if not self._ip_ok(key):
            raise err("Signature not valid: Incorrect IP address")
        if path == "/v1/account/accounts":
            return {"status": "ok", "data": [{"id": key.uid * 10, "type": "spot", "subtype": "", "state": "working"}]}
        if path == "/v2/user/uid":
            return {"code": 200, "data": key.uid}
        subs = sorted({k.uid for k in self.keys.values() if k.exchange == "htx" and k.parent_uid == key.uid})
        if path == "/v2/user/api-key":
            uid = params.get("uid")
            if uid != str(key.uid) and not (key.is_master and uid in {str(u) for u in subs}):
                return {"code": 1003, "message": "invalid uid", "data": None}
            held = [k for k in self.keys.values() if k.exchange == "htx" and str(k.uid) == uid and not k.deleted
                    and (k is key or key.is_master) and k.api_key == params.get("accessKey", k.api_key)]
            return {"code": 200, "message": "success", "data": [
                {"accessKey": k.api_key, "note": "bot", "permission": k.permissions.get("permission", "readOnly"),
                 "ipAddresses": ",".join(k.ips), "validDays": -1, "status": "normal",
                 "createTime": 1704164645000, "updateTime": 1704164645000} for k in held]}
        if not key.is_master:
            return {"code": 1003, "message": "only the parent user may do this", "data": None}
        if method == "GET" and path == "/v2/sub-user/user-list":  # two a page, to exercise fromId/nextId
            start = int(params.get("fromId", "0"))
            page = [u for u in subs if u >= start][:2]
            more = [u for u in subs if u > page[-1]] if page else []
            out: dict[str, Any] = {"code": 200, "data": [{"uid": u, "userState": "normal"} for u in page]}
            if more:
                out["nextId"] = more[0]
            return out
        if method == "POST" and path == "/v2/sub-user/api-key-deletion":
            if headers.get("content-type") != "application/json":
                self.violations.append("HTX api-key-deletion: not a JSON body")
            data = json.loads(body or "{}")
            target = [k for k in self.keys.values() if k.exchange == "htx" and k.parent_uid == key.uid
                      and k.uid == data.get("subUid") and k.api_key == data.get("accessKey") and not k.deleted]
            if not target:
                return {"code": 1003, "message": "invalid accessKey", "data": None}
            target[0].deleted = True
            return {"code": 200, "data": None, "ok": True}
        raise Reply(404, b"")


class _Handler(BaseHTTPRequestHandler):
    fake: FakeExchanges
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, out, ctype = self.fake.handle(self.command, parts.path, parts.query, headers, body)
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(out)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_DELETE = _serve
