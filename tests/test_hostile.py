"""Hostile input: huge lines, huge base64, unterminated PEM markers, nothing but newlines. Each scan
must complete and find exactly what was planted, no more. (No timing assertions here: speed and
linearity are measured in bench/.)

The generators take a size so a benchmark can call them at several sizes.
"""
from __future__ import annotations

import base64
import os
import random
import secrets
import string
from collections.abc import Callable

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from scanner.engine import Engine
from scanner.models import Finding

MB = 1 << 20
ALNUM = (string.ascii_letters + string.digits).encode()
_TO_ALNUM = bytes(ALNUM[i % 62] for i in range(256))


def new_key() -> str:
    while True:
        k = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(64))
        if any(c.isupper() for c in k) and any(c.islower() for c in k) and any(c.isdigit() for c in k):
            return k


def random_alnum(n: int) -> bytes:
    return os.urandom(n).translate(_TO_ALNUM)


# -- generators: (data, planted) where planted is [(line, secret or PEM marker)] ------------------------

Planted = list[tuple[int, str]]


def alnum_line(size: int) -> tuple[bytes, Planted]:
    """One line of `size` random alphanumerics, then a key on the next line."""
    key = new_key()
    return random_alnum(size) + f'\nbinance_api_key = "{key}"\n'.encode(), [(2, key)]


_IDENT = [f"{a}{b}" for a in "abcdefghijklmnopqrstuvwxyz_$" for b in "abcdefghijklmnopqrstuvwxyz0123456789"]
_WORDS = ["price", "symbol", "BTCUSDT", "qty", "orderId", "status", "FILLED", "limit", "side", "BUY", "SELL",
          "render", "props", "children", "className", "onClick", "useState", "useEffect", "default", "exports"]


def _minified_piece(rng: random.Random) -> str:
    a, b, c = rng.choice(_IDENT), rng.choice(_IDENT), rng.choice(_IDENT)
    w = rng.choice(_WORDS)
    n = rng.randrange(1 << 30)
    kind = rng.randrange(8)
    if kind == 0:
        return f'function {a}({b},{c}){{return {b}.{w}+{c}*{n}}}'
    if kind == 1:
        return f'var {a}={{{w}:"{w}-{n:x}",{b}:[{n % 97},{n % 13},"{rng.choice(_WORDS)}"]}};'
    if kind == 2:
        return f'{a}.prototype.{w}=function(){{if(!this.{b})throw new Error("{w} {n}");return this.{c}}};'
    if kind == 3:
        return f'const {a}=({b})=>{b}.map({c}=>{c}.{w}).filter(Boolean);'
    if kind == 4:
        return f'{a}("{w}",{{url:"/api/v3/{w}?limit={n % 1000}",method:"GET"}});'
    if kind == 5:
        return f'e.exports={{{a}:{b},{c}:"{secrets.token_hex(8)}"}};'
    if kind == 6:
        return f'{a}={b}?{c}:{n};'
    img = base64.b64encode(os.urandom(rng.randrange(2000, 20000))).decode()
    return f'{a}.src="data:image/png;base64,{img}";'


def minified_js(size: int) -> tuple[bytes, Planted]:
    """A `size`-byte single-line minified bundle (identifiers, strings, base64 data URIs) with one
    ccxt.binance({apiKey, secret}) call planted in the middle."""
    rng = random.Random(secrets.randbits(64))
    key, secret = new_key(), new_key()
    parts: list[str] = []
    n = 0
    planted = False
    while n < size:
        if not planted and n >= size // 2:
            parts.append(f'const ex=new ccxt.binance({{apiKey:"{key}",secret:"{secret}",enableRateLimit:!0}});')
            planted = True
        p = _minified_piece(rng)
        parts.append(p)
        n += len(p)
    return ("".join(parts) + "\n").encode(), [(1, key), (1, secret)]


def base64_lines(size: int) -> tuple[bytes, Planted]:
    """`size` bytes of base64 wrapped at 64 columns (`openssl base64`), one .env line planted inside."""
    body = base64.b64encode(os.urandom(size * 3 // 4)).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    key = new_key()
    at = len(lines) // 2
    lines.insert(at, f"BINANCE_API_KEY={key}")
    return ("\n".join(lines) + "\n").encode(), [(at + 1, key)]


def ed25519_pem() -> str:
    return ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


def begin_markers(size: int) -> tuple[bytes, Planted]:
    """BEGIN PRIVATE KEY markers with base64-looking lines and no END, then one real PEM key."""
    unit = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI" + "A" * 43 + "\n"
    head = unit * (size // len(unit)) + "-----BEGIN PRIVATE KEY-----" * 1000 + "\n"
    pem = ed25519_pem()
    return (head + pem).encode(), [(head.count("\n") + 1, "PEM")]


def many_pairs_one_line(size: int) -> tuple[bytes, Planted]:
    """A minified JSON dump of ~size/200 accounts on one line, each with its own key and secret."""
    accounts = []
    planted: Planted = []
    n = 0
    i = 0
    while n < size:
        key, secret = new_key(), new_key()
        item = f'{{"id":{i},"exchange":"binance","apiKey":"{key}","secret":"{secret}","enabled":true}}'
        accounts.append(item)
        planted += [(1, key), (1, secret)]
        n += len(item) + 1
        i += 1
    return ("[" + ",".join(accounts) + "]\n").encode(), planted


def newlines(size: int) -> tuple[bytes, Planted]:
    key = new_key()
    return b"\n" * size + f"export BINANCE_API_SECRET={key}\n".encode(), [(size + 1, key)]


# -- the tests ------------------------------------------------------------------------------------------


def _found(findings: list[Finding]) -> list[tuple[int, str]]:
    return sorted((f.line, "PEM" if f.kind in ("binance_private_key", "private_key") else f.secret) for f in findings)


CASES = [
    ("alnum_line_30MB", alnum_line, 30 * MB, "blob.txt"),
    ("minified_js_20MB", minified_js, 20 * MB, "static/js/main.3f9c2a.min.js"),
    ("base64_lines_5MB", base64_lines, 5 * MB, "backup.b64"),
    ("begin_markers_5MB", begin_markers, 5 * MB, "keys.pem"),
    ("newlines_20MB", newlines, 20 * MB, "empty.env"),
    ("many_pairs_one_line_1MB", many_pairs_one_line, 1 * MB, "accounts.min.json"),
]


@pytest.mark.parametrize(("make", "size", "path"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_input_finds_exactly_what_is_planted(make: Callable[[int], tuple[bytes, Planted]], size: int,
                                                     path: str, engine: Engine) -> None:
    data, planted = make(size)
    assert len(data) >= size
    found = engine.scan_bytes(data, path=path)
    assert _found(found) == sorted(planted)
    if make in (minified_js, many_pairs_one_line):  # keys and secrets on one huge line: told apart, paired
        by_secret = {f.secret: f for f in found}
        for (_, key), (_, secret) in zip(planted[::2], planted[1::2]):
            k, s = by_secret[key], by_secret[secret]
            assert (k.kind, s.kind) == ("binance_api_key", "binance_secret_key")
            assert (k.paired_with, s.paired_with) == (s.fingerprint, k.fingerprint)
