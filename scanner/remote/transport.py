"""The HTTP layer every exchange shares: the base-URL policy, one deadline per exchange (connect,
TLS, send, headers, body), bounded retries (5xx and network errors twice with backoff; 429/418
after Retry-After with a floor, within a total wait), a remembered ban, a cap on the answer's size,
and the rule that only an answer whose shape the exchange documents earns a verdict.

The exchange-specific part of reading an answer is a `Dialect`: where the exchange's error object
is, which codes mean "these credentials are refused" and under which HTTP statuses. `http.client`
from the standard library; no redirects followed, TLS verification always on.
"""
from __future__ import annotations

import base64
import ipaddress
import json
import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scanner import __version__
from scanner.errors import CexguardError
from scanner.remote.errors import ApiError, AuthError, RemoteError, Unavailable, Unreachable, one_line

if TYPE_CHECKING:
    import http.client
    import ssl

PRODUCTION_URL = "https://api.binance.com"
API_URL_ENV = "CEXGUARD_API_URL"
USER_AGENT = f"cexguard/{__version__} (+leaked-key verification)"

DEFAULT_TIMEOUT = 10.0  # seconds: one whole HTTP exchange (connect, send, headers, body)
DEFAULT_MAX_RETRIES = 2  # extra attempts on 5xx and network errors
DEFAULT_MAX_WAIT = 30.0  # seconds: total time spent honouring Retry-After and backing off
DEFAULT_MAX_ATTEMPTS = 5  # requests sent for one call, whatever the reasons to retry
MIN_WAIT = 1.0  # seconds: the floor of every Retry-After wait (0, negative, nan or a past date included)
MAX_BLOCK = 3 * 24 * 3600.0  # seconds: the longest ban remembered (Binance bans last 2 minutes to 3 days)
MAX_RESPONSE_BYTES = 2 * 1024 * 1024


# ------------------------------------------------------------------------------------------ base URL

def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_base_url(api_url: str | None = None, *, env: Mapping[str, str] | None = None,
                     default: str = PRODUCTION_URL) -> str:
    """Where requests go: `api_url` (from --api-url), else $CEXGUARD_API_URL, else `default` (the
    exchange's production URL; Binance's unless told).

    Only https, except plain http to a loopback address (127.0.0.0/8, ::1, localhost); no user
    info, query or fragment. Never taken from anything a scanned repository contains.
    """
    environ = os.environ if env is None else env
    if api_url:
        raw, where = api_url, "--api-url"
    elif environ.get(API_URL_ENV):
        raw, where = environ[API_URL_ENV], API_URL_ENV
    else:
        return default
    raw = raw.strip()
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 - validates the port
    except ValueError:
        raise CexguardError(f"{where}: not a valid URL") from None
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise CexguardError(f"{where}: the URL must not contain a user name or password")
    shown = one_line(raw, limit=120)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise CexguardError(f"{where}: expected https://HOST[:PORT], got {shown!r}")
    if parts.query or parts.fragment or "?" in raw or "#" in raw:
        raise CexguardError(f"{where}: the URL must not have a query or fragment: {shown!r}")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise CexguardError(
            f"{where}: plain http is allowed only to a loopback address (127.0.0.1, ::1, localhost); "
            f"use https:// for {parts.hostname}"
        )
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


# ------------------------------------------------------------------------------------------ plumbing

def scrub_values(api_key: str | None, target: str, body: bytes | None) -> tuple[str, ...]:
    """API keys this request carries (header and *ApiKey parameters) and a passphrase parameter
    (KuCoin's sub-account key delete sends the key's own): a server message that echoes one is shown
    with it redacted."""
    from urllib.parse import parse_qsl

    found = [api_key] if api_key else []
    query = target.partition("?")[2]
    text = (body or b"").decode("utf-8", "replace")
    pairs = parse_qsl(query) + parse_qsl(text)
    try:
        obj = json.loads(text) if text.lstrip().startswith("{") else None
    except ValueError:
        obj = None
    if isinstance(obj, dict):  # a JSON body (OKX's and HTX's sub-account deletes name the key in it)
        pairs += [(k, v) for k, v in obj.items() if isinstance(k, str) and isinstance(v, str)]
    for k, v in pairs:
        if (k.lower().endswith(("apikey", "accesskey")) and len(v) >= 16) or (k.lower() == "passphrase" and len(v) >= 6):
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
    if not proxy or bypass(host) or is_loopback(host):
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


class RateLimited(Exception):
    def __init__(self, error: RemoteError, retry_after: float | None) -> None:
        self.error = error
        self.retry_after = retry_after


def retry_after(headers: Any) -> float | None:
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



