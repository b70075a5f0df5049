"""Binance REST client for `verify` and `revoke`: request signing, the base-URL policy, bounded
retries, and errors that say whether Binance gave an answer or the outcome is unknown.

Secrets never leave the machine: a secret key or private key is used only to sign, and only the
signature is sent. No secret appears in a repr, an exception or any output; API keys are shown
redacted (`abcd...wxyz`) or by fingerprint. Nothing is logged.

The HTTP layer is `http.client` from the standard library (no redirects followed, TLS verification
always on, a cap on response size). `timeout` bounds each whole call (connect, TLS, send, headers,
body) with a deadline, so an answer drip-fed a byte at a time cannot hold a call open; waits between
attempts have a floor and a cap, and attempts, waits and the total time per call are all bounded. `cryptography` is imported
only to load an RSA or Ed25519 private key.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import math
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote, urlsplit

from scanner import __version__
from scanner.errors import CexguardError
from scanner.models import fingerprint_of, redact

if TYPE_CHECKING:
    import http.client
    import ssl

PRODUCTION_URL = "https://api.binance.com"
API_URL_ENV = "CEXGUARD_API_URL"
USER_AGENT = f"cexguard/{__version__} (+leaked-key verification)"

DEFAULT_TIMEOUT = 10.0  # seconds: one whole HTTP exchange (connect, send, headers, body)
DEFAULT_RECV_WINDOW = 5000  # ms
MAX_RECV_WINDOW = 60000
DEFAULT_MAX_RETRIES = 2  # extra attempts on 5xx and network errors
DEFAULT_MAX_WAIT = 30.0  # seconds: total time spent honouring Retry-After and backing off
DEFAULT_MAX_ATTEMPTS = 5  # requests sent for one call, whatever the reasons to retry
MIN_WAIT = 1.0  # seconds: the floor of every Retry-After wait (0, negative, nan or a past date included)
MAX_BLOCK = 3 * 24 * 3600.0  # seconds: the longest ban remembered (Binance bans last 2 minutes to 3 days)
MAX_RESPONSE_BYTES = 2 * 1024 * 1024

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

_HEADER_SAFE = re.compile(r"[\x21-\x7e]{1,256}")


# --------------------------------------------------------------------------------------------- errors

class RemoteError(CexguardError):
    """A call did not give a usable answer. Messages are one line and never hold a secret."""

    def __init__(self, message: str, *, endpoint: str | None = None, http_status: int | None = None,
                 code: int | None = None, server_msg: str | None = None) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.http_status = http_status
        self.code = code
        self.server_msg = server_msg
        self.retry_after: float | None = None  # seconds, from a 429/418 answer's Retry-After

    def to_dict(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "http_status": self.http_status, "code": self.code,
                "message": str(self)}


class ApiError(RemoteError):
    """Binance answered with an error (4xx): a definite answer, not a transient failure."""


class AuthError(ApiError):
    """The credentials were rejected: -2015, -2014, -1022 or -2008."""


class Unavailable(RemoteError):
    """The outcome is unknown: WAF block (403), rate limit or IP ban (429/418) after the bounded
    wait, 5xx, timeout, dropped connection, redirect, or an answer that is not Binance's."""


class Unreachable(RemoteError):
    """No connection could be made at all (DNS, refused, TLS verification): a setup problem."""


def _one_line(text: str, *, scrub: Iterable[str] = (), limit: int = 200) -> str:
    text = " ".join(text.split())
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    for s in scrub:
        if s and s in text:
            text = text.replace(s, redact(s))
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ------------------------------------------------------------------------------------------ base URL

