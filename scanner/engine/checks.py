"""Per-candidate checks: charset mix, entropy, word-likeness, placeholders, base64/PEM/JWT context."""
from __future__ import annotations

import math
import re
from collections import Counter

_HEX = frozenset(b"0123456789abcdefABCDEF")
_B64 = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_B64URL = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
_WORD = re.compile(r"[a-z]{3,}|[A-Z][a-z]{2,}")
_PLACEHOLDER = re.compile(
    r"example|sample|placeholder|dummy|fake|your(?:api)?(?:key|secret)|replaceme|changeme|xxxxx|insert|redacted"
    r"|abcdefgh|12345678|qwerty",
    re.I,
)
# JSON/Python string escapes that can sit right before a token: \n, \t, \r
ESCAPE_PREFIX = re.compile(rb"\\[nrt]$")


def shannon(s: str) -> float:
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in Counter(s).values())


def charset_ok(s: str, need: tuple[str, ...]) -> bool:
    if "upper" in need and not any(c.isupper() for c in s):
        return False
    if "lower" in need and not any(c.islower() for c in s):
        return False
    if "digit" in need and not any(c.isdigit() for c in s):
        return False
    return True


def looks_random(s: str, min_entropy: float) -> str | None:
    """None if s looks like a random key, else the reason it does not."""
    b = s.encode()
    if all(c in _HEX for c in b):
        return "hex"
    h = shannon(s)
    if h < min_entropy:
        return "low_entropy"
    words = sum(len(m.group()) for m in _WORD.finditer(s)) / len(s)
    if words >= 0.8 or (words >= 0.68 and h < 5.0):
        return "identifier"
    if _PLACEHOLDER.search(s):
        return "placeholder"
    # sequences such as abcdef... or 0123... and short repeated units
    steps = sum(1 for a, c in zip(b, b[1:]) if c - a == 1)
    if steps > len(s) // 4:
        return "sequence"
    for unit in range(1, 9):
        if s[:unit] * (len(s) // unit) == s[: unit * (len(s) // unit)]:
            return "repeated"
    return None


def _segment_len(data: bytes, pos: int, step: int, allowed: frozenset[int], limit: int = 256) -> int:
    n = 0
    i = pos
    end = len(data)
    while 0 <= i < end and data[i] in allowed and n < limit:
        n += 1
        i += step
    return n


def embedded_reason(data: bytes, s: int, e: int) -> str | None:
    """Why the token data[s:e] is part of a larger encoded value (base64, base64url, JWT), or None."""
    left = data[s - 1] if s > 0 else None
    right = data[e] if e < len(data) else None
    if left == 0x2B or right == 0x2B:  # '+'
        return "base64"
    if right == 0x3D:  # '=' right after: base64 padding
        return "base64"
    if left == 0x2F or right == 0x2F:  # '/': base64 unless it is a short URL path segment
        lseg = _segment_len(data, s - 2, -1, _B64) if left == 0x2F else 0
        rseg = _segment_len(data, e + 1, 1, _B64) if right == 0x2F else 0
        if lseg >= 12 or rseg >= 12:
            return "base64"
        if right == 0x2F and rseg and data[e + 1 + rseg : e + 2 + rseg] in (b"=", b"+"):
            return "base64"
    if left in (0x2D, 0x5F) or right in (0x2D, 0x5F):  # '-', '_': base64url
        lseg = _segment_len(data, s - 2, -1, _B64URL) if left in (0x2D, 0x5F) else 0
        rseg = _segment_len(data, e + 1, 1, _B64URL) if right in (0x2D, 0x5F) else 0
        if lseg >= 12 or rseg >= 12:
            return "base64url"
    if left == 0x2E or right == 0x2E:  # '.': a JWT segment?
        lo = max(0, s - 2048)
        window = data[lo : e + 2048]
        if b"eyJ" in window and window.count(b".") >= 2:
            return "jwt"
    return None


def _strip_line(line: bytes) -> bytes:
    line = line.strip().strip(b"\"',").replace(b"\\n", b"").replace(b"\\r", b"")
    return line.strip().strip(b"\"',")


def in_base64_block(prev_line: bytes | None, next_line: bytes | None) -> bool:
    """A neighbouring line is a run of base64 (certificate bodies, wrapped blobs)."""
    for ln in (prev_line, next_line):
        if ln is None:
            continue
        t = _strip_line(ln)
        if len(t) >= 40 and t.rstrip(b"=") and all(c in _B64 for c in t.rstrip(b"=")):
            if b"+" in t or b"/" in t or t.endswith(b"="):
                return True
    return False
