"""Errors of the remote layer, shared by every exchange: each says whether the exchange gave an
answer (ApiError, AuthError), the outcome is unknown (Unavailable), or no connection could be made
at all (Unreachable). Messages are one line and never hold a secret."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from scanner.errors import CexguardError
from scanner.models import redact


class RemoteError(CexguardError):
    """A call did not give a usable answer. Messages are one line and never hold a secret."""

    def __init__(self, message: str, *, endpoint: str | None = None, http_status: int | None = None,
                 code: int | str | None = None, server_msg: str | None = None) -> None:
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
    """The exchange answered with an error: a definite answer, not a transient failure."""


class AuthError(ApiError):
    """The credentials were rejected, with one of the exchange's credential codes (Binance: -2015, -2014,
    -1022 or -2008)."""


class Unavailable(RemoteError):
    """The outcome is unknown: WAF block (403), rate limit or IP ban (429/418) after the bounded
    wait, 5xx, timeout, dropped connection, redirect, or an answer that is not the exchange's."""


class Unreachable(RemoteError):
    """No connection could be made at all (DNS, refused, TLS verification): a setup problem."""


def one_line(text: str, *, scrub: Iterable[str] = (), limit: int = 200) -> str:
    text = " ".join(text.split())
    text = "".join(ch if ch.isprintable() else "?" for ch in text)
    for s in scrub:
        if s and s in text:
            text = text.replace(s, redact(s))
    return text if len(text) <= limit else text[: limit - 3] + "..."