def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_base_url(api_url: str | None = None, *, env: Mapping[str, str] | None = None) -> str:
    """Where requests go: `api_url` (from --api-url), else $CEXGUARD_API_URL, else production.

    Only https, except plain http to a loopback address (127.0.0.0/8, ::1, localhost); no user
    info, query or fragment. Never taken from anything a scanned repository contains.
    """
    environ = os.environ if env is None else env
    if api_url:
        raw, where = api_url, "--api-url"
    elif environ.get(API_URL_ENV):
        raw, where = environ[API_URL_ENV], API_URL_ENV
    else:
        return PRODUCTION_URL
    raw = raw.strip()
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 - validates the port
    except ValueError:
        raise CexguardError(f"{where}: not a valid URL") from None
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise CexguardError(f"{where}: the URL must not contain a user name or password")
    shown = _one_line(raw, limit=120)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise CexguardError(f"{where}: expected https://HOST[:PORT], got {shown!r}")
    if parts.query or parts.fragment or "?" in raw or "#" in raw:
        raise CexguardError(f"{where}: the URL must not have a query or fragment: {shown!r}")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise CexguardError(
            f"{where}: plain http is allowed only to a loopback address (127.0.0.1, ::1, localhost); "
            f"use https:// for {parts.hostname}"
        )
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


# ------------------------------------------------------------------------------------------- signing

class Signer(Protocol):
    """Signs the exact bytes of query+body; returns the signature before percent-encoding."""

    kind: str  # hmac | rsa | ed25519

    def sign(self, payload: bytes) -> str: ...


class HmacSigner:
    """HMAC-SHA256 keyed with the secret's ASCII bytes; lowercase hex."""

    __slots__ = ("_key",)
    kind = "hmac"

    def __init__(self, secret: str) -> None:
        try:
            self._key = secret.encode("ascii")
        except UnicodeEncodeError:
            raise CexguardError("the secret key must be ASCII (Binance secrets are 64 letters and digits)") from None

    def sign(self, payload: bytes) -> str:
        return hmac.new(self._key, payload, hashlib.sha256).hexdigest()

    def __repr__(self) -> str:
        return "HmacSigner(<secret redacted>)"


class _KeySigner:
    __slots__ = ("_key",)
    kind = "?"

    def __init__(self, key: Any) -> None:
        self._key = key

    def __repr__(self) -> str:
        return f"{type(self).__name__}(<private key redacted>)"


class RsaSigner(_KeySigner):
    """RSASSA-PKCS1-v1_5 with SHA-256; standard base64."""

    kind = "rsa"

    def sign(self, payload: bytes) -> str:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        return base64.b64encode(self._key.sign(payload, padding.PKCS1v15(), hashes.SHA256())).decode()


class Ed25519Signer(_KeySigner):
    """Ed25519 (RFC 8032, pure) over the payload bytes; standard base64."""

    kind = "ed25519"

    def sign(self, payload: bytes) -> str:
        return base64.b64encode(self._key.sign(payload)).decode()


def load_private_key(pem: bytes, *, passphrase: bytes | None = None, source: str = "the private key",
                     passphrase_var: str | None = None) -> Signer:
    """An RSA or Ed25519 signer from PEM (PKCS#8, encrypted PKCS#8 or PKCS#1). Errors name `source`,
    never the key or the passphrase."""
    try:
        from cryptography.exceptions import UnsupportedAlgorithm
        from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
        from cryptography.hazmat.primitives.serialization import load_pem_private_key
    except ImportError:
        raise CexguardError("Ed25519/RSA private keys need the cryptography package: "
                            "pip install 'cexguard[verify]' (HMAC keys work without it)") from None

    if b"-----BEGIN" not in pem or b"PRIVATE KEY-----" not in pem:
        raise CexguardError(f"{source} is not a PEM private key (expected -----BEGIN PRIVATE KEY-----)")
    encrypted = b"ENCRYPTED" in pem
    ask = f": set {passphrase_var}" if passphrase_var else ""
    try:
        key = load_pem_private_key(pem, password=passphrase if encrypted else None)
    except TypeError:
        raise CexguardError(f"{source} is encrypted and no passphrase was given{ask}") from None
    except ValueError:
        if encrypted and passphrase:
            raise CexguardError(f"{source}: wrong passphrase, or the key is damaged") from None
        raise CexguardError(f"{source} is not a valid PEM private key (damaged or truncated)") from None
    except UnsupportedAlgorithm:
        raise CexguardError(f"{source}: unsupported key algorithm (Binance takes Ed25519 or RSA)") from None
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return Ed25519Signer(key)
    if isinstance(key, rsa.RSAPrivateKey):
        return RsaSigner(key)
    raise CexguardError(f"{source}: a {type(key).__name__.replace('PrivateKey', '')} key; Binance takes Ed25519 or RSA")


