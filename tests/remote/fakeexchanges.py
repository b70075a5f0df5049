"""A local stand-in for Bybit, OKX, KuCoin, Kraken and Coinbase, over real HTTP on 127.0.0.1.

Each family checks its own signature scheme with an implementation written here, apart from the
client's: Bybit's hex HMAC-SHA256 over timestamp+key+recv window+payload and its recv window; OKX's
base64 HMAC-SHA256 over ISO timestamp+method+path and the passphrase; KuCoin's v2 signature and
HMAC-signed passphrase; Kraken's HMAC-SHA512 over path+SHA256(nonce+body) with increasing nonces;
Coinbase's JWT (ES256 or EdDSA; header kid, nonce; claims iss, sub, nbf, exp 120 s later, uri).
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
from urllib.parse import parse_qsl, urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

ALNUM = string.ascii_letters + string.digits


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


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: str


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
               content_type: str = "application/json") -> None:
        self.faults.append(Fault(status, body.encode() if isinstance(body, str) else body, path, times, content_type))

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
            api_key, secret, passphrase = rand("0123456789abcdef", 24), str(uuid.uuid4()), rand(ALNUM, 12)
        elif exchange == "kraken":
            api_key = base64.b64encode(secrets.token_bytes(42)).decode()
            secret = base64.b64encode(secrets.token_bytes(64)).decode()
        elif exchange == "coinbase":
            api_key = f"organizations/{uuid.uuid4()}/apiKeys/{uuid.uuid4()}"
            if kw.pop("ed25519", False):
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
        else:
            raise ValueError(exchange)
        key = FKey(exchange, api_key, secret, passphrase, uid=self._uid, is_master=is_master,
                   parent_uid=parent.uid if parent else 0, public_key=public, **kw)
        self.keys[api_key] = key
        return key

    # ---------------------------------------------------------------------------- serving
    def handle(self, method: str, path: str, query: str, headers: dict[str, str], body: str) -> tuple[int, bytes, str]:
        with self.lock:
            self.requests.append(Seen(method, path, headers, body))
            for f in self.faults:
                if f.times > 0 and (f.path is None or f.path == path):
                    f.times -= 1
                    return f.status, f.body, f.content_type
        try:
            if path.startswith("/v5/"):
                out = self.bybit(method, path, query, headers, body)
            elif path.startswith("/api/v5/"):
                out = self.okx(method, path, query, headers)
            elif path.startswith("/api/v1/"):
                out = self.kucoin(method, path, query, headers)
            elif path.startswith("/0/"):
                out = self.kraken(path, headers, body)
            elif path.startswith("/api/v3/brokerage/"):
                out = self.coinbase(method, path, headers)
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
    def okx(self, method: str, path: str, query: str, headers: dict[str, str]) -> Any:
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
        want = base64.b64encode(hmac.new(key.secret.encode(), (ts + method + target).encode(), hashlib.sha256).digest())
        if not hmac.compare_digest(want.decode(), headers.get("ok-access-sign", "")):
            raise err("50113", "Invalid Sign")
        if headers.get("ok-access-passphrase") != key.passphrase:
            raise err("50105", "Your OK-ACCESS-PASSPHRASE is incorrect.")
        if not self._ip_ok(key):
            raise err("50110", f"Your IP {self.client_ip} is not included in your API key's IP whitelist.")
        if path != "/api/v5/account/config":
            raise Reply(404, b"")
        main = str(key.uid if key.is_master else key.parent_uid)
        return {"code": "0", "msg": "", "data": [{"uid": str(key.uid), "mainUid": main, "acctLv": "2",
                                                   "posMode": "net_mode", "perm": key.permissions.get("perm", "read_only"),
                                                   "ip": ",".join(key.ips), "label": "bot", "level": "Lv1"}]}

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

        target = path + (f"?{query}" if query else "")
        if not hmac.compare_digest(b64(ts + method + target), headers.get("kc-api-sign", "")):
            raise err("400005", "Signature error. Please check your signature.")
        if headers.get("kc-api-passphrase") != b64(key.passphrase or ""):
            raise err("400004", "Invalid KC-API-PASSPHRASE")
        if not self._ip_ok(key):
            raise err("400006", "Invalid request ip, the current clientIp is:" + self.client_ip)
        if path != "/api/v1/user/api-key":
            raise Reply(404, b"")
        return {"code": "200000", "data": {"remark": "bot", "apiKey": key.api_key, "apiVersion": 3,
                                            "permission": key.permissions.get("permission", "General"),
                                            "ipWhitelist": ",".join(key.ips), "createdAt": 1704164645000,
                                            "uid": key.uid, "isMaster": key.is_master}}

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
