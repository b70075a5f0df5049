"""Kraken (spot REST).

Facts (Kraken's API docs; its reference client krakenex): POST /0/private/<Method> with a form body
that holds an increasing `nonce`, headers API-Key and API-Sign = base64 of HMAC-SHA512 over
uri path + SHA-256(nonce + post data), keyed with the base64-decoded secret. Every answer is
{"error": [...], "result": {...}} under HTTP 200; errors are strings such as "EAPI:Invalid key",
"EAPI:Invalid signature", "EAPI:Invalid nonce", "EGeneral:Permission denied".

Verify: POST /0/private/GetApiKeyInfo (no permission needed): apiKeyName, permissions (e.g.
"query-funds", "withdraw-funds", "query-open-trades", "modify-trades"), ipAllowlist, validUntil,
createdTime. Kraken's answer to a key it does not know and to a key used from outside its IP
allowlist is not told apart here, so "EAPI:Invalid key" is `rejected` (not proven dead). Revoke:
Kraken has no API to delete a key: `not_revocable`.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import itertools
from typing import Any

from scanner.errors import CexguardError
from scanner.remote.errors import ApiError, Unavailable
from scanner.remote.exchanges import ExchangeCredentials
from scanner.remote.exchanges.base import NO_PERMISSION, WRONG_SECRET, Base, scalars
from scanner.remote.model import Permissions
from scanner.remote.transport import Dialect, HttpTransport, base_headers

KEY_INFO = "/0/private/GetApiKeyInfo"
INVALID_KEY = "EAPI:Invalid key"
INVALID_SIGNATURE = "EAPI:Invalid signature"
INVALID_NONCE = "EAPI:Invalid nonce"
PERMISSION_DENIED = "EGeneral:Permission denied"
TRADING = ("modify-trades", "close-trades", "cancel-close-trades", "create-modify-orders", "cancel-close-orders")


def _error(data: Any) -> tuple[str, str | None] | None:
    if not isinstance(data, dict) or not isinstance(data.get("error"), list):
        return None
    errors = [e for e in data["error"] if isinstance(e, str)]
    if not errors or len(errors) != len(data["error"]):
        return None
    return errors[0], ", ".join(errors)


DIALECT = Dialect("Kraken", _error, frozenset({INVALID_KEY, INVALID_SIGNATURE, PERMISSION_DENIED}),
                  frozenset({200}), errors_in_2xx=True)


def sign(secret: str, path: str, nonce: str, postdata: str) -> str:
    try:
        key = base64.b64decode(secret, validate=True)
    except (binascii.Error, ValueError):
        raise CexguardError("the Kraken secret is not base64 (Kraken secrets are 88 base64 characters)") from None
    message = path.encode() + hashlib.sha256((nonce + postdata).encode()).digest()
    return base64.b64encode(hmac.new(key, message, hashlib.sha512).digest()).decode()


class Kraken(Base):
    name = "kraken"
    title = "Kraken"
    production_url = "https://api.kraken.com"
    management_page = "Settings -> API"
    verify_endpoint = f"POST {KEY_INFO}"
    signature = "hmac-sha512"
    dialect = DIALECT
    time_codes = frozenset({INVALID_NONCE})  # a fresh, larger nonce once
    rejections = {
        INVALID_KEY: ("rejected", ("deleted", "ip_restricted_elsewhere"),
                      ("Kraken does not accept this key from here: deleted, never existed, or restricted to other "
                       "IP addresses",)),
        INVALID_SIGNATURE: WRONG_SECRET,
        PERMISSION_DENIED: NO_PERMISSION,
    }

    def __init__(self) -> None:
        self._counter = itertools.count()

    def request(self, transport: HttpTransport, creds: ExchangeCredentials, path: str) -> Any:
        sign("" if creds.secret is None else creds.secret, path, "0", "")  # a bad secret fails before sending

        def prepare() -> tuple[str, bytes | None, dict[str, str]]:
            nonce = str(transport.now_ms() * 1000 + next(self._counter) % 1000)
            body = f"nonce={nonce}"
            headers = base_headers()
            headers.update({"API-Key": creds.api_key, "API-Sign": sign(creds.secret or "", path, nonce, body),
                            "Content-Type": "application/x-www-form-urlencoded"})
            return path, body.encode(), headers

        return transport.exchange("POST", path, prepare, api_key=creds.api_key)

    def call(self, transport: HttpTransport, fn: Any, *args: Any) -> Any:
        try:
            return fn(transport, *args)
        except ApiError as e:
            if e.code != INVALID_NONCE:
                raise
        return fn(transport, *args)

    def read_call(self, transport: HttpTransport, creds: ExchangeCredentials) -> Any:
        return self.request(transport, creds, KEY_INFO)

    def read(self, data: Any, creds: ExchangeCredentials
             ) -> tuple[dict[str, Any], Permissions, str | None, dict[str, Any] | None]:
        ep = f"POST {KEY_INFO}"
        result = data.get("result") if isinstance(data, dict) and data.get("error") == [] else None
        perms = result.get("permissions") if isinstance(result, dict) else None
        if not isinstance(perms, list) or not all(isinstance(x, str) for x in perms):
            raise Unavailable(f"{ep}: the answer lacks result.permissions: outcome unknown", endpoint=ep)
        assert isinstance(result, dict)
        allow = result.get("ipAllowlist")
        until = result.get("validUntil")
        p = Permissions(read=any(x.startswith("query-") for x in perms), trade=any(x in TRADING for x in perms),
                        withdraw="withdraw-funds" in perms, transfer=None,
                        ip_restricted=bool(allow) if isinstance(allow, list) else None,
                        expires=str(until) if until not in (None, "0", 0, "") else None)
        created = result.get("createdTime")
        return scalars(result), p, str(created) if created is not None else None, None


EXCHANGE = Kraken()
