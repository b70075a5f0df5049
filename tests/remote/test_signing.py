"""Signing, key loading and the base-URL policy: pure functions, no server."""
from __future__ import annotations

import base64
import secrets
from urllib.parse import unquote

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from scanner.errors import CexguardError
from scanner.remote.binance import (
    PRODUCTION_URL,
    Credentials,
    Ed25519Signer,
    HmacSigner,
    RsaSigner,
    encode_params,
    load_private_key,
    resolve_base_url,
    sign_request,
)
from tests.remote.fakebinance import random_alnum

# Binance's published documentation test vector (binance-api.md): not a leak.
DOCS_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"  # cexguard:allow
DOCS_PAYLOAD = ("symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
                "&recvWindow=5000&timestamp=1499827319559")
DOCS_SIGNATURE = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"  # cexguard:allow


def test_hmac_matches_binance_docs_vector() -> None:
    assert HmacSigner(DOCS_SECRET).sign(DOCS_PAYLOAD.encode()) == DOCS_SIGNATURE


def test_hmac_mixed_query_and_body_signs_the_concatenation_and_puts_signature_last_in_body() -> None:
    query, body = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC", \
        "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
    q, b = sign_request(HmacSigner(DOCS_SECRET), query, body)
    assert q == query
    assert b == f"{body}&signature={HmacSigner(DOCS_SECRET).sign(DOCS_PAYLOAD.replace('GTC&', 'GTC').encode())}"


def test_signature_goes_last_in_query_when_there_is_no_body() -> None:
    q, b = sign_request(HmacSigner(random_alnum()), "a=1&timestamp=5", "")
    assert b == ""
    assert q.startswith("a=1&timestamp=5&signature=") and len(q.split("signature=")[1]) == 64


def test_encode_params_percent_encodes_values_and_keeps_order() -> None:
    assert encode_params({"email": "a+b@x.io", "ipAddress": "1.2.3.4,5.6.7.8", "flag": True, "skip": None,
                          "n": 3}) == "email=a%2Bb%40x.io&ipAddress=1.2.3.4%2C5.6.7.8&flag=true&n=3"


def test_ed25519_signature_is_base64_percent_encoded_and_verifies() -> None:
    priv = ed25519.Ed25519PrivateKey.generate()
    pem = priv.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    signer = load_private_key(pem)
    assert isinstance(signer, Ed25519Signer)
    for _ in range(20):  # enough tries that '+', '/' or '=' shows up and must be percent-encoded
        payload = f"timestamp={secrets.randbelow(10**13)}"
        q, _ = sign_request(signer, payload, "")
        sent = q.split("&signature=")[1]
        assert all(c not in sent for c in "+/=")
        priv.public_key().verify(base64.b64decode(unquote(sent)), payload.encode())


@pytest.mark.parametrize("fmt", [serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL])
def test_rsa_pkcs1v15_sha256_from_pkcs8_and_pkcs1(fmt: serialization.PrivateFormat) -> None:
    priv = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = priv.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())
    signer = load_private_key(pem)
    assert isinstance(signer, RsaSigner)
    sig = base64.b64decode(signer.sign(b"timestamp=1"))
    priv.public_key().verify(sig, b"timestamp=1", padding.PKCS1v15(), hashes.SHA256())


def _encrypted(passphrase: bytes) -> bytes:
    return ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase))


def test_encrypted_key_with_passphrase_loads() -> None:
    pw = secrets.token_urlsafe(12).encode()
    assert isinstance(load_private_key(_encrypted(pw), passphrase=pw), Ed25519Signer)


def test_encrypted_key_errors_name_the_variable_never_the_passphrase() -> None:
    pw = secrets.token_urlsafe(12).encode()
    pem = _encrypted(pw)
    with pytest.raises(CexguardError, match="encrypted and no passphrase.*set PASS_VAR"):
        load_private_key(pem, source="KEYFILE", passphrase_var="PASS_VAR")
    wrong = secrets.token_urlsafe(12).encode()
    with pytest.raises(CexguardError, match="KEYFILE: wrong passphrase") as ei:
        load_private_key(pem, passphrase=wrong, source="KEYFILE")
    assert wrong.decode() not in str(ei.value) and pw.decode() not in str(ei.value)


def test_passphrase_given_for_a_plain_key_is_ignored() -> None:
    pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    assert isinstance(load_private_key(pem, passphrase=b"unused"), Ed25519Signer)


def test_bad_pem_and_unsupported_algorithms_are_one_line_errors() -> None:
    with pytest.raises(CexguardError, match="not a PEM private key"):
        load_private_key(b"hello", source="F")
    body = base64.b64encode(secrets.token_bytes(48)).decode()
    with pytest.raises(CexguardError, match="not a valid PEM private key") as ei:
        load_private_key(f"-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n".encode(), source="F")
    assert body not in str(ei.value)
    ec_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    with pytest.raises(CexguardError, match="Ed25519 or RSA"):
        load_private_key(ec_pem, source="F")


def test_no_secret_in_repr() -> None:
    secret, key = random_alnum(), random_alnum()
    creds = Credentials(key, HmacSigner(secret), label="leaked")
    text = repr(creds) + repr(creds.signer) + str(creds)
    assert secret not in text and key not in text
    assert creds.redacted in text
    pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    assert "PRIVATE" not in repr(load_private_key(pem))


def test_api_key_that_cannot_be_a_header_is_refused_without_echoing_it() -> None:
    bad = random_alnum(30) + "\r\nX: y"
    with pytest.raises(CexguardError) as ei:
        Credentials(bad)
    assert bad.strip() not in str(ei.value)


# ------------------------------------------------------------------------------------ base URL

def test_default_is_production() -> None:
    assert resolve_base_url(None, env={}) == PRODUCTION_URL == "https://api.binance.com"


def test_env_var_then_option() -> None:
    env = {"CEXGUARD_API_URL": "https://testnet.binance.vision/"}
    assert resolve_base_url(None, env=env) == "https://testnet.binance.vision"
    assert resolve_base_url("http://127.0.0.1:8080", env=env) == "http://127.0.0.1:8080"


@pytest.mark.parametrize("url", ["http://127.0.0.1:9", "http://127.8.9.10", "http://localhost:1234/prefix",
                                 "http://[::1]:5000", "https://api.binance.us", "https://api1.binance.com"])
def test_allowed_urls(url: str) -> None:
    assert resolve_base_url(url, env={}) == url.rstrip("/")


@pytest.mark.parametrize("url,why", [
    ("http://api.binance.com", "plain http is allowed only to a loopback"),
    ("http://10.0.0.1:80", "plain http is allowed only to a loopback"),
    ("http://127.0.0.1.evil.example", "plain http is allowed only to a loopback"),
    ("ftp://127.0.0.1", "expected https://"),
    ("api.binance.com", "expected https://"),
    ("https://user:pw@api.binance.com", "must not contain a user name"),
    ("https://api.binance.com/?x=1", "query or fragment"),
    ("https://api.binance.com:99999", "not a valid URL"),
])
def test_refused_urls(url: str, why: str) -> None:
    with pytest.raises(CexguardError, match=why) as ei:
        resolve_base_url(url, env={})
    assert "pw" not in str(ei.value)
