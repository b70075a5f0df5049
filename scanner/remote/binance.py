"""The Binance REST client for `verify`, `revoke` and `activity`: Binance's error shape and codes,
its signed requests (recvWindow, timestamp, `signature` last), its weight headers and the endpoints.

The exchange-independent parts live beside it and are re-exported here for the callers that
always imported them from this module: errors (`scanner.remote.errors`), the HTTP layer with its
deadline, bounded retries and base-URL policy (`scanner.remote.transport`), signers
(`scanner.remote.signing`) and credentials (`scanner.remote.credentials`).

Secrets never leave the machine: a secret key or private key is used only to sign, and only the
signature is sent. No secret appears in a repr, an exception or any output; API keys are shown
redacted (`abcd...wxyz`) or by fingerprint. Nothing is logged.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from scanner.errors import CexguardError
from scanner.remote.credentials import LEAKED_ENV, MASTER_ENV, MAX_KEY_FILE, Credentials, EnvNames, credentials_from_env
from scanner.remote.errors import ApiError, AuthError, RemoteError, Unavailable, Unreachable
from scanner.remote.signing import (
    Ed25519Signer,
    HmacSigner,
    RsaSigner,
    Signer,
    encode_params,
    load_private_key,
    sign_request,
)
from scanner.remote.transport import (
    API_URL_ENV,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_RETRIES,
    DEFAULT_MAX_WAIT,
    DEFAULT_TIMEOUT,
    MAX_BLOCK,
    MAX_RESPONSE_BYTES,
    MIN_WAIT,
    PRODUCTION_URL,
    USER_AGENT,
    Dialect,
    HttpTransport,
    Prepared,
    base_headers,
    expect_shape,
    resolve_base_url,
)

DEFAULT_RECV_WINDOW = 5000  # ms
MAX_RECV_WINDOW = 60000

# Binance error codes this client gives meaning to.
CODE_TIMESTAMP = -1021  # timestamp outside recvWindow
CODE_BAD_SIGNATURE = -1022  # signature not valid
CODE_BAD_KEY_ID = -2008  # invalid Api-Key ID
CODE_KEY_FORMAT = -2014  # API-key format invalid
CODE_REJECTED = -2015  # invalid API-key, IP, or permissions for action
AUTH_CODES = frozenset({CODE_BAD_SIGNATURE, CODE_BAD_KEY_ID, CODE_KEY_FORMAT, CODE_REJECTED})
AUTH_STATUSES = frozenset({400, 401})  # the HTTP statuses Binance answers those codes with
CODE_TOO_MUCH_WEIGHT = -1003  # too much request weight used (HTTP 429; 418 once banned)

# Binance's per-minute weight headers -> the pool each one counts (documented limits: /api 6000 per
# IP, /sapi 12000 per IP, /sapi UID-weighted endpoints 180000 per account)
WEIGHT_HEADERS = {"X-MBX-USED-WEIGHT-1M": "api", "X-SAPI-USED-IP-WEIGHT-1M": "sapi_ip",
                  "X-SAPI-USED-UID-WEIGHT-1M": "sapi_uid"}
WEIGHT_LIMITS_1M = {"api": 6000, "sapi_ip": 12000, "sapi_uid": 180000}


# --------------------------------------------------------------------------------------------- errors

def _error_code(data: Any) -> tuple[int, str] | None:
    """A Binance error object, {"code": <negative int>, "msg": "..."}: its code and message; else None."""
    if not isinstance(data, dict):
        return None
    code, msg = data.get("code"), data.get("msg")
    if isinstance(code, int) and not isinstance(code, bool) and code < 0 and isinstance(msg, str):
        return code, msg
    return None


DIALECT = Dialect("Binance", _error_code, frozenset(AUTH_CODES), AUTH_STATUSES)


# ----------------------------------------------------------------------------------------- transport

class Transport(HttpTransport):
    """Binance's transport: signed calls carry recvWindow and timestamp and are signed over the exact
    query+body; a -1021 resynchronises the clock from /api/v3/time and retries once; the weight
    headers of every answer are remembered."""

    def __init__(self, base_url: str = PRODUCTION_URL, *, timeout: float = DEFAULT_TIMEOUT,
                 recv_window: int = DEFAULT_RECV_WINDOW, max_retries: int = DEFAULT_MAX_RETRIES,
                 max_wait: float = DEFAULT_MAX_WAIT, max_attempts: int = DEFAULT_MAX_ATTEMPTS,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time) -> None:
        if not 0 < recv_window <= MAX_RECV_WINDOW:
            raise CexguardError(f"recvWindow must be between 1 and {MAX_RECV_WINDOW} ms")
        super().__init__(base_url, dialect=DIALECT, timeout=timeout, max_retries=max_retries, max_wait=max_wait,
                         max_attempts=max_attempts, sleep=sleep, clock=clock)
        self.recv_window = recv_window
        # pool -> (used weight Binance reported, the server minute it was reported in)
        self.used_weight: dict[str, tuple[int, int]] = {}

    def __repr__(self) -> str:
        return f"Transport({self.base_url})"

    def sync_time(self) -> int:
        """Set the clock offset from GET /api/v3/time; returns it in ms."""
        t0 = self.clock()
        data = self.request("GET", "/api/v3/time")
        t1 = self.clock()
        try:
            server = int(data["serverTime"])
        except (TypeError, KeyError, ValueError):
            raise Unavailable("GET /api/v3/time: no serverTime in the answer", endpoint="GET /api/v3/time") from None
        return self.set_server_time(server, t0, t1)

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                data: Mapping[str, Any] | None = None, credentials: Credentials | None = None,
                signed: bool = False) -> Any:
        """Send one call and return its JSON. `params` go in the query string, `data` in a form body.
        Signed calls get recvWindow, timestamp and signature (re-signed on every attempt); a -1021
        resynchronises the clock from /api/v3/time and retries once."""
        if signed and (credentials is None or credentials.signer is None):
            raise CexguardError(f"{method} {path} needs a secret or private key to sign with")
        resynced = False
        while True:
            try:
                return self.exchange(method, path, lambda: self._prepare(method, path, params, data, credentials,
                                                                         signed),
                                     api_key=credentials.api_key if credentials else None)
            except ApiError as e:
                if signed and e.code == CODE_TIMESTAMP and not resynced:
                    resynced = True
                    self.sync_time()
                    continue
                raise

    def _prepare(self, method: str, path: str, params: Mapping[str, Any] | None, data: Mapping[str, Any] | None,
                 creds: Credentials | None, signed: bool) -> Prepared:
        q = dict(params or {})
        b = dict(data) if data is not None else None
        if signed:
            extra = {"recvWindow": self.recv_window, "timestamp": self.now_ms()}
            (b if b is not None else q).update(extra)
        query, body = encode_params(q), encode_params(b) if b is not None else ""
        if signed:
            assert creds is not None and creds.signer is not None
            query, body = sign_request(creds.signer, query, body)
        headers = base_headers()
        if creds is not None:
            headers["X-MBX-APIKEY"] = creds.api_key
        payload = None
        if b is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            payload = body.encode("ascii")
        elif method in ("POST", "PUT", "DELETE"):
            headers["Content-Length"] = "0"
        return path + (f"?{query}" if query else ""), payload, headers

    def note_answer(self, headers: Any) -> None:
        """Remember the used weight of each pool Binance reports (X-MBX-USED-WEIGHT-1M, ...)."""
        minute = self.now_ms() // 60000
        for name, pool in WEIGHT_HEADERS.items():
            value = headers.get(name)
            if value is not None and str(value).strip().isdigit():
                self.used_weight[pool] = (int(str(value).strip()), minute)

    def minute_weight(self, pool: str) -> int:
        """The weight Binance last reported used in `pool` this minute (0 if the minute has turned)."""
        used, minute = self.used_weight.get(pool, (0, -1))
        return used if minute == self.now_ms() // 60000 else 0


# ------------------------------------------------------------------------------------------- client

class BinanceClient:
    """The calls verify and revoke make, signed with one key."""

    def __init__(self, transport: Transport, credentials: Credentials) -> None:
        self.transport = transport
        self.credentials = credentials

    def __repr__(self) -> str:
        return f"BinanceClient({self.transport.base_url}, {self.credentials!r})"

    def _signed(self, method: str, path: str, params: Mapping[str, Any] | None = None,
                data: Mapping[str, Any] | None = None) -> Any:
        return self.transport.request(method, path, params=params, data=data,
                                      credentials=self.credentials, signed=True)

    def api_restrictions(self) -> dict[str, Any]:
        """GET /sapi/v1/account/apiRestrictions: proves key+secret and lists the key's permissions."""
        return _expect_shape(self._signed("GET", "/sapi/v1/account/apiRestrictions"),
                             "GET /sapi/v1/account/apiRestrictions", RESTRICTIONS_FIELDS)

    def account(self) -> dict[str, Any]:
        """GET /api/v3/account (weight 20): canTrade, canWithdraw, accountType, uid, ..."""
        return _expect_shape(self._signed("GET", "/api/v3/account", {"omitZeroBalances": True}),
                             "GET /api/v3/account", ACCOUNT_FIELDS)

    def sub_accounts(self, *, email: str | None = None, limit: int = 200, max_pages: int = 100) -> list[dict[str, Any]]:
        """GET /sapi/v1/sub-account/list, every page (master account only)."""
        out: list[dict[str, Any]] = []
        for page in range(1, max_pages + 1):
            params: dict[str, Any] = {"email": email, "page": page, "limit": limit}
            data = _expect_dict(self._signed("GET", "/sapi/v1/sub-account/list", params), "sub-account list")
            subs = data.get("subAccounts")
            if not isinstance(subs, list):
                raise Unavailable("GET /sapi/v1/sub-account/list: no subAccounts in the answer",
                                  endpoint="GET /sapi/v1/sub-account/list")
            out.extend(s for s in subs if isinstance(s, dict))
            if len(subs) < limit:
                break
        return out

    def sub_account_api_ip_restriction(self, email: str, sub_api_key: str) -> dict[str, Any]:
        """GET /sapi/v1/sub-account/subAccountApi/ipRestriction: fails when the key is not there. An
        answer proves the key exists only with `ipRestrict` and, when it names a key, this key."""
        endpoint = "GET /sapi/v1/sub-account/subAccountApi/ipRestriction"
        data = _expect_shape(self._signed("GET", "/sapi/v1/sub-account/subAccountApi/ipRestriction",
                                          {"email": email, "subAccountApiKey": sub_api_key}),
                             endpoint, {"ipRestrict": (bool, str)})
        if "apiKey" in data and data["apiKey"] != sub_api_key:
            raise Unavailable(f"{endpoint}: the answer is about another API key", endpoint=endpoint)
        return data

    def restrict_sub_account_api(self, email: str, sub_api_key: str, ips: Iterable[str]) -> dict[str, Any]:
        """POST /sapi/v2/sub-account/subAccountApi/ipRestriction status=2 (trusted IPs only)."""
        return _expect_dict(self._signed("POST", "/sapi/v2/sub-account/subAccountApi/ipRestriction", data={
            "email": email, "subAccountApiKey": sub_api_key, "status": "2", "ipAddress": ",".join(ips)}),
            "ipRestriction")

    def delete_sub_account_api(self, email: str, sub_api_key: str) -> Any:
        """DELETE /sapi/v1/sub-account/subAccountApi -> {}."""
        return self._signed("DELETE", "/sapi/v1/sub-account/subAccountApi",
                            {"email": email, "subAccountApiKey": sub_api_key})

    def delete_broker_sub_account_api(self, sub_account_id: str, sub_api_key: str) -> Any:
        """DELETE /sapi/v1/broker/subAccountApi (Binance Link) -> {}."""
        return self._signed("DELETE", "/sapi/v1/broker/subAccountApi",
                            {"subAccountId": sub_account_id, "subAccountApiKey": sub_api_key})