def encode_params(params: Mapping[str, Any]) -> str:
    """`k=v&...` in the given order, values percent-encoded (space as %20); booleans as true/false."""
    out = []
    for k, v in params.items():
        if v is None:
            continue
        if isinstance(v, bool):
            v = "true" if v else "false"
        out.append(f"{quote(str(k), safe='')}={quote(str(v), safe='')}")
    return "&".join(out)


def sign_request(signer: Signer, query: str, body: str) -> tuple[str, str]:
    """Sign query+body exactly as sent (no separator) and append `signature` last: to the body when
    there is one, else to the query. Returns the (query, body) to send."""
    sig = quote(signer.sign((query + body).encode("ascii")), safe="")
    if body:
        return query, f"{body}&signature={sig}"
    return (f"{query}&signature={sig}" if query else f"signature={sig}"), body


# --------------------------------------------------------------------------------------- credentials

class Credentials:
    """An API key and, when known, what signs for it. Shown only redacted, never in full."""

    __slots__ = ("api_key", "label", "signer")

    def __init__(self, api_key: str, signer: Signer | None = None, *, label: str = "key") -> None:
        if not _HEADER_SAFE.fullmatch(api_key):
            raise CexguardError(f"the {label} API key has spaces or characters that cannot be sent in a header")
        self.api_key = api_key
        self.signer = signer
        self.label = label

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(self.api_key)

    @property
    def redacted(self) -> str:
        return redact(self.api_key)

    def __repr__(self) -> str:
        kind = self.signer.kind if self.signer else "none"
        return f"Credentials({self.label}, key={self.redacted}, signer={kind})"


@dataclass(frozen=True)
class EnvNames:
    key: str
    secret: str
    key_file: str
    passphrase: str


LEAKED_ENV = EnvNames("BINANCE_API_KEY", "BINANCE_API_SECRET", "BINANCE_PRIVATE_KEY_FILE",
                      "BINANCE_PRIVATE_KEY_PASSPHRASE")
MASTER_ENV = EnvNames("CEXGUARD_MASTER_API_KEY", "CEXGUARD_MASTER_API_SECRET",
                      "CEXGUARD_MASTER_PRIVATE_KEY_FILE", "CEXGUARD_MASTER_PRIVATE_KEY_PASSPHRASE")
MAX_KEY_FILE = 64 * 1024


def credentials_from_env(names: EnvNames, *, env: Mapping[str, str] | None = None, label: str,
                         require_signer: bool = True) -> Credentials:
    """Read a key and its secret (or PEM private key file) from the environment; never from argv."""
    environ = os.environ if env is None else env

    def get(name: str) -> str:
        return (environ.get(name) or "").strip()

    api_key, secret, key_file = get(names.key), get(names.secret), get(names.key_file)
    if not api_key:
        raise CexguardError(f"{names.key} is not set (the {label} API key is read from the environment)")
    if secret and key_file:
        raise CexguardError(f"set only one of {names.secret} and {names.key_file}, not both")
    signer: Signer | None = None
    if secret:
        signer = HmacSigner(secret)
    elif key_file:
        try:
            with open(key_file, "rb") as fh:
                pem = fh.read(MAX_KEY_FILE + 1)
        except OSError as e:
            raise CexguardError(f"{names.key_file}: cannot read {key_file}: {e.strerror}") from None
        if len(pem) > MAX_KEY_FILE:
            raise CexguardError(f"{names.key_file}: {key_file} is too large for a private key")
        pw = environ.get(names.passphrase)
        signer = load_private_key(pem, passphrase=pw.encode() if pw else None,
                                  source=f"{names.key_file} ({key_file})", passphrase_var=names.passphrase)
    elif require_signer:
        raise CexguardError(f"{names.secret} or {names.key_file} must be set with {names.key}")
    return Credentials(api_key, signer, label=label)


# ----------------------------------------------------------------------------------------- transport

class _Retryable(Exception):
    def __init__(self, error: RemoteError) -> None:
        self.error = error


