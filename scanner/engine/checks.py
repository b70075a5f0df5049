"""Per-candidate checks: charset mix, entropy, word-likeness, placeholders, base64/PEM/JWT context."""
from __future__ import annotations

import math
import operator
import re
from collections import Counter

_B64 = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
_B64URL = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
_WORD = re.compile(r"[a-z]{3,}|[A-Z][a-z]{2,}")
_CAMEL = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")


def _cased(*words: str) -> str:
    """Each word as it is written in a placeholder: lower, UPPER or Capitalized (never rAnDoM case,
    so a random key that happens to hold the letters f-a-k-e is not taken for a placeholder)."""
    return "".join("(?:" + "|".join(sorted({w, w.upper(), w.capitalize()})) + ")" for w in words)


_PLACEHOLDER = re.compile("|".join(
    [_cased(w) for w in ("example", "sample", "placeholder", "dummy", "replaceme", "changeme", "insert",
                         "redacted", "qwerty")]
    + [_cased("your") + "(?:" + _cased("api") + ")?(?:" + _cased("key") + "|" + _cased("secret") + ")",
       "abcdefgh", "ABCDEFGH", "12345678", "x{8}", "X{8}",
       # short words only where placeholders put them: at an end of the value
       "^" + _cased("fake"), _cased("fake") + "$"]
))
# every placeholder word, lower-cased: a cheap first test before _PLACEHOLDER
_PLACEHOLDER_LOWER = re.compile(
    "example|sample|placeholder|dummy|replaceme|changeme|insert|redacted|qwerty|your|abcdefgh|12345678|x{8}|fake")
# English letter bigrams, log2-scaled: 4 = as frequent as between uniformly random letters, 0 = rare,
# 9 = very common. Counted over the words (split at case changes) of ~38M bigrams of Python sources and
# docs. Row: first letter a..z; column: second letter a..z.
_BIGRAM_ROWS = (
    "04650240503767050777431450",  # a
    "41235000330400400330400030",  # b
    "50326105404510700436400020",  # c
    "51137230600210510244400120",  # d
    "52664640300757254877143640",  # e
    "50113400600401600513400020",  # f
    "30006013400223200542300000",  # g
    "50007000500010400123100010",  # h
    "54655650002568740476040404",  # i
    "10002000000000200020100000",  # j
    "10005000200001000020002000",  # k
    "61247620600510620055520040",  # l
    "64007000400130560040400000",  # m
    "60666461502213650067430330",  # n
    "34462530403668450756634100",  # o
    "60126104400510640635400050",  # p
    "00000000000000000300500000",  # q
    "71448250603256620657531040",  # r
    "40408214603221553067501050",  # s
    "60417207700220630754603160",  # t
    "44326120303556150655000000",  # u
    "60006000400000200000000000",  # v
    "40004004400001400320000000",  # w
    "20303000300000050004000000",  # x
    "00101010100142150033001000",  # y
    "10004000000000100000000000",  # z
)
_BIGRAM = {a + b: int(w) - 4 for a, row in zip("abcdefghijklmnopqrstuvwxyz", _BIGRAM_ROWS)
           for b, w in zip("abcdefghijklmnopqrstuvwxyz", row)}


_CLOG = [0.0] + [c * math.log2(c) for c in range(1, 4097)]  # c * log2(c)


def shannon(s: str) -> float:
    n = len(s)
    counts = Counter(s).values()
    if n > 4096:
        return -sum(c / n * math.log2(c / n) for c in counts)
    return math.log2(n) - sum(map(_CLOG.__getitem__, counts)) / n


_DIGIT = re.compile(r"[0-9]")
_HEX_CHARS = b"0123456789abcdefABCDEF"
_NEXT_BYTE = bytes((i + 1) % 256 for i in range(256))


def charset_ok(s: str, need: tuple[str, ...]) -> bool:
    if "upper" in need and s.lower() == s:  # no upper-case letter
        return False
    if "lower" in need and s.upper() == s:
        return False
    return not ("digit" in need and not _DIGIT.search(s))


def english_score(s: str) -> float:
    """How much s reads like words: the mean bigram weight per position inside its CamelCase words.
    Random 64-char keys score about -0.9 (the highest of 300,000: 0.22); CamelCase identifiers made of
    English words about 1.4 (the lowest of 25,000: 0.46)."""
    total = 0
    for w in _CAMEL.findall(s):
        w = w.lower()
        total += sum(_BIGRAM[w[i : i + 2]] for i in range(len(w) - 1))
    return total / max(1, len(s) - 1)


def quick_reject(s: str, min_entropy: float, *, allow_hex: bool = False) -> str | None:
    """The cheapest part of looks_random: all hex digits (unless the rule's values may be), or too few
    distinct characters."""
    if not allow_hex and not s.encode().translate(None, _HEX_CHARS):
        return "hex"
    if len(set(s)) < 2**min_entropy:  # entropy <= log2(distinct characters)
        return "low_entropy"
    return None


