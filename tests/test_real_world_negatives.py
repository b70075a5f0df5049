"""False alarms seen on real trees (installed packages, CPython's test suite), kept from coming back."""
from __future__ import annotations

import base64
import json
import secrets

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from scanner.engine import Engine
from tests.conftest import new_key

ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")



def _alnum_line(n: int, alphabet: str) -> str:
    """A random line of base64(url) text that is all letters and digits (the hard case)."""
    while True:
        s = base64.urlsafe_b64encode(secrets.token_bytes(n)).decode().rstrip("=")[:64]
        if set(s) <= ALNUM and any(c.isdigit() for c in s) and any(c.isupper() for c in s):
            return s


def test_rfc2047_encoded_words_are_not_keys(engine: Engine) -> None:
    words = []
    while len(words) < 3:
        b = base64.b64encode(secrets.token_bytes(48)).decode()
        if set(b) <= ALNUM:
            words.append(b)
    text = "Subject:" + "\n".join(f" =?utf-8?b?{w}?=" for w in words) + "\n"
    assert engine.scan_bytes(text.encode(), path="test_email.py") == []


def test_wrapped_base64url_jws_example_is_not_a_key(engine: Engine) -> None:
    payload = base64.urlsafe_b64encode(json.dumps({"iss": "joe", "exp": 1300819380, "x": "y" * 40}).encode())
    lines = [payload[i:i + 64].decode() for i in range(0, len(payload), 64)]
    sig_lines = [_alnum_line(48, "")] + [base64.urlsafe_b64encode(secrets.token_bytes(48)).decode().rstrip("=")
                                         .replace("A", "-", 1).replace("B", "_", 1) for _ in range(2)]
    doc = ".. code-block:: text\n\n" + "\n".join("    " + ln for ln in lines) + "\n    .\n" + \
        "\n".join("    " + ln for ln in sig_lines) + "\n"
    assert engine.scan_bytes(doc.encode(), path="jws.py") == []
    # the same file still finds a real key
    k = new_key()
    found = engine.scan_bytes((doc + f'\nBINANCE_API_KEY = "{k}"\n').encode(), path="jws.py")
    assert [f.secret for f in found] == [k]


def _rsa_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def test_rsa_key_without_binance_context_is_not_reported(engine: Engine) -> None:
    pem = _rsa_pem()
    assert engine.scan_bytes(pem.encode(), path="tests/certdata/server.key") == []
    found = engine.scan_bytes(pem.encode(), path="keys/binance_rsa.pem")
    assert [(f.kind, f.confidence) for f in found] == [("binance_private_key", "high")]


def test_private_key_next_to_an_api_key_is_a_neutral_private_key(engine: Engine) -> None:
    """No Binance word: a private key is reported as `private_key` with the reason, never as Binance's."""
    pem = _rsa_pem()
    k = new_key()
    found = engine.scan_bytes(f'API_KEY = "{k}"\nPRIVATE_KEY = """{pem}"""\n'.encode(), path="sign.py")
    by_kind = {f.kind: f for f in found}
    assert set(by_kind) == {"binance_api_key", "private_key"}
    pk = by_kind["private_key"]
    assert pk.confidence == "medium" and "API key" in (pk.reason or "")
    assert pk.paired_with == by_kind["binance_api_key"].fingerprint


def test_private_key_named_like_binance_docs_is_reported_with_the_reason(engine: Engine) -> None:
    pem = _rsa_pem()
    found = engine.scan_bytes(pem.encode(), path="keys/test-prv-key.pem")
    assert [(f.kind, f.confidence) for f in found] == [("private_key", "low")]
    assert "named like" in (found[0].reason or "")
    # PKCS#1 too, and inside a Python bytes literal in a .txt
    pkcs1 = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption()).decode()
    found = engine.scan_bytes(f"KEY = {pkcs1.encode()!r}\n".encode(), path="notes/prv_key.txt")
    assert [f.kind for f in found] == ["private_key"]


def test_ed25519_key_without_context_is_reported_low(engine: Engine) -> None:
    pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    found = engine.scan_bytes(pem.encode(), path="key.pem")
    assert [(f.kind, f.confidence) for f in found] == [("private_key", "low")]
    assert "Ed25519" in (found[0].reason or "")


def test_ec_key_is_never_a_binance_key(engine: Engine) -> None:
    """Binance takes Ed25519 and RSA keys only: an ECDSA key is not reported, even in a Binance project."""
    from cryptography.hazmat.primitives.asymmetric import ec

    for fmt in (serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL):
        pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()
        assert engine.scan_bytes(f"# binance bot\n{pem}".encode(), path="vendor/ecdsa/test_keys.py") == []


def test_bnb_letters_inside_base64_are_not_binance_context(engine: Engine) -> None:
    pem = _rsa_pem()
    noise = base64.b64encode(secrets.token_bytes(12)).decode().replace("/", "a").replace("+", "b")
    text = json.dumps({"PrivateKey": pem, "Checksum": f"1bRy{noise[:6]}WBNBHj{noise[6:]}7"})
    assert engine.scan_bytes(text.encode(), path="iot-claim.rst") == []
    text = json.dumps({"PrivateKey": pem, "Exchange": "BNB"})  # the word itself is context
    assert [f.kind for f in engine.scan_bytes(text.encode(), path="iot-claim.rst")] == ["binance_private_key"]