def _expect_dict(data: Any, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise Unavailable(f"unexpected {what} answer (not a JSON object)")
    return data


# The fields a successful answer must have (name -> accepted JSON types); others are tolerated.
RESTRICTIONS_FIELDS: dict[str, Any] = {"ipRestrict": bool, "enableReading": bool, "enableWithdrawals": bool}
ACCOUNT_FIELDS: dict[str, Any] = {"canTrade": bool, "canWithdraw": bool, "balances": list}


_expect_shape = expect_shape


__all__ = [
    "API_URL_ENV", "AUTH_CODES", "AUTH_STATUSES", "CODE_BAD_KEY_ID", "CODE_BAD_SIGNATURE", "CODE_KEY_FORMAT",
    "CODE_REJECTED", "CODE_TIMESTAMP", "CODE_TOO_MUCH_WEIGHT", "DEFAULT_MAX_ATTEMPTS", "DEFAULT_MAX_RETRIES",
    "DEFAULT_MAX_WAIT", "DEFAULT_RECV_WINDOW", "DEFAULT_TIMEOUT", "DIALECT", "LEAKED_ENV", "MASTER_ENV",
    "MAX_BLOCK", "MAX_KEY_FILE", "MAX_RECV_WINDOW", "MAX_RESPONSE_BYTES", "MIN_WAIT", "PRODUCTION_URL",
    "USER_AGENT", "WEIGHT_HEADERS", "WEIGHT_LIMITS_1M", "ApiError", "AuthError", "BinanceClient", "Credentials",
    "Ed25519Signer", "EnvNames", "HmacSigner", "RemoteError", "RsaSigner", "Signer", "Transport", "Unavailable",
    "Unreachable", "credentials_from_env", "encode_params", "load_private_key", "resolve_base_url", "sign_request",
]
