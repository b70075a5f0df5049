"""A local stand-in for the Binance REST API, over real HTTP on 127.0.0.1.

It implements the endpoints verify, revoke and activity use with Binance's rules: X-MBX-APIKEY,
HMAC-SHA256 / RSA PKCS#1 v1.5 / Ed25519 signatures over the exact query+body bytes with `signature`
last, timestamp and recvWindow against its own (skewable) clock, IP whitelists (`client_ip` is the
address the fake believes the caller has: set it, or give a key a whitelist without 127.0.0.1, and
the key answers -2015 as Binance does), Binance's error shapes and codes. It keeps accounts,
sub-accounts and keys, so deleting a key really kills it; keys carry a `createTime`.

Activity: seeded histories per account (balances, withdrawals, deposits, universal transfers, orders
and fills) behind the read endpoints, with Binance's parameter rules (`symbol` required on
allOrders/myTrades and at most 24 hours between startTime and endTime; withdrawal and deposit windows
under 90 days; `type` required on universal transfers; page sizes), request weights counted per
minute and reported in `X-MBX-USED-WEIGHT-1M` / `X-SAPI-USED-IP-WEIGHT-1M` / `X-SAPI-USED-UID-WEIGHT-1M`,
and 429 with `-1003` and Retry-After once a minute's limit (`weight_limits`) would be exceeded. Every
broken rule is also kept in `violations`, so a test can assert the client never broke one. Faults can
be injected: 429 with Retry-After, 418, a 403 HTML WAF page, 5xx, redirects, slow answers, answers
drip-fed a byte at a time (`drip=SECONDS` between bytes, from the status line on), and any status
with any body (a 200 carrying an error object, a 4xx without the fields a verdict needs).

Every key is generated at run time; nothing key-shaped is written in this file.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import ssl
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

ALNUM = string.ascii_letters + string.digits


def random_alnum(n: int = 64) -> str:
    """A Binance-shaped key: letters and digits, with both cases and a digit guaranteed."""
    while True:
        s = "".join(secrets.choice(ALNUM) for _ in range(n))
        if any(c.islower() for c in s) and any(c.isupper() for c in s) and any(c.isdigit() for c in s):
            return s


def err(code: int, msg: str) -> dict[str, Any]:
    return {"code": code, "msg": msg}


E_KEY_FORMAT = err(-2014, "API-key format invalid.")
E_REJECTED = err(-2015, "Invalid API-key, IP, or permissions for action.")
E_SIGNATURE = err(-1022, "Signature for this request is not valid.")
E_TIMESTAMP = err(-1021, "Timestamp for this request is outside of the recvWindow.")
E_UNAUTHORIZED = err(-1002, "You are not authorized to execute this request.")
E_KEY_ID = err(-2008, "Invalid Api-Key ID.")
E_NO_SUB = err(-12022, "Sub-account does not exist.")  # code unconfirmed; client must not rely on it


def E_MISSING(name: str) -> dict[str, Any]:
    return err(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


class Reply(Exception):
    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.status, self.body, self.headers = status, body, dict(headers or {})


@dataclass
class Account:
    uid: int
    email: str
    master_uid: int | None = None  # set on sub-accounts
    broker_uid: int | None = None  # set on Binance Link sub-accounts
    sub_account_id: str | None = None  # Binance Link id
    balances: dict[str, str] = field(default_factory=dict)  # asset -> free
    withdrawals: list[dict[str, Any]] = field(default_factory=list)
    deposits: list[dict[str, Any]] = field(default_factory=list)
    transfers: list[dict[str, Any]] = field(default_factory=list)
    orders: list[dict[str, Any]] = field(default_factory=list)
    trades: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Key:
    api_key: str
    uid: int
    kind: str  # hmac | rsa | ed25519
    secret: str | None = None
    public_key: Any = None
    permissions: dict[str, Any] = field(default_factory=dict)
    ip_list: list[str] = field(default_factory=list)
    ip_restrict: bool = False
    deleted: bool = False
    created: int = 0
    trading_authority_expires: int | None = None


@dataclass
class Issued:
    """What a test holds for one key: the API key and whatever signs for it."""

    api_key: str
    uid: int
    kind: str
    secret: str | None = field(default=None, repr=False)
    private_key_pem: bytes | None = field(default=None, repr=False)

    def env(self, *, prefix: str = "BINANCE", key_file: str | None = None) -> dict[str, str]:
        names = {"BINANCE": ("BINANCE_API_KEY", "BINANCE_API_SECRET", "BINANCE_PRIVATE_KEY_FILE"),
                 "MASTER": ("CEXGUARD_MASTER_API_KEY", "CEXGUARD_MASTER_API_SECRET",
                            "CEXGUARD_MASTER_PRIVATE_KEY_FILE")}[prefix]
        out = {names[0]: self.api_key}
        if self.secret is not None:
            out[names[1]] = self.secret
        elif key_file is not None:
            out[names[2]] = key_file
        return out


@dataclass
class Fault:
    status: int | None  # None: only delay, then answer normally
    path: str | None = None  # exact path, or None for any
    times: int = 1
    retry_after: str | None = None
    body: bytes | None = None
    content_type: str = "application/json"
    delay: float = 0.0
    after: bool = False  # do the real work first, then answer with the fault (lost answer)
    headers: dict[str, str] = field(default_factory=dict)
    drip: float = 0.0  # seconds between bytes of the whole answer (status line, headers, body)


@dataclass
class Recorded:
    method: str
    path: str
    query: str
    body: str
    headers: dict[str, str]
    status: int = 0
    code: int | None = None

    @property
    def raw(self) -> str:
        head = "\n".join(f"{k}: {v}" for k, v in self.headers.items())
        return f"{self.method} {self.path}?{self.query}\n{head}\n\n{self.body}"

    @property
    def params(self) -> dict[str, str]:
        return dict(parse_qsl(self.query) + parse_qsl(self.body))


ALL_PERMISSIONS = ("enableReading", "enableWithdrawals", "enableInternalTransfer", "enableMargin",
                   "enableFutures", "permitsUniversalTransfer", "enableVanillaOptions", "enableFixApiTrade",
                   "enableFixReadOnly", "enableSpotAndMarginTrading", "enablePortfolioMarginTrading")


class FakeBinance:
    def __init__(self, *, sapi: bool = True, tls: ssl.SSLContext | None = None,
                 list_has_uid: bool = True) -> None:
        self.lock = threading.RLock()
        self.accounts: dict[int, Account] = {}
        self.keys: dict[str, Key] = {}
        self.requests: list[Recorded] = []
        self.faults: list[Fault] = []
        self.clock_offset_ms = 0
        self.always_stale = False  # every timestamp is outside recvWindow
        self.sapi = sapi
        self.list_has_uid = list_has_uid
        self.client_ip = "127.0.0.1"
        self.symbols: dict[str, tuple[str, str]] = {f"{b}{q}": (b, q) for b, q in DEFAULT_SYMBOLS}
        self.weight_limits = {"api": 6000, "sapi_ip": 12000, "sapi_uid": 180000}
        self.weight_used: dict[tuple[str, Any], tuple[int, int]] = {}  # (pool, ip|uid) -> (minute, used)
        self.violations: list[str] = []  # every parameter rule a caller broke
        self._next_id = 100000
        self.dripped = 0  # drip-fed answers that ended (sent in full, or the client went away)
        self._next_uid = 1000
        self._tls = tls
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------------------- lifecycle
    def start(self) -> FakeBinance:
        fake = self

        class Handler(_Handler):
            pass

        Handler.fake = fake
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        if self._tls is not None:
            self._server.socket = self._tls.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"{'https' if self._tls else 'http'}://127.0.0.1:{self.port}"

    # -------------------------------------------------------------------------------- state
    def add_account(self, email: str, *, master: Account | None = None, broker: Account | None = None) -> Account:
        with self.lock:
            self._next_uid += 1 + secrets.randbelow(50)
            acct = Account(uid=self._next_uid, email=email, master_uid=master.uid if master else None,
                           broker_uid=broker.uid if broker else None,
                           sub_account_id=str(self._next_uid * 7) if broker else None)
            self.accounts[acct.uid] = acct
            return acct

    def add_key(self, account: Account, *, kind: str = "hmac", ip_list: list[str] | None = None,
                passphrase: bytes | None = None, pkcs1: bool = False, created_days_ago: float | None = None,
                trading_authority_expires: int | None = None, **perms: bool) -> Issued:
        permissions = {p: False for p in ALL_PERMISSIONS}
        permissions["enableReading"] = True
        permissions.update(perms)
        api_key = random_alnum()
        key = Key(api_key=api_key, uid=account.uid, kind=kind, permissions=permissions,
                  ip_list=list(ip_list or []), ip_restrict=bool(ip_list),
                  created=self.server_ms() - int((created_days_ago or 0) * DAY_MS),
                  trading_authority_expires=trading_authority_expires)
        issued = Issued(api_key=api_key, uid=account.uid, kind=kind)
        if kind == "hmac":
            key.secret = issued.secret = random_alnum()
        else:
            priv: Any = ed25519.Ed25519PrivateKey.generate() if kind == "ed25519" else \
                rsa.generate_private_key(public_exponent=65537, key_size=2048)
            key.public_key = priv.public_key()
            fmt = serialization.PrivateFormat.TraditionalOpenSSL if pkcs1 else serialization.PrivateFormat.PKCS8
            enc: Any = (serialization.BestAvailableEncryption(passphrase) if passphrase
                        else serialization.NoEncryption())
            issued.private_key_pem = priv.private_bytes(serialization.Encoding.PEM, fmt, enc)
        with self.lock:
            self.keys[api_key] = key
        return issued

    # ------------------------------------------------------------------------- histories
    def _id(self) -> int:
        with self.lock:
            self._next_id += 1 + secrets.randbelow(5)
            return self._next_id

    def add_withdrawal(self, account: Account, coin: str, amount: str, when_ms: int, *, address: str = "",
                       fee: str = "0", network: str = "", status: int = 6) -> dict[str, Any]:
        rec = {"id": secrets.token_hex(16), "amount": amount, "transactionFee": fee, "coin": coin, "status": status,
               "address": address or "bc1q" + secrets.token_hex(19), "txId": secrets.token_hex(32),
               "applyTime": _utc(when_ms), "network": network or coin, "transferType": 0, "info": "",
               "confirmNo": 3, "walletType": 0, "txKey": "", "completeTime": _utc(when_ms + 600_000),
               "_t": when_ms}
        with self.lock:
            account.withdrawals.append(rec)
        return rec

    def add_deposit(self, account: Account, coin: str, amount: str, when_ms: int, *, status: int = 1) -> dict[str, Any]:
        rec = {"id": str(self._id()), "amount": amount, "coin": coin, "network": coin, "status": status,
               "address": "0x" + secrets.token_hex(20), "addressTag": "", "txId": "0x" + secrets.token_hex(32),
               "insertTime": when_ms, "completeTime": when_ms + 600_000, "transferType": 0, "confirmTimes": "12/12",
               "unlockConfirm": 0, "walletType": 0, "_t": when_ms}
        with self.lock:
            account.deposits.append(rec)
        return rec

    def add_transfer(self, account: Account, type_: str, asset: str, amount: str, when_ms: int) -> dict[str, Any]:
        rec = {"asset": asset, "amount": amount, "type": type_, "status": "CONFIRMED", "tranId": self._id(),
               "timestamp": when_ms, "_t": when_ms}
        with self.lock:
            account.transfers.append(rec)
        return rec

    def add_order(self, account: Account, symbol: str, side: str, qty: str, price: str, when_ms: int, *,
                  status: str = "FILLED", fill: bool = True, commission: str = "0", commission_asset: str = "BNB",
                  ) -> dict[str, Any]:
        """An order on `symbol` (added to the known symbols), and its fill when `fill`."""
        from decimal import Decimal

        base, quote = _split(symbol)
        self.symbols.setdefault(symbol, (base, quote))
        executed = qty if fill else "0"
        order = {"symbol": symbol, "orderId": self._id(), "orderListId": -1, "clientOrderId": secrets.token_hex(8),
                 "price": price, "origQty": qty, "executedQty": executed,
                 "cummulativeQuoteQty": str(Decimal(executed) * Decimal(price)), "status": status,
                 "timeInForce": "GTC", "type": "LIMIT", "side": side, "stopPrice": "0", "icebergQty": "0",
                 "time": when_ms, "updateTime": when_ms, "isWorking": True, "_t": when_ms}
        with self.lock:
            account.orders.append(order)
            if fill:
                account.trades.append({
                    "symbol": symbol, "id": self._id(), "orderId": order["orderId"], "orderListId": -1,
                    "price": price, "qty": qty, "quoteQty": str(Decimal(qty) * Decimal(price)),
                    "commission": commission, "commissionAsset": commission_asset, "time": when_ms + 5,
                    "isBuyer": side == "BUY", "isMaker": False, "isBestMatch": True, "_t": when_ms + 5})
        return order

    def advance(self, seconds: float) -> None:
        """Move the fake's clock forward (a test's stand-in for waiting)."""
        with self.lock:
            self.clock_offset_ms += int(seconds * 1000)

    def alive(self, api_key: str) -> bool:
        with self.lock:
            k = self.keys.get(api_key)
            return k is not None and not k.deleted

    def inject(self, status: int | None, *, path: str | None = None, times: int = 1, retry_after: Any = None,
               body: bytes | str | None = None, content_type: str = "application/json", delay: float = 0.0,
               after: bool = False, headers: dict[str, str] | None = None, drip: float = 0.0) -> None:
        if isinstance(body, str):
            body = body.encode()
        with self.lock:
            self.faults.append(Fault(status, path, times, None if retry_after is None else str(retry_after),
                                     body, content_type, delay, after, dict(headers or {}), drip))

    def _take_fault(self, path: str) -> Fault | None:
        with self.lock:
            for f in self.faults:
                if f.times > 0 and (f.path is None or f.path == path):
                    f.times -= 1
                    return f
        return None

    def calls(self, path: str | None = None, method: str | None = None) -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if (path is None or r.path == path)
                    and (method is None or r.method == method)]

    def mutating_calls(self) -> list[Recorded]:
        return [r for r in self.calls() if r.method in ("POST", "PUT", "DELETE")]

    def server_ms(self) -> int:
        return int(time.time() * 1000) + self.clock_offset_ms

    # ------------------------------------------------------------------------------ checks
    def authenticate(self, method: str, query: str, body: str, headers: Any, *, signed: bool) -> Key:
        api_key = headers.get("X-MBX-APIKEY")
        if not api_key:
            raise Reply(401, E_KEY_FORMAT)
        if len(api_key) != 64 or any(c not in ALNUM for c in api_key):
            raise Reply(401, E_KEY_FORMAT)
        with self.lock:
            key = self.keys.get(api_key)
            if key is None or key.deleted:
                raise Reply(401, E_REJECTED)
            if key.ip_restrict and self.client_ip not in key.ip_list:
                raise Reply(401, err(-2015, "Invalid API-key, IP, or permissions for action, "
                                            f"request ip: {self.client_ip}"))
        if not signed:
            return key
        if body and headers.get("Content-Type", "").split(";")[0] != "application/x-www-form-urlencoded":
            raise Reply(400, err(-1102, "Body must be application/x-www-form-urlencoded."))
        # signature must be the last parameter: of the body when there is one, else of the query
        holder = body if body else query
        head, sep, sig_raw = holder.rpartition("signature=")
        if not sep or (head and not head.endswith("&")) or "&" in sig_raw or not sig_raw:
            raise Reply(400, E_MISSING("signature"))
        unsigned = head.removesuffix("&")
        payload = (query + unsigned) if body else unsigned
        pairs = parse_qsl(query, keep_blank_values=True) + parse_qsl(unsigned, keep_blank_values=True) if body \
            else parse_qsl(unsigned, keep_blank_values=True)
        names = [k for k, _ in pairs]
        if len(names) != len(set(names)) or "signature" in names:
            raise Reply(400, err(-1101, "Duplicate values for a parameter detected."))
        params = dict(pairs)
        if "timestamp" not in params:
            raise Reply(400, E_MISSING("timestamp"))
        try:
            ts = int(params["timestamp"])
            recv = int(params.get("recvWindow", "5000"))
        except ValueError:
            raise Reply(400, err(-1100, "Illegal characters found in parameter 'timestamp'.")) from None
        if recv > 60000:
            raise Reply(400, err(-1131, "recvWindow must be less than 60000"))
        now = self.server_ms()
        if self.always_stale or not (ts < now + 1000 and now - ts <= recv):
            raise Reply(400, E_TIMESTAMP)
        sig = unquote(sig_raw)
        if not self._signature_ok(key, payload.encode(), sig):
            raise Reply(400, E_SIGNATURE)
        return key

    @staticmethod
    def _signature_ok(key: Key, payload: bytes, sig: str) -> bool:
        if key.kind == "hmac":
            assert key.secret is not None
            want = hmac.new(key.secret.encode(), payload, hashlib.sha256).hexdigest()
            return hmac.compare_digest(want, sig)
        try:
            raw = base64.b64decode(sig, validate=True)
            if key.kind == "rsa":
                key.public_key.verify(raw, payload, padding.PKCS1v15(), hashes.SHA256())
            else:
                key.public_key.verify(raw, payload)
            return True
        except Exception:
            return False

    # ---------------------------------------------------------------------------- routes
    def dispatch(self, method: str, path: str, query: str, body: str, headers: Any) -> tuple[int, Any]:
        route = ROUTES.get((method, path))
        if route is None or (path.startswith("/sapi/") and not self.sapi):
            if any(p == path for (_, p) in ROUTES) and (path.startswith("/api/") or self.sapi):
                return 405, err(-1000, "Method not allowed.")
            raise Reply(404, None)
        handler, signed = route
        pool, weight = WEIGHTS.get((method, path), ("api" if path.startswith("/api/") else "sapi_ip", 1))
        if pool != "sapi_uid":
            self.charge(pool, self.client_ip, weight)
        if handler is None:
            return 200, {"serverTime": self.server_ms()}
        if not signed:
            params = dict(parse_qsl(query))
            with self.lock:
                return 200, handler(self, None, params)  # type: ignore[arg-type]
        key = self.authenticate(method, query, body, headers, signed=signed)
        if pool == "sapi_uid":
            self.charge(pool, key.uid, weight)
        params = dict(parse_qsl(query) + parse_qsl(body))
        params.pop("signature", None)
        with self.lock:
            return 200, handler(self, key, params)

    def charge(self, pool: str, who: Any, weight: int) -> None:
        """Count `weight` in this minute's pool; over the limit: 429 -1003 with Retry-After."""
        now = self.server_ms()
        minute = now // 60000
        with self.lock:
            m, used = self.weight_used.get((pool, who), (minute, 0))
            if m != minute:
                used = 0
            if used + weight > self.weight_limits[pool]:
                self.weight_used[(pool, who)] = (minute, used)
                self.violations.append(f"weight: {pool} {used}+{weight} > {self.weight_limits[pool]}")
                wait = max(1, 60 - (now // 1000) % 60)
                raise Reply(429, err(-1003, f"Too much request weight used; current limit is "
                                            f"{self.weight_limits[pool]} request weight per 1 MINUTE."),
                            headers={"Retry-After": str(wait)})
            self.weight_used[(pool, who)] = (minute, used + weight)

    def weight_headers(self, method: str, path: str, headers: Any) -> dict[str, str]:
        """The used-weight headers Binance sends with an answer on this path."""
        if path.startswith("/api/"):
            return {"X-MBX-USED-WEIGHT-1M": str(self.used("api", self.client_ip))}
        out = {"X-SAPI-USED-IP-WEIGHT-1M": str(self.used("sapi_ip", self.client_ip))}
        if WEIGHTS.get((method, path), ("", 0))[0] == "sapi_uid":
            k = self.keys.get(headers.get("X-MBX-APIKEY") or "")
            if k is not None:
                out["X-SAPI-USED-UID-WEIGHT-1M"] = str(self.used("sapi_uid", k.uid))
        return out

    def used(self, pool: str, who: Any) -> int:
        minute = self.server_ms() // 60000
        with self.lock:
            m, used = self.weight_used.get((pool, who), (minute, 0))
        return used if m == minute else 0

    def _caller(self, key: Key) -> Account:
        return self.accounts[key.uid]

    def _need(self, params: dict[str, str], *names: str) -> list[str]:
        for n in names:
            if not params.get(n):
                raise Reply(400, E_MISSING(n))
        return [params[n] for n in names]

    def _sub_of(self, master: Account, email: str) -> Account:
        for a in self.accounts.values():
            if a.master_uid == master.uid and a.email.lower() == email.lower():
                return a
        raise Reply(400, E_NO_SUB)

    def _key_of(self, acct: Account, api_key: str) -> Key:
        k = self.keys.get(api_key)
        if k is None or k.deleted or k.uid != acct.uid:
            raise Reply(400, E_KEY_ID)
        return k

    def _master_only(self, key: Key) -> Account:
        acct = self._caller(key)
        if acct.master_uid is not None or acct.broker_uid is not None:
            raise Reply(400, E_UNAUTHORIZED)
        return acct

    def h_account(self, key: Key, params: dict[str, str]) -> Any:
        p = key.permissions
        return {"makerCommission": 10, "takerCommission": 10, "canTrade": p.get("enableSpotAndMarginTrading", False),
                "canWithdraw": p.get("enableWithdrawals", False), "canDeposit": True, "brokered": False,
                "requireSelfTradePrevention": False, "updateTime": self.server_ms(), "accountType": "SPOT",
                "balances": [{"asset": a, "free": v, "locked": "0.00000000"}
                             for a, v in sorted(self._caller(key).balances.items())],
                "permissions": ["SPOT"], "uid": key.uid}

    def h_restrictions(self, key: Key, params: dict[str, str]) -> Any:
        out: dict[str, Any] = {"ipRestrict": key.ip_restrict, "createTime": key.created}
        out.update(key.permissions)
        if key.trading_authority_expires is not None:
            out["tradingAuthorityExpirationTime"] = key.trading_authority_expires
        out["enableSomethingNew"] = False  # clients must tolerate fields they do not know
        return out

    def h_sub_list(self, key: Key, params: dict[str, str]) -> Any:
        master = self._master_only(key)
        page = int(params.get("page", "1"))
        limit = min(int(params.get("limit", "1")), 200)  # Binance's default page size is tiny
        subs = sorted((a for a in self.accounts.values() if a.master_uid == master.uid), key=lambda a: a.uid)
        if params.get("email"):
            subs = [a for a in subs if a.email.lower() == params["email"].lower()]
        chunk = subs[(page - 1) * limit: page * limit]
        rows = []
        for a in chunk:
            row: dict[str, Any] = {"email": a.email, "isFreeze": False, "createTime": 1689744671000,
                                   "isManagedSubAccount": False, "isAssetManagementSubAccount": False}
            if self.list_has_uid:
                row["subUserId"] = a.uid
            rows.append(row)
        return {"subAccounts": rows}

    def h_sub_api_delete(self, key: Key, params: dict[str, str]) -> Any:
        master = self._master_only(key)
        email, api_key = self._need(params, "email", "subAccountApiKey")
        k = self._key_of(self._sub_of(master, email), api_key)
        k.deleted = True
        return {}

    def h_sub_ip_get(self, key: Key, params: dict[str, str]) -> Any:
        master = self._master_only(key)
        email, api_key = self._need(params, "email", "subAccountApiKey")
        k = self._key_of(self._sub_of(master, email), api_key)
        return {"ipRestrict": "true" if k.ip_restrict else "false", "ipList": list(k.ip_list),
                "updateTime": self.server_ms(), "apiKey": k.api_key}

    def h_sub_ip_post(self, key: Key, params: dict[str, str]) -> Any:
        master = self._master_only(key)
        email, api_key, status = self._need(params, "email", "subAccountApiKey", "status")
        k = self._key_of(self._sub_of(master, email), api_key)
        ips = [ip for ip in params.get("ipAddress", "").split(",") if ip]
        k.ip_restrict = status == "2"
        k.ip_list = ips if k.ip_restrict else []
        return {"status": status, "ipList": ips, "updateTime": self.server_ms(), "apiKey": k.api_key}

    def h_broker_api_delete(self, key: Key, params: dict[str, str]) -> Any:
        broker = self._master_only(key)
        sub_id, api_key = self._need(params, "subAccountId", "subAccountApiKey")
        for a in self.accounts.values():
            if a.broker_uid == broker.uid and a.sub_account_id == sub_id:
                self._key_of(a, api_key).deleted = True
                return {}
        raise Reply(400, err(-3003, "Sub account does not exist."))


    # ------------------------------------------------------------------ activity (read-only)
    def _reading(self, key: Key) -> Account:
        if not key.permissions.get("enableReading"):
            raise Reply(401, E_REJECTED)
        return self._caller(key)

    def _bad(self, status: int, code: int, msg: str) -> Reply:
        self.violations.append(f"{code}: {msg}")
        return Reply(status, err(code, msg))

    def _int(self, params: dict[str, str], name: str) -> int | None:
        if name not in params:
            return None
        try:
            return int(params[name])
        except ValueError:
            raise self._bad(400, -1100, f"Illegal characters found in parameter '{name}'.") from None

    def _window(self, params: dict[str, str], max_ms: int, *, strict: bool) -> tuple[int, int]:
        """Binance's defaults: endTime now, startTime 90 days before it; the span must be under (or,
        not `strict`, at most) `max_ms`."""
        end = self._int(params, "endTime")
        start = self._int(params, "startTime")
        end = self.server_ms() if end is None else end
        start = end - 90 * DAY_MS if start is None else start
        span = end - start
        if span < 0 or span > max_ms or (strict and span == max_ms):
            raise self._bad(400, -1127, f"More than {max_ms // 3_600_000} hours between startTime and endTime.")
        return start, end

    def _limit(self, params: dict[str, str], name: str, default: int, most: int) -> int:
        n = self._int(params, name)
        if n is None:
            return default
        if not 1 <= n <= most:
            raise self._bad(400, -1130, f"Data sent for parameter '{name}' is not valid.")
        return n

    def h_trading_status(self, key: Key, params: dict[str, str]) -> Any:
        self._reading(key)
        return {"data": {"isLocked": False, "plannedRecoverTime": 0,
                         "triggerCondition": {"GCR": 150, "IFER": 150, "UFR": 300}, "updateTime": 0}}

    def h_withdraw_history(self, key: Key, params: dict[str, str]) -> Any:
        acct = self._reading(key)
        start, end = self._window(params, 90 * DAY_MS, strict=True)
        limit = self._limit(params, "limit", 1000, 1000)
        offset = self._int(params, "offset") or 0
        rows = sorted((w for w in acct.withdrawals if start <= w["_t"] <= end), key=lambda w: -w["_t"])
        return [_public(w) for w in rows[offset:offset + limit]]

    def h_deposit_history(self, key: Key, params: dict[str, str]) -> Any:
        acct = self._reading(key)
        start, end = self._window(params, 90 * DAY_MS, strict=True)
        limit = self._limit(params, "limit", 1000, 1000)
        offset = self._int(params, "offset") or 0
        rows = sorted((d for d in acct.deposits if start <= d["_t"] <= end), key=lambda d: -d["_t"])
        return [_public(d) for d in rows[offset:offset + limit]]

    def h_transfers(self, key: Key, params: dict[str, str]) -> Any:
        acct = self._reading(key)
        type_ = self._need(params, "type")[0]
        if type_ not in TRANSFER_TYPES:
            raise self._bad(400, -1100, "Illegal characters found in parameter 'type'.")
        if type_ in ("ISOLATEDMARGIN_MARGIN", "ISOLATEDMARGIN_ISOLATEDMARGIN") and not params.get("fromSymbol"):
            raise self._bad(400, -1102, "Mandatory parameter 'fromSymbol' was not sent, was empty/null, or malformed.")
        if type_ in ("MARGIN_ISOLATEDMARGIN", "ISOLATEDMARGIN_ISOLATEDMARGIN") and not params.get("toSymbol"):
            raise self._bad(400, -1102, "Mandatory parameter 'toSymbol' was not sent, was empty/null, or malformed.")
        now = self.server_ms()
        start, end = self._int(params, "startTime"), self._int(params, "endTime")
        if start is None and end is None:
            start, end = now - 7 * DAY_MS, now
        start = max(start if start is not None else 0, now - 182 * DAY_MS)  # the last 6 months only
        end = end if end is not None else now
        size = self._limit(params, "size", 10, 100)
        current = self._int(params, "current") or 1
        rows = sorted((t for t in acct.transfers if t["type"] == type_ and start <= t["_t"] <= end),
                      key=lambda t: -t["_t"])
        page = rows[(current - 1) * size: current * size]
        out: dict[str, Any] = {"total": len(rows)}
        if page:
            out["rows"] = [_public(t) for t in page]  # Binance leaves `rows` out when there are none
        return out

    def _symbol_rows(self, key: Key, params: dict[str, str], table: str, id_param: str, id_field: str) -> Any:
        acct = self._reading(key)
        symbol = params.get("symbol")
        if not symbol:
            raise self._bad(400, -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
        if symbol not in self.symbols:
            raise self._bad(400, -1121, "Invalid symbol.")
        start, end = self._int(params, "startTime"), self._int(params, "endTime")
        from_id = self._int(params, id_param)
        limit = self._limit(params, "limit", 500, 1000)
        if start is not None and end is not None and end - start > DAY_MS:
            raise self._bad(400, -1127, "More than 24 hours between startTime and endTime.")
        if from_id is not None and (start is not None or end is not None):
            raise self._bad(400, -1128, "Combination of optional parameters invalid.")
        rows = sorted((r for r in getattr(acct, table) if r["symbol"] == symbol), key=lambda r: (r["_t"], r[id_field]))
        if from_id is not None:
            rows = [r for r in rows if r[id_field] >= from_id][:limit]
        elif start is not None:
            rows = [r for r in rows if r["_t"] >= start and (end is None or r["_t"] <= end)][:limit]
        elif end is not None:
            rows = [r for r in rows if r["_t"] <= end][-limit:]
        else:
            rows = rows[-limit:]
        return [_public(r) for r in rows]

    def h_all_orders(self, key: Key, params: dict[str, str]) -> Any:
        return self._symbol_rows(key, params, "orders", "orderId", "orderId")

    def h_my_trades(self, key: Key, params: dict[str, str]) -> Any:
        return self._symbol_rows(key, params, "trades", "fromId", "id")

    def h_ticker_price(self, key: Any, params: dict[str, str]) -> Any:
        return [{"symbol": s, "price": "1.00000000"} for s in sorted(self.symbols)]


DAY_MS = 86_400_000
DEFAULT_SYMBOLS = (("BTC", "USDT"), ("ETH", "USDT"), ("BNB", "USDT"), ("ETH", "BTC"), ("BNB", "BTC"),
                   ("SOL", "USDT"), ("XRP", "USDT"), ("BTC", "FDUSD"))
TRANSFER_TYPES = frozenset((
    "MAIN_UMFUTURE", "MAIN_CMFUTURE", "MAIN_MARGIN", "UMFUTURE_MAIN", "UMFUTURE_MARGIN", "CMFUTURE_MAIN",
    "CMFUTURE_MARGIN", "MARGIN_MAIN", "MARGIN_UMFUTURE", "MARGIN_CMFUTURE", "ISOLATEDMARGIN_MARGIN",
    "MARGIN_ISOLATEDMARGIN", "ISOLATEDMARGIN_ISOLATEDMARGIN", "MAIN_FUNDING", "FUNDING_MAIN", "FUNDING_UMFUTURE",
    "UMFUTURE_FUNDING", "MARGIN_FUNDING", "FUNDING_MARGIN", "FUNDING_CMFUTURE", "CMFUTURE_FUNDING", "MAIN_OPTION",
    "OPTION_MAIN", "UMFUTURE_OPTION", "OPTION_UMFUTURE", "MARGIN_OPTION", "OPTION_MARGIN", "FUNDING_OPTION",
    "OPTION_FUNDING", "MAIN_PORTFOLIO_MARGIN", "PORTFOLIO_MARGIN_MAIN"))


def _utc(ms: int) -> str:
    import datetime

    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _split(symbol: str) -> tuple[str, str]:
    for q in ("USDT", "FDUSD", "USDC", "BTC", "ETH", "BNB", "EUR", "TRY"):
        if symbol.endswith(q) and len(symbol) > len(q):
            return symbol[: -len(q)], q
    return symbol[:-3], symbol[-3:]


def _public(rec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in rec.items() if not k.startswith("_")}


Handler_t = Callable[[FakeBinance, Key, dict[str, str]], Any]
ROUTES: dict[tuple[str, str], tuple[Handler_t | None, bool]] = {
    ("GET", "/api/v3/time"): (None, False),
    ("GET", "/api/v3/account"): (FakeBinance.h_account, True),
    ("GET", "/sapi/v1/account/apiRestrictions"): (FakeBinance.h_restrictions, True),
    ("GET", "/sapi/v1/sub-account/list"): (FakeBinance.h_sub_list, True),
    ("DELETE", "/sapi/v1/sub-account/subAccountApi"): (FakeBinance.h_sub_api_delete, True),
    ("GET", "/sapi/v1/sub-account/subAccountApi/ipRestriction"): (FakeBinance.h_sub_ip_get, True),
    ("POST", "/sapi/v2/sub-account/subAccountApi/ipRestriction"): (FakeBinance.h_sub_ip_post, True),
    ("DELETE", "/sapi/v1/broker/subAccountApi"): (FakeBinance.h_broker_api_delete, True),
    ("GET", "/sapi/v1/account/apiTradingStatus"): (FakeBinance.h_trading_status, True),
    ("GET", "/sapi/v1/capital/withdraw/history"): (FakeBinance.h_withdraw_history, True),
    ("GET", "/sapi/v1/capital/deposit/hisrec"): (FakeBinance.h_deposit_history, True),
    ("GET", "/sapi/v1/asset/transfer"): (FakeBinance.h_transfers, True),
    ("GET", "/api/v3/allOrders"): (FakeBinance.h_all_orders, True),
    ("GET", "/api/v3/myTrades"): (FakeBinance.h_my_trades, True),
    ("GET", "/api/v3/ticker/price"): (FakeBinance.h_ticker_price, False),
}
# Binance's documented weights: (pool, weight); routes not listed weigh 1 in their path's IP pool
WEIGHTS: dict[tuple[str, str], tuple[str, int]] = {
    ("GET", "/api/v3/account"): ("api", 20),
    ("GET", "/api/v3/allOrders"): ("api", 20),
    ("GET", "/api/v3/myTrades"): ("api", 20),
    ("GET", "/api/v3/ticker/price"): ("api", 4),
    ("GET", "/sapi/v1/capital/withdraw/history"): ("sapi_uid", 18000),
    ("GET", "/sapi/v1/sub-account/subAccountApi/ipRestriction"): ("sapi_uid", 3000),
    ("POST", "/sapi/v2/sub-account/subAccountApi/ipRestriction"): ("sapi_uid", 3000),
    ("DELETE", "/sapi/v1/sub-account/subAccountApi"): ("sapi_uid", 3000),
}

WAF_PAGE = b"<html><head><title>403 Forbidden</title></head><body><h1>403 Forbidden</h1>Request blocked.</body></html>"


class _Handler(BaseHTTPRequestHandler):
    fake: FakeBinance
    server_version = "fake-binance"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def _handle(self, method: str) -> None:
        fake = self.fake
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("latin-1") if length else ""
        rec = Recorded(method, parts.path, parts.query, body, dict(self.headers.items()))
        with fake.lock:
            fake.requests.append(rec)
        fault = fake._take_fault(parts.path)
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        if fault is not None and fault.status is not None and not fault.after:
            return self._send_fault(rec, fault)
        extra: dict[str, str] = {}
        try:
            status, payload = fake.dispatch(method, parts.path, parts.query, body, self.headers)
        except Reply as r:
            status, payload, extra = r.status, r.body, r.headers
        if fault is not None and fault.status is not None and fault.after:
            return self._send_fault(rec, fault)
        rec.status = status
        rec.code = payload.get("code") if isinstance(payload, dict) else None
        drip = fault.drip if fault is not None else 0.0
        if payload is None:
            self._send(status, b"", "text/html", drip=drip)
        else:
            self._send(status, json.dumps(payload).encode(), "application/json",
                       {**fake.weight_headers(method, parts.path, self.headers), **extra}, drip=drip)

    def _send_fault(self, rec: Recorded, f: Fault) -> None:
        assert f.status is not None
        rec.status = f.status
        body = f.body
        if body is None:
            body = {
                429: json.dumps(err(-1003, "Too much request weight used; current limit is 6000 request "
                                           "weight per 1 MINUTE.")).encode(),
                418: json.dumps(err(-1003, "Way too much request weight used; IP banned until later.")).encode(),
                403: WAF_PAGE,
                500: json.dumps(err(-1001, "Internal error; unable to process your request. "
                                           "Please try again.")).encode(),
                503: json.dumps(err(-1007, "Timeout waiting for response from backend server. Send status "
                                           "unknown; execution status unknown.")).encode(),
            }.get(f.status, b"<html>Bad Gateway</html>")
        ctype = "text/html" if body.startswith(b"<") else f.content_type
        headers = dict(f.headers)
        if f.retry_after is not None:
            headers["Retry-After"] = f.retry_after
        self._send(f.status, body, ctype, headers, drip=f.drip)

    def _send(self, status: int, body: bytes, ctype: str, headers: dict[str, str] | None = None,
              drip: float = 0.0) -> None:
        if drip:
            return self._drip(status, body, ctype, headers or {}, drip)
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _drip(self, status: int, body: bytes, ctype: str, headers: dict[str, str], every: float) -> None:
        """The whole answer one byte at a time, `every` seconds apart, until sent or the client leaves."""
        head = [f"HTTP/1.1 {status} {self.responses.get(status, ('',))[0]}", f"Content-Type: {ctype}",
                f"Content-Length: {len(body)}", "Connection: close"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        raw = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
        self.close_connection = True
        try:
            for i in range(len(raw)):
                self.wfile.write(raw[i:i + 1])
                self.wfile.flush()
                time.sleep(every)
        except OSError:
            pass
        with self.fake.lock:
            self.fake.dripped += 1


def self_signed_tls_context() -> ssl.SSLContext:
    """A server context with a fresh self-signed certificate for 127.0.0.1 (no CA trusts it)."""
    import datetime
    import ipaddress
    import tempfile

    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as d:
        cert_path, key_path = f"{d}/cert.pem", f"{d}/key.pem"
        with open(cert_path, "wb") as fh:
            fh.write(cert.public_bytes(serialization.Encoding.PEM))
        with open(key_path, "wb") as fh:
            fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
        ctx.load_cert_chain(cert_path, key_path)
    return ctx