class Retryable(Exception):
    """A 5xx answer or a network error: worth another attempt, within the bounds."""

    def __init__(self, error: RemoteError) -> None:
        self.error = error


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# ------------------------------------------------------------------------------------------ dialects

@dataclass(frozen=True)
class Dialect:
    """How one exchange says "error" in an answer.

    `error(data)` returns (code, message) when `data` is the exchange's own error object, else None
    (a success, or something that is not the exchange's). `auth_codes` are the codes that mean the
    credentials were refused, and `auth_statuses` the HTTP statuses the exchange sends them with.
    `errors_in_2xx`: the exchange answers errors with HTTP 200 (Bybit, Kraken, OKX and KuCoin on
    some paths); for the others (Binance) a 2xx carrying an error object proves nothing."""

    name: str  # for messages: "Binance", "Bybit", ...
    error: Callable[[Any], tuple[int | str, str | None] | None]
    auth_codes: frozenset[int | str]
    auth_statuses: frozenset[int]
    errors_in_2xx: bool = False
    text_errors: frozenset[str] = frozenset()  # whole plain-text bodies that are the exchange's error
    empty_204: bool = False  # HTTP 204 with no body is a success (Gate's deletes): the call returns None


def interpret(status: int, headers: Any, raw: bytes, endpoint: str, scrub: tuple[str, ...], dialect: Dialect) -> Any:
    """The JSON of a success, or the error that says what kind of answer this was. Only the shapes
    the exchange documents earn a definite answer: AuthError is the exchange's error object with one
    of its credential codes under one of its statuses. A 2xx carrying an error object (unless the
    exchange answers errors that way), an error object under any other status, or anything that is
    not JSON proves nothing."""
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_no_constant) if raw.strip() else None
    except (UnicodeDecodeError, ValueError, RecursionError):
        data = None
        parsed = False
    else:
        parsed = True
    found = dialect.error(data) if parsed else None
    if not parsed and dialect.text_errors:
        text = raw.decode("utf-8", "replace").strip()
        found = dialect.error(text) if text in dialect.text_errors else None
    code, msg = found if found is not None else (None, None)
    server_msg = one_line(msg, scrub=scrub) if msg else None
    name = dialect.name
    said = f": {name} code {code}: {server_msg}" if code is not None else ""

    def fail(cls: type[RemoteError], message: str) -> RemoteError:
        return cls(message, endpoint=endpoint, http_status=status, code=code, server_msg=server_msg)

    if 200 <= status < 300:
        if status == 204 and dialect.empty_204 and raw.strip() == b"":
            return None
        if not parsed or raw.strip() == b"":
            raise fail(Unavailable, f"{endpoint}: HTTP {status} but the answer is not JSON")
        if code is None:
            return data
        if not dialect.errors_in_2xx:
            raise fail(Unavailable, f"{endpoint}: HTTP {status} carrying an error object{said}: "
                                    f"not an answer {name} gives, outcome unknown")
    elif status in (418, 429):
        what = f"IP banned by {name} (HTTP 418)" if status == 418 else "rate limited (HTTP 429)"
        ra = retry_after(headers)
        hint = f"; retry after {ra:.0f}s" if ra is not None else ""
        limited = fail(Unavailable, f"{endpoint}: {what}{hint}")
        limited.retry_after = ra
        raise RateLimited(limited, ra)
    elif status == 403:
        raise fail(Unavailable, f"{endpoint}: HTTP 403: blocked by {name}'s web application firewall "
                                f"(or this country/IP is not served){said}")
    elif 300 <= status < 400:
        raise fail(Unavailable, f"{endpoint}: HTTP {status} redirect not followed: not a {name} API answer")
    elif status >= 500:
        raise Retryable(fail(Unavailable, f"{endpoint}: HTTP {status}: server error, outcome unknown{said}"))
    if code is None:
        raise fail(ApiError, f"{endpoint}: HTTP {status} without a {name} error code")
    auth = code in dialect.auth_codes and status in dialect.auth_statuses
    raise fail(AuthError if auth else ApiError, f"{endpoint}: HTTP {status}{said}")


# ----------------------------------------------------------------------------------------- transport

Prepared = tuple[str, "bytes | None", dict[str, str]]  # target (path?query), body, headers


