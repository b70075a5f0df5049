"""Signers that are not plain HMAC strings: Binance's HMAC-SHA256 hex, RSA PKCS#1 v1.5 and Ed25519
over the request bytes, and loading their PEM private keys (`cryptography` is imported only then).
Binance's parameter encoding and where its signature goes are here too."""
from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import quote

from scanner.errors import CexguardError


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

