"""Coinbase (Advanced Trade API with CDP keys).

Facts (Coinbase's CDP docs, "JWT authentication", and its official SDK coinbase-advanced-py): every
call carries `Authorization: Bearer <JWT>`, a JWT signed with the key's private key, ES256 for an
EC key (PEM) or EdDSA for an Ed25519 key (base64 of 64 bytes: seed then public key, now the
default), with claims iss "cdp", sub = the key name (`organizations/{org}/apiKeys/{id}`, or the key
id), nbf = now, exp = now + 120 s, uri = "GET api.coinbase.com/api/v3/brokerage/key_permissions"
(method, space, host and path), and header fields kid = the key name and a random nonce.

Verify: GET /api/v3/brokerage/key_permissions: can_view, can_trade, can_transfer, portfolio_uuid,
portfolio_type. A refused JWT is HTTP 401; its body is not confirmed (a plain "Unauthorized", or a
JSON {"error": ..., "message": ...}), both are read as Coinbase's refusal, anything else under 401
proves nothing. A refusal does not say why (deleted key, wrong private key, key name or IP
allowlist): `rejected`. Revoke: CDP keys are deleted in the CDP portal only: `not_revocable`.
"""
from __future__ import annotations

import base64
import binascii
import json
import secrets
from typing import Any

from scanner.errors import CexguardError
from scanner.remote.errors import Unavailable
from scanner.remote.exchanges import ExchangeCredentials
from scanner.remote.exchanges.base import Base, scalars
from scanner.remote.model import Permissions
from scanner.remote.transport import Dialect, HttpTransport, base_headers

KEY_PERMISSIONS = "/api/v3/brokerage/key_permissions"
JWT_LIFETIME = 120  # seconds


def _error(data: Any) -> tuple[str, str | None] | None:
    if isinstance(data, dict) and isinstance(data.get("error"), str) and data["error"]:
        msg = data.get("message")
        return data["error"], msg if isinstance(msg, str) else None
    if data == "Unauthorized":  # see Dialect below: a plain-text body, read as this string
        return "Unauthorized", "Unauthorized"
    return None


DIALECT = Dialect("Coinbase", _error, frozenset({"Unauthorized", "UNAUTHORIZED", "UNAUTHENTICATED"}),
                  frozenset({401}), text_errors=frozenset({"Unauthorized"}))


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def load_key(secret: str) -> tuple[str, Any]:
    """("ES256", EC key) from PEM, or ("EdDSA", Ed25519 key) from PKCS#8 PEM or base64 (64 bytes: seed + public)."""
    try:
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519
        from cryptography.hazmat.primitives.serialization import load_pem_private_key
    except ImportError:
        raise CexguardError("Coinbase keys need the cryptography package: pip install 'cexguard[verify]'") from None
    if secret.startswith("-----BEGIN"):
        try:
            key = load_pem_private_key(secret.encode(), password=None)
        except (ValueError, TypeError):
            raise CexguardError("the Coinbase private key is not a valid unencrypted PEM key") from None
        if isinstance(key, ed25519.Ed25519PrivateKey):  # a PKCS#8 Ed25519 key (`-----BEGIN PRIVATE KEY-----`)
            return "EdDSA", key
        if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
            raise CexguardError("the Coinbase private key is neither an EC P-256 key (ES256) nor an Ed25519 key")
        return "ES256", key
    try:
        raw = base64.b64decode(secret, validate=True)
    except (binascii.Error, ValueError):
        raise CexguardError("the Coinbase secret is neither a PEM EC key nor a base64 Ed25519 key") from None
    if len(raw) not in (32, 64):
        raise CexguardError("the Coinbase Ed25519 key must be 64 bytes (seed and public key) in base64")
    return "EdDSA", ed25519.Ed25519PrivateKey.from_private_bytes(raw[:32])


def build_jwt(key_name: str, secret: str, method: str, host: str, path: str, now: int) -> str:
    alg, key = load_key(secret)
    header = {"alg": alg, "kid": key_name, "nonce": secrets.token_hex(16), "typ": "JWT"}
    claims = {"iss": "cdp", "sub": key_name, "nbf": now, "exp": now + JWT_LIFETIME, "uri": f"{method} {host}{path}"}
    signing_input = (b64url(json.dumps(header, separators=(",", ":")).encode()) + "."
                     + b64url(json.dumps(claims, separators=(",", ":")).encode()))
    if alg == "ES256":
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")  # JWS wants r || s, not DER
    else:
        sig = key.sign(signing_input.encode())
    return signing_input + "." + b64url(sig)


class Coinbase(Base):
    name = "coinbase"
    title = "Coinbase"
    production_url = "https://api.coinbase.com"
    management_page = "the Coinbase Developer Platform portal (portal.cdp.coinbase.com) -> API keys"
    verify_endpoint = f"GET {KEY_PERMISSIONS}"
    signature = "jwt"
    dialect = DIALECT
    rejections = {code: ("rejected", ("deleted", "wrong_secret", "ip_restricted_elsewhere"),
                         ("Coinbase refused the JWT (HTTP 401): the key was deleted, the private key does not belong "
                          "to this key name, or the key is restricted to other IP addresses; not proven dead",))
                  for code in ("Unauthorized", "UNAUTHORIZED", "UNAUTHENTICATED")}

    def read_call(self, transport: HttpTransport, creds: ExchangeCredentials) -> Any:
        load_key(creds.secret or "")  # a bad key fails before anything is sent

        def prepare() -> tuple[str, bytes | None, dict[str, str]]:
            token = build_jwt(creds.api_key, creds.secret or "", "GET", transport.netloc, KEY_PERMISSIONS,
                              transport.now_ms() // 1000)
            headers = base_headers()
            headers["Authorization"] = f"Bearer {token}"
            return KEY_PERMISSIONS, None, headers

        return transport.exchange("GET", KEY_PERMISSIONS, prepare, api_key=creds.api_key)

    def read(self, data: Any, creds: ExchangeCredentials
             ) -> tuple[dict[str, Any], Permissions, str | None, dict[str, Any] | None]:
        ep = f"GET {KEY_PERMISSIONS}"
        if not isinstance(data, dict) or not all(isinstance(data.get(k), bool)
                                                 for k in ("can_view", "can_trade", "can_transfer")):
            raise Unavailable(f"{ep}: the answer lacks can_view, can_trade or can_transfer: outcome unknown",
                              endpoint=ep)
        p = Permissions(read=data["can_view"], trade=data["can_trade"], withdraw=data["can_transfer"],
                        transfer=data["can_transfer"], ip_restricted=None)
        account = {k: data[k] for k in ("portfolio_uuid", "portfolio_type") if isinstance(data.get(k), str)}
        return scalars(data), p, None, account or None


EXCHANGE = Coinbase()