class HttpTransport:
    """One base URL: connections, clock offset, rate-limit state. Shared by every key's client so a
    ban or Retry-After seen on one call is honoured by the next. Exchange-independent: what a
    request carries is built by `prepare` (called again for every attempt, so a signature and its
    timestamp are always fresh) and what an answer means is the `dialect`'s."""

    dialect: Dialect

    def __init__(self, base_url: str, *, dialect: Dialect, timeout: float = DEFAULT_TIMEOUT,
                 max_retries: int = DEFAULT_MAX_RETRIES, max_wait: float = DEFAULT_MAX_WAIT,
                 max_attempts: int = DEFAULT_MAX_ATTEMPTS, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time) -> None:
        if not (math.isfinite(timeout) and timeout > 0):
            raise CexguardError("the timeout must be a positive number of seconds")
        if not (math.isfinite(max_wait) and max_wait >= 0) or max_attempts < 1 or max_retries < 0:
            raise CexguardError("max_wait, max_attempts and max_retries must be finite and not negative")
        self.dialect = dialect
        self.base_url = resolve_base_url(base_url, env={})
        parts = urlsplit(self.base_url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port
        self.netloc = parts.netloc
        self._prefix = parts.path
        self.timeout = timeout
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

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.base_url})"

    # -- time
    def now_ms(self) -> int:
        return int(self._clock() * 1000) + self.clock_offset_ms

    def set_server_time(self, server_ms: int, t0: float, t1: float) -> int:
        """The clock offset from a server time read between t0 and t1 (seconds); returns it in ms."""
        self.clock_offset_ms = server_ms - int((t0 + t1) * 500)
        return self.clock_offset_ms

    def clock(self) -> float:
        return self._clock()

    # -- requests
    def exchange(self, method: str, path: str, prepare: Callable[[], Prepared], *,
                 api_key: str | None = None) -> Any:
        """Send one call and return its JSON: at most `max_attempts` requests; waits (each at least
        MIN_WAIT for a rate limit) add up to at most `max_wait`; the whole call ends within
        max_wait + max_attempts * timeout."""
        endpoint = f"{method} {path}"
        waited = 0.0
        retries = 0  # 5xx and network errors
        sent = 0
        give_up_at = time.monotonic() + self.max_wait + self.max_attempts * self.timeout
        while True:
            self._check_blocked(endpoint)
            target, body, headers = prepare()
            sent += 1
            try:
                return self._send(method, self._prefix + target, body, headers, endpoint, api_key)
            except RateLimited as rl:
                if rl.retry_after is None:  # no Retry-After (or not a number or date): no guess, no retry
                    raise rl.error from None
                delay = rl.retry_after
                if (waited + delay > self.max_wait or sent >= self.max_attempts
                        or time.monotonic() + delay > give_up_at):
                    self._block(delay, rl.error)
                    raise rl.error from None
            except Retryable as r:
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
        name = self.dialect.name
        self._block_reason = (f"{name} banned this IP (HTTP 418)" if error.http_status == 418
                              else f"{name} asked to slow down (HTTP 429)")

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

    def note_answer(self, headers: Any) -> None:
        """Called with every answer's headers (Binance reads its weight headers here)."""

    def _send(self, method: str, target: str, body: bytes | None, headers: dict[str, str], endpoint: str,
              api_key: str | None) -> Any:
        import http.client
        import socket
        import ssl

        scrub = scrub_values(api_key, target, body)
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
                raise Retryable(Unreachable(f"cannot resolve {self._host}", endpoint=endpoint)) from None
            except OSError as e:
                if deadline.expired:  # a connection made, then a handshake or proxy that never finished
                    raise Retryable(Unavailable(f"{endpoint}: no answer from {self.base_url}: timed out "
                                                f"(the whole call is limited to {self.timeout:g}s)",
                                                endpoint=endpoint)) from None
                raise Retryable(Unreachable(f"cannot connect to {self.base_url}: {_oserror(e)}",
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
                raise Retryable(Unavailable(f"{endpoint}: no answer from {self.base_url}: {why}",
                                            endpoint=endpoint)) from None
        finally:
            deadline.disarm()
            conn.close()
        self.note_answer(resp.headers)
        return interpret(resp.status, resp.headers, raw, endpoint, scrub, self.dialect)


def base_headers() -> dict[str, str]:
    return {"User-Agent": USER_AGENT, "Accept": "application/json", "Connection": "close"}


def expect_shape(data: Any, endpoint: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """`data` if it is a JSON object with every field of `fields` of its type; else Unavailable: a
    200 that does not look like the answer proves nothing (a captive portal, a proxy, a stub)."""
    if not isinstance(data, dict):
        raise Unavailable(f"{endpoint}: the answer is not a JSON object: outcome unknown", endpoint=endpoint)
    missing = [k for k, t in fields.items() if k not in data or not isinstance(data[k], t)]
    if missing:
        raise Unavailable(f"{endpoint}: the answer lacks {', '.join(missing)}: not the expected answer, "
                          "outcome unknown", endpoint=endpoint)
    return data