def hex_case(s: str) -> str | None:
    """'lower' or 'upper' when s is hex digits in one case (a futures-testnet or Binance TH key, or a
    digest), 'mixed' for hex in both cases, None when s is not all hex."""
    if s.encode().translate(None, _HEX_CHARS):
        return None
    if s.lower() == s:
        return "lower"
    return "upper" if s.upper() == s else "mixed"


def hex_reject(s: str, min_entropy: float) -> str | None:
    """None if a hex string looks like a random 64-hex key: one case, letters and digits, enough entropy
    (random 64-hex: ~3.8 bits per character; 4.0 at most), no sequence or short repeated unit."""
    case = hex_case(s)
    if case not in ("lower", "upper"):
        return "hex_case"
    if s.isdigit() or s.isalpha():
        return "charset"
    if shannon(s) < min_entropy:
        return "low_entropy"
    b = s.encode()
    if sum(map(operator.eq, b.translate(_NEXT_BYTE), b[1:])) > len(s) // 4:
        return "sequence"
    for unit in range(1, 9):
        if s[:unit] * (len(s) // unit) == s[: unit * (len(s) // unit)]:
            return "repeated"
    return None


def placeholder(s: str) -> str | None:
    """'placeholder' when s reads like one (`your_api_key`, `changeme`, `xxxxxxxx`), else None."""
    return "placeholder" if _PLACEHOLDER_LOWER.search(s.lower()) and _PLACEHOLDER.search(s) else None


def looks_random(s: str, min_entropy: float, *, allow_hex: bool = False) -> str | None:
    """None if s looks like a random key, else the reason it does not."""
    b = s.encode()
    quick = quick_reject(s, min_entropy, allow_hex=allow_hex)
    if quick:
        return quick
    h = shannon(s)
    if h < min_entropy:
        return "low_entropy"
    words = sum(map(len, _WORD.findall(s))) / len(s)
    if words >= 0.6 and english_score(s) >= 0.35:
        return "identifier"
    if _PLACEHOLDER_LOWER.search(s.lower()) and _PLACEHOLDER.search(s):
        return "placeholder"
    # sequences such as abcdef... or 0123... and short repeated units
    steps = sum(map(operator.eq, b.translate(_NEXT_BYTE), b[1:]))  # b[i] + 1 == b[i + 1]
    if steps > len(s) // 4:
        return "sequence"
    for unit in range(1, 9):
        if s[:unit] * (len(s) // unit) == s[: unit * (len(s) // unit)]:
            return "repeated"
    return None


def _class_table(allowed: frozenset[int]) -> bytes:
    return bytes(0x61 if i in allowed else 0x20 for i in range(256))


_TABLES: dict[frozenset[int], bytes] = {}


def _segment_len(data: bytes, pos: int, step: int, allowed: frozenset[int], limit: int = 256) -> int:
    """How many bytes of `allowed` run from pos (included) in direction step (1 or -1), at most limit."""
    if pos < 0 or pos >= len(data):
        return 0
    table = _TABLES.get(allowed)
    if table is None:
        table = _TABLES[allowed] = _class_table(allowed)
    if step > 0:
        seg = data[pos : pos + limit].translate(table)
        i = seg.find(b" ")
        return len(seg) if i < 0 else i
    seg = data[max(0, pos - limit + 1) : pos + 1].translate(table)
    return len(seg) - 1 - seg.rfind(b" ")


_FILE_TAIL = re.compile(rb"[\w.() -]{0,40}?\.(?:pdf|png|jpe?g|gif|svg|webp|zip|tar|gz|csv|json|txt|html?|md|xlsx?"
                        rb"|docx?|mp4|log)\b", re.IGNORECASE)
_PCT_B64 = (b"2B", b"2F", b"3D", b"2b", b"2f", b"3d")  # '+', '/', '=' percent-encoded
_SSH_TYPE = re.compile(rb"(?:ssh-(?:ed25519|rsa|dss)|ecdsa-sha2-nistp[0-9]+|sk-[a-z0-9@.-]+)[ \t]+$")


def embedded_reason(data: bytes, s: int, e: int) -> str | None:
    """Why the token data[s:e] is part of a larger encoded value (base64, base64url, JWT, an SSH public
    key), or None."""
    left = data[s - 1] if s > 0 else None
    right = data[e] if e < len(data) else None
    if left == 0x2B or right == 0x2B:  # '+'
        return "base64"
    # base64 percent-encoded into a URL (RSA/Ed25519 `signature=`): '%2B' glues '2B' to the run
    if (left == 0x25 and data[s : s + 2] in _PCT_B64) or (right == 0x25 and data[e + 1 : e + 3] in _PCT_B64):
        return "base64"
    # the body of an OpenSSH public key: `ssh-ed25519 AAAA...` (length-prefixed binary, base64)
    run = _segment_len(data, s - 1, -1, _B64, 2048)
    if data[s - run : s - run + 4] == b"AAAA" and _SSH_TYPE.search(data, max(0, s - run - 64), s - run):
        return "ssh_key"
    if right == 0x3D and not _not_padding(data, e):  # '=' right after: base64 padding
        return "base64"
    if right in (0x5F, 0x2D, 0x2E) and _FILE_TAIL.match(data, e, e + 48):  # <id>_en_usd.pdf: a file name
        return "file_name"
    if right == 0x40 and data[e + 1 : e + 2].islower():  # <listenKey>@account: a stream name
        return "stream_name"
    if data[max(0, s - 3) : s] in (b"?b?", b"?B?"):  # an RFC 2047 encoded word: =?utf-8?b?...?=
        return "mime"
    if data[s : s + 3] == b"eyJ" and _printable_b64(data[s : s + 24]):  # base64 of a JSON object
        return "jwt"
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


def _not_padding(data: bytes, e: int) -> bool:
    """The '=' after a token is an operator, not base64 padding: `==>` (git filter-repo --replace-text),
    `=>` (PHP/Ruby/JS arrows), `==` or `=` then a space or a quote... (padding ends a base64 run: at most
    two '=' then a character that is neither base64 nor '=')."""
    i = e
    while i < len(data) and i - e < 3 and data[i] == 0x3D:
        i += 1
    n = i - e
    nxt = data[i] if i < len(data) else None
    if n > 2 or nxt in (0x3E, 0x3D):  # '===' or '=>' / '==>'
        return True
    return nxt is not None and nxt in _B64  # '=' then more base64: an assignment such as KEY=VALUE


def _printable_b64(chunk: bytes) -> bool:
    """The start of a token decodes (as base64 or base64url) to printable text, as JSON does."""
    import base64
    import binascii

    try:
        raw = base64.urlsafe_b64decode(chunk[: len(chunk) // 4 * 4])
    except (binascii.Error, ValueError):
        return False
    return all(32 <= c < 127 or c in (9, 10, 13) for c in raw)


def _strip_line(line: bytes) -> bytes:
    line = line.strip().strip(b"\"',").replace(b"\\n", b"").replace(b"\\r", b"")
    return line.strip().strip(b"\"',")


_B64_LINE = re.compile(rb"[A-Za-z0-9+/]+={0,2}")
_B64URL_LINE = re.compile(rb"[A-Za-z0-9_-]+")


def base64_line(line: bytes) -> str | None:
    """What a line of a wrapped base64 block looks like, quotes and escapes stripped:
    'base64' when it must be base64 (40+ characters with '+' or '/', or padded to a multiple of 4),
    'alnum' when it could be (16+ letters and digits: a base64 line, or a key alone on its line),
    None when it is anything else."""
    t = _strip_line(line)
    if len(t) >= 40 and (b"-" in t or b"_" in t) and _B64URL_LINE.fullmatch(t):
        # wrapped base64url (JWS/JWE examples): random-looking, so mixed case and digits
        has = (any(65 <= c <= 90 for c in t), any(97 <= c <= 122 for c in t), any(48 <= c <= 57 for c in t))
        return "base64" if all(has) else None
    if len(t) < 8 or not _B64_LINE.fullmatch(t):
        return None
    if t.endswith(b"=") and len(t) % 4 == 0:
        return "base64"
    if b"+" in t or b"/" in t:
        return "base64" if len(t) >= 40 else None
    if t.endswith(b"="):
        return None
    return "alnum" if len(t) >= 16 else None


# a third-party package copied into the repository: its test keys and fixtures are not the project's
_VENDORED = re.compile(r"(?:^|/)(?:node_modules|site-packages|dist-packages|bower_components|vendor|\.?venv[0-9]*|"
                       r"\.tox|\.eggs)/")


def own_path(path: str) -> str:
    """The part of a path below its last vendored-package folder (the whole path when it has none): the
    words of `myproject-binance-bot/node_modules/http-signature/` say nothing about that package's files."""
    last = None
    for m in _VENDORED.finditer(path):
        last = m
    return path if last is None else path[last.end():]


def vendored(path: str) -> bool:
    return _VENDORED.search(path) is not None


def hex_run(lines: list[int], i: int, window: int = 3) -> int:
    """How many other hex values lie within `window` lines of the i-th (lines sorted or not)."""
    return sum(1 for j, ln in enumerate(lines) if j != i and abs(ln - lines[i]) <= window)