class Transport:
    """One base URL: connections, clock offset, rate-limit state. Shared by every key's client so a
    ban or Retry-After seen on one call is honoured by the next."""

    def __init__(self, base_url: str = PRODUCTION_URL, *, timeout: float = DEFAULT_TIMEOUT,
                 recv_window: int = DEFAULT_RECV_WINDOW, max_retries: int = DEFAULT_MAX_RETRIES,
                 max_wait: float = DEFAULT_MAX_WAIT, max_attempts: int = DEFAULT_MAX_ATTEMPTS,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time) -> None:
        if not 0 < recv_window <= MAX_RECV_WINDOW:
            raise CexguardError(f"recvWindow must be between 1 and {MAX_RECV_WINDOW} ms")
        if not (math.isfinite(timeout) and timeout > 0):
            raise CexguardError("the timeout must be a positive number of seconds")
        if not (math.isfinite(max_wait) and max_wait >= 0) or max_attempts < 1 or max_retries < 0:
            raise CexguardError("max_wait, max_attempts and max_retries must be finite and not negative")
        self.base_url = resolve_base_url(base_url, env={})
        parts = urlsplit(self.base_url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port
        self._prefix = parts.path
        self.timeout = timeout
        self.recv_window = recv_window
        self.max_retries = max_retries
        self.max_wait = max_wait
        self.max_attempts = max_attempts
        self._sleep = sleep
        self._clock = clock
        self.clock_offset_ms = 0
        self._blocked_until = 0.0
        self._block_reason = ""
        self._ssl: ssl.SSLContext | None = None
        self.calls = 0  # HTTP requests actually sent
        # pool -> (used weight Binance reported, the server minute it was reported in)
        self.used_weight: dict[str, tuple[int, int]] = {}

    def __repr__(self) -> str:
        return f"Transport({self.base_url})"

    # -- time
    def now_ms(self) -> int:
        return int(self._clock() * 1000) + self.clock_offset_ms

    def sync_time(self) -> int:
        """Set the clock offset from GET /api/v3/time; returns it in ms."""
        t0 = self._clock()
        data = self.request("GET", "/api/v3/time")
        t1 = self._clock()
        try:
            server = int(data["serverTime"])
        except (TypeError, KeyError, ValueError):
            raise Unavailable("GET /api/v3/time: no serverTime in the answer", endpoint="GET /api/v3/time") from None
        self.clock_offset_ms = server - int((t0 + t1) * 500)
        return self.clock_offset_ms

    # -- requests
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
                return self._with_retries(method, path, params, data, credentials, signed)
            except ApiError as e:
                if signed and e.code == CODE_TIMESTAMP and not resynced:
                    resynced = True
                    self.sync_time()
                    continue
                raise

    def _with_retries(self, method: str, path: str, params: Mapping[str, Any] | None,
                      data: Mapping[str, Any] | None, creds: Credentials | None, signed: bool) -> Any:
        """At most `max_attempts` requests; waits (each at least MIN_WAIT for a rate limit) add up
        to at most `max_wait`; the whole call ends within max_wait + max_attempts * timeout."""
        endpoint = f"{method} {path}"
        waited = 0.0
        retries = 0  # 5xx and network errors
        sent = 0
        give_up_at = time.monotonic() + self.max_wait + self.max_attempts * self.timeout
        while True:
            self._check_blocked(endpoint)
            target, body, headers = self._prepare(method, path, params, data, creds, signed)
            sent += 1
            try:
                return self._send(method, target, body, headers, endpoint, creds)
            except _RateLimited as rl:
                if rl.retry_after is None:  # no Retry-After (or not a number or date): no guess, no retry
                    raise rl.error from None
                delay = rl.retry_after
                if (waited + delay > self.max_wait or sent >= self.max_attempts
                        or time.monotonic() + delay > give_up_at):
                    self._block(delay, rl.error)
                    raise rl.error from None
            except _Retryable as r:
                delay = 0.25 * 2**retries
                retries += 1
                if (retries > self.max_retries or sent >= self.max_attempts or waited + delay > self.max_wait
                        or time.monotonic() + delay > give_up_at):
                    raise r.error from None
            self._sleep(delay)
            waited += delay

    def _check_blocked(self, endpoint: str) -> None:
        left = self._blocked_until - time.monotonic()
        if left > 0:
            raise Unavailable(f"{endpoint}: not sent: {self._block_reason} ({left:.0f}s left)", endpoint=endpoint)

    def clear_block(self) -> None:
        """Forget a 429's Retry-After once the caller has waited it out itself (never a 418 ban)."""
        if self._block_reason.endswith("(HTTP 429)"):
            self._blocked_until = 0.0

    def _block(self, seconds: float, error: RemoteError) -> None:
        self._blocked_until = max(self._blocked_until, time.monotonic() + seconds)
        self._block_reason = ("Binance banned this IP (HTTP 418)" if error.http_status == 418
                              else "Binance asked to slow down (HTTP 429)")

    def _prepare(self, method: str, path: str, params: Mapping[str, Any] | None, data: Mapping[str, Any] | None,
                 creds: Credentials | None, signed: bool) -> tuple[str, bytes | None, dict[str, str]]:
        q = dict(params or {})
        b = dict(data) if data is not None else None
        if signed:
            extra = {"recvWindow": self.recv_window, "timestamp": self.now_ms()}
            (b if b is not None else q).update(extra)
        query, body = encode_params(q), encode_params(b) if b is not None else ""
        if signed:
            assert creds is not None and creds.signer is not None
            query, body = sign_request(creds.signer, query, body)
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json", "Connection": "close"}
        if creds is not None:
            headers["X-MBX-APIKEY"] = creds.api_key
        payload = None
        if b is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            payload = body.encode("ascii")
        elif method in ("POST", "PUT", "DELETE"):
            headers["Content-Length"] = "0"
        return self._prefix + path + (f"?{query}" if query else ""), payload, headers

    def _connection(self) -> http.client.HTTPConnection:
        import http.client

        if not self._https:
            return http.client.HTTPConnection(self._host, self._port, timeout=self.timeout)
        import ssl

        if self._ssl is None:
            self._ssl = ssl.create_default_context()  # verifies the certificate and the host name
        proxy = _https_proxy(self._host)
        if proxy is None:
            return http.client.HTTPSConnection(self._host, self._port, timeout=self.timeout, context=self._ssl)
        phost, pport, pheaders = proxy
        conn = http.client.HTTPSConnection(phost, pport, timeout=self.timeout, context=self._ssl)
        conn.set_tunnel(self._host, self._port or 443, headers=pheaders)
        return conn

    def _send(self, method: str, target: str, body: bytes | None, headers: dict[str, str], endpoint: str,
              creds: Credentials | None) -> Any:
        import http.client
        import socket
        import ssl

        scrub = _scrub_values(creds, target, body)
        conn = self._connection()
        deadline = _Deadline(self.timeout)
        conn._create_connection = deadline.create_connection  # type: ignore[attr-defined]
        try:
            try:
                conn.connect()
            except ssl.SSLCertVerificationError as e:
                raise Unreachable(f"{self._host}: TLS certificate verification failed ({e.verify_message})",
                                  endpoint=endpoint) from None
            except ssl.SSLError as e:
                raise Unreachable(f"{self._host}: TLS handshake failed ({e.reason or 'error'})",
                                  endpoint=endpoint) from None
            except socket.gaierror:
                raise _Retryable(Unreachable(f"cannot resolve {self._host}", endpoint=endpoint)) from None
            except OSError as e:
                if deadline.expired:  # a connection made, then a handshake or proxy that never finished
                    raise _Retryable(Unavailable(f"{endpoint}: no answer from {self.base_url}: timed out "
                                                 f"(the whole call is limited to {self.timeout:g}s)",
                                                 endpoint=endpoint)) from None
                raise _Retryable(Unreachable(f"cannot connect to {self.base_url}: {_oserror(e)}",
                                             endpoint=endpoint)) from None
            try:
                self.calls += 1
                conn.request(method, target, body=body, headers=headers)
                resp = conn.getresponse()
                raw = _read_limited(resp)
                if deadline.expired:
                    raise TimeoutError
            except (OSError, http.client.HTTPException) as e:
                timed_out = deadline.expired or isinstance(e, TimeoutError)
                why = f"timed out (the whole call is limited to {self.timeout:g}s)" if timed_out else _oserror(e)
                raise _Retryable(Unavailable(f"{endpoint}: no answer from {self.base_url}: {why}",
                                             endpoint=endpoint)) from None
        finally:
            deadline.disarm()
            conn.close()
        self._note_weight(resp.headers)
        return _interpret(resp.status, resp.headers, raw, endpoint, scrub)

    def _note_weight(self, headers: Any) -> None:
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


def _scrub_values(creds: Credentials | None, target: str, body: bytes | None) -> tuple[str, ...]:
    """API keys this request carries (header and *ApiKey parameters): a server message that echoes
    one is shown with it redacted."""
    from urllib.parse import parse_qsl

    found = [creds.api_key] if creds else []
    query = target.partition("?")[2]
    for k, v in parse_qsl(query) + parse_qsl((body or b"").decode("ascii", "replace")):
        if k.lower().endswith("apikey") and len(v) >= 16:
            found.append(v)
    return tuple(found)


def _oserror(e: BaseException) -> str:
    if isinstance(e, TimeoutError):
        return "timed out"
    if isinstance(e, OSError) and e.strerror:
        return e.strerror.lower()
    if isinstance(e, OSError) and len(e.args) == 1 and isinstance(e.args[0], str):
        return e.args[0]  # our own: "the answer was cut short", "response too large"
    return type(e).__name__


class _Deadline:
    """One HTTP exchange's deadline. Socket timeouts bound each read, not a whole answer (a server
    sending a byte a second never trips them), so a timer shuts the socket down when the time is up:
    whatever is blocked (TLS handshake, proxy CONNECT, headers, body) returns at once."""

    def __init__(self, seconds: float) -> None:
        import threading

        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.expired = False
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._fd = -1
        self._done = False

    def create_connection(self, address: tuple[str, int | None], timeout: Any = None,
                          source_address: Any = None) -> Any:
        """socket.create_connection, with the connect bounded by what is left, then the timer armed."""
        import socket
        import threading

        left = self.at - time.monotonic()
        if left <= 0:
            self.expired = True
            raise TimeoutError("timed out")
        sock = socket.create_connection(address, min(left, self.seconds), source_address)  # type: ignore[arg-type]
        with self._lock:
            self._fd = sock.fileno()
            self._timer = threading.Timer(max(self.at - time.monotonic(), 0.0), self._fire)
            self._timer.daemon = True
            self._timer.start()
        return sock

    def _fire(self) -> None:
        import socket

        with self._lock:
            if self._done or self._fd < 0:
                return
            self.expired = True
            try:  # shut the connection down through a duplicate: the original may be wrapped in TLS
                dup = socket.socket(fileno=os.dup(self._fd))
                try:
                    dup.shutdown(socket.SHUT_RDWR)
                finally:
                    dup.close()
            except OSError:
                pass

    def disarm(self) -> None:
        """Before the socket is closed (its fd could be reused): the timer never touches it after."""
        with self._lock:
            self._done = True
            if self._timer is not None:
                self._timer.cancel()


def _read_limited(resp: http.client.HTTPResponse) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        part = resp.read(65536)
        if not part:
            if resp.length:  # Content-Length promised more: the connection ended early
                raise OSError("the answer was cut short")
            return b"".join(chunks)
        size += len(part)
        if size > MAX_RESPONSE_BYTES:
            raise OSError("response too large")
        chunks.append(part)


def _https_proxy(host: str) -> tuple[str, int, dict[str, str]] | None:
    """HTTPS_PROXY / NO_PROXY from the user's environment (never from a scanned repository)."""
    import urllib.request

    proxy = urllib.request.getproxies_environment().get("https")
    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
    if not proxy or bypass(host) or _is_loopback(host):
        return None
    parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    if parts.scheme != "http" or not parts.hostname:
        raise CexguardError("HTTPS_PROXY: only an http:// proxy (CONNECT tunnel) is supported")
    headers: dict[str, str] = {}
    if parts.username:
        from urllib.parse import unquote

        cred = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        headers["Proxy-Authorization"] = "Basic " + base64.b64encode(cred).decode()
    return parts.hostname, parts.port or 8080, headers


class _RateLimited(Exception):
    def __init__(self, error: RemoteError, retry_after: float | None) -> None:
        self.error = error
        self.retry_after = retry_after


def _retry_after(headers: Any) -> float | None:
    """Seconds to wait, between MIN_WAIT and MAX_BLOCK, from `Retry-After` (seconds or an HTTP
    date). 0, negative, nan and past dates get the floor; None when there is no usable value."""
    value = headers.get("Retry-After")
    if value is None:
        return None
    value = str(value).strip()
    try:
        seconds = float(value)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, OverflowError, IndexError):
            return None
    if math.isnan(seconds):
        return MIN_WAIT
    return min(max(seconds, MIN_WAIT), MAX_BLOCK)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _error_code(data: Any) -> int | None:
    """The `code` of a Binance error object, {"code": <negative int>, "msg": "..."}; else None."""
    if not isinstance(data, dict):
        return None
    code = data.get("code")
    if isinstance(code, int) and not isinstance(code, bool) and code < 0 and isinstance(data.get("msg"), str):
        return code
    return None


def _interpret(status: int, headers: Any, raw: bytes, endpoint: str, scrub: tuple[str, ...]) -> Any:
    """The JSON of a success, or the error that says what kind of answer this was. Only the shapes
    Binance documents earn a definite answer: AuthError is a Binance error object with one of the
    credential codes (-2015, -2014, -2008, -1022) under HTTP 400 or 401. A 2xx carrying an error
    object, an error object under any other status, or anything that is not JSON proves nothing."""
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_no_constant) if raw.strip() else None
    except (UnicodeDecodeError, ValueError, RecursionError):
        data = None
        parsed = False
    else:
        parsed = True
    code = _error_code(data)
    msg = data.get("msg") if isinstance(data, dict) and isinstance(data.get("msg"), str) else None
    server_msg = _one_line(msg, scrub=scrub) if msg else None
    said = f": Binance code {code}: {server_msg}" if code is not None else ""

    def fail(cls: type[RemoteError], message: str) -> RemoteError:
        return cls(message, endpoint=endpoint, http_status=status, code=code, server_msg=server_msg)

    if 200 <= status < 300:
        if not parsed or raw.strip() == b"":
            raise fail(Unavailable, f"{endpoint}: HTTP {status} but the answer is not JSON")
        if code is not None:
            raise fail(Unavailable, f"{endpoint}: HTTP {status} carrying an error object{said}: "
                                    "not an answer Binance gives, outcome unknown")
        return data
    if status in (418, 429):
        what = "IP banned by Binance (HTTP 418)" if status == 418 else "rate limited (HTTP 429)"
        ra = _retry_after(headers)
        hint = f"; retry after {ra:.0f}s" if ra is not None else ""
        limited = fail(Unavailable, f"{endpoint}: {what}{hint}")
        limited.retry_after = ra
        raise _RateLimited(limited, ra)
    if status == 403:
        raise fail(Unavailable, f"{endpoint}: HTTP 403: blocked by Binance's web application firewall "
                                f"(or this country/IP is not served){said}")
    if 300 <= status < 400:
        raise fail(Unavailable, f"{endpoint}: HTTP {status} redirect not followed: not a Binance API answer")
    if status >= 500:
        raise _Retryable(fail(Unavailable, f"{endpoint}: HTTP {status}: server error, outcome unknown{said}"))
    if code is None:
        raise fail(ApiError, f"{endpoint}: HTTP {status} without a Binance error code")
    auth = code in AUTH_CODES and status in AUTH_STATUSES
    raise fail(AuthError if auth else ApiError, f"{endpoint}: HTTP {status}{said}")


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


def _expect_shape(data: Any, endpoint: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """`data` if it is a JSON object with every field of `fields` of its type; else Unavailable: a
    200 that does not look like the answer proves nothing (a captive portal, a proxy, a stub)."""
    if not isinstance(data, dict):
        raise Unavailable(f"{endpoint}: the answer is not a JSON object: outcome unknown", endpoint=endpoint)
    missing = [k for k, t in fields.items() if k not in data or not isinstance(data[k], t)]
    if missing:
        raise Unavailable(f"{endpoint}: the answer lacks {', '.join(missing)}: not the expected answer, "
                          "outcome unknown", endpoint=endpoint)
    return data
