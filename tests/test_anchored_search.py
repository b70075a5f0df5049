"""The searched token groups (passphrases by name, base64 keys) try only the starts their pattern allows
(near a literal every match holds, or at the head of a run of the pattern's own class): they must find
exactly what a search of the whole chunk finds, for every built-in rule and for odd user patterns."""
from __future__ import annotations

import random
import re

import pytest

from scanner.config import load_config
from scanner.engine.tokens import _anchors, _TokenGroup
from scanner.models import Rule
from scanner.rules import build_engine


def _whole(g: _TokenGroup, text: bytes) -> list[tuple[int, int, str]]:
    """The plain search the anchors stand in for."""
    rx, member, out, pos = g.search_regex, g.boundary_bytes, [], 0
    k = rx.groupindex.get("value", 0)
    while (m := rx.search(text, pos)) is not None:
        s0 = m.start()
        if (s0 and text[s0 - 1] in member and not (s0 > 1 and text[s0 - 2] == 0x5C and text[s0 - 1] in b"nrt")
                and not (s0 > 2 and text[s0 - 3] == 0x25 and all(c in b"0123456789abcdefABCDEF" for c in text[s0 - 2:s0]))):
            pos = s0 + 1
            continue
        if m.start(k) >= 0:
            out.append((m.start(k), m.end(k), m.group(k).decode("utf-8", "replace")))
        pos = m.end() if m.end() > s0 else s0 + 1
    return out


def _texts(seed: int, pieces: list[bytes], n: int = 400) -> list[bytes]:
    rnd = random.Random(seed)
    return [b"".join(rnd.choice(pieces) for _ in range(rnd.randint(0, 60))) for _ in range(n)]


B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def _pieces(rnd: random.Random) -> list[bytes]:
    long = [("".join(rnd.choice(B64) for _ in range(k))).encode() for k in (30, 56, 60, 86, 87, 88)]
    return long + [b"pass", b"Pass", b"PASS", b"phrase", b"_", b"api", b"Api", b"password", b"okx", b"kucoin",
                   b"Passphrase", b"apiPassphrase", b"\"", b"'", b" ", b"\t", b"=", b":", b":=", b"=>", b"(", b"\n",
                   b"\\n", b"%3D", b"%22", b"==", b"x7Kq9", b"s3cr3t-Value!", b"organizations/", b"/apiKeys/", b"-"]


def test_every_searched_builtin_group_finds_what_a_whole_search_finds(tmp_path) -> None:  # type: ignore[no-untyped-def]
    engine = build_engine(load_config(tmp_path))
    searched = [g for g in engine.groups if g.runs is None]
    assert any(g.anchors for g in searched) and any(g.lead_runs for g in searched)  # both ways are in use
    rnd = random.Random(7)
    for g in searched:
        for text in _texts(rnd.randrange(1 << 30), _pieces(rnd)):
            assert list(g.tokens(text, {})) == _whole(g, text), (g.pattern, text)


@pytest.mark.parametrize("pattern, expected", [
    ("acme_[a-z0-9]{20}", {b"acme_": 0}),
    ("(?:key|token)=[a-z]{8}", {b"key": 0, b"token": 0}),
    ("[a-z]{0,4}Secret[0-9]{8}", {b"secret": 4}),
    ("(?i:x{2,}KEY)[0-9]{8}", None),  # unbounded before the literal: searched whole
    ("(?:ab|abc)[0-9]{8}", None),  # a branch with no 3-byte literal
    ("[0-9a-f]{32}", None),
])
def test_anchors_of_user_patterns(pattern: str, expected: dict[bytes, int] | None) -> None:
    assert _anchors(pattern) == expected


@pytest.mark.parametrize("pattern", [
    "acme_[a-z0-9]{20}", "(?:key|token)=[a-z]{8}", "[a-z]{0,4}Secret[0-9]{8}", "(?i:x{2,}KEY)[0-9]{8}",
    "(?:ab|abc)[0-9]{8}", "[A-Za-z0-9+/]{20}(?:==)?", "(?i:pass|pwd)(?P<value>[0-9]{6})",
])
def test_user_patterns_are_found_as_a_whole_search_finds_them(pattern: str) -> None:
    rule = Rule(id="acme", kind="acme", type="token", description="d", remediation="r", pattern=pattern,
                boundary="A-Za-z0-9+/" if "+/" in pattern else "A-Za-z0-9")
    g = _TokenGroup(0, rule.pattern, rule.boundary, 0, [rule])
    g.__post_init__()
    rnd = random.Random(pattern)
    pieces = _pieces(rnd) + [b"acme_", b"key", b"token", b"Secret", b"xx", b"KEY", b"ab", b"abc", b"pwd",
                             b"0123", b"4567", b"89", b"zz9"]
    for text in _texts(rnd.randrange(1 << 30), pieces, 600):
        assert list(g.tokens(text, {})) == _whole(g, text), (pattern, text)
    assert re.compile(pattern)  # (the pattern itself is valid)


def _words_plain(rx: re.Pattern[bytes], text: bytes, lo: int, hi: int) -> list[tuple[int, int]]:
    from scanner.engine.keywords import _is_word

    return [(m.start(), m.end()) for m in rx.finditer(text, lo, hi) if _is_word(text, m.start(), m.end())]


@pytest.mark.parametrize("seed", range(3))
def test_names_found_fast_as_the_case_insensitive_regex_finds_them(seed: int, tmp_path) -> None:
    """Exchange names near a value (its own words, other exchanges' names) are found on the lower-cased
    chunk, only where a literal every match holds occurs: the same words, at the same places, as the
    case-insensitive regex finds, for every built-in rule's names and for odd user patterns."""
    from scanner.engine.keywords import Words

    eng = build_engine(load_config(tmp_path))
    regexes = {g.keywords.regex.pattern: g.keywords.regex for g in eng.groups if g.keywords is not None}
    regexes.update({g.others.pattern: g.others for g in eng.groups if g.others is not None})
    for pat in (rb"Ascend_?EX|gate\.io", rb"(?:okx)|\bhtx\b", rb"[A-Z]{3}x", rb"(?P<n>kraken)", rb"bit(?i:get)"):
        regexes[pat] = re.compile(pat, re.IGNORECASE)
    pieces = [b"Binance", b"BINANCE.com", b"bnb", b"BnB", b"okx", b"OKEx", b"gate.io", b"Gate_IO", b"ascendex",
              b"ASCEND_EX", b"kraken", b"kRaKeN", b"htx", b"x", b"Q", b"7", b" ", b"\n", b"_", b"-", b".",
              b"\"gate\"", b"'gate'", b"cb-access-", b"KC-API-", b"huobi", b"bitget", b"BITGET", b"qx9Z"]
    texts = _texts(seed, pieces)
    rnd = random.Random(seed)
    lowered = 0
    for rx in regexes.values():
        w = Words(rx)
        lowered += w.low is not None
        for text in texts:
            lo = rnd.randint(0, len(text))
            hi = rnd.randint(lo, len(text))
            assert w.spans(text, lo, hi, {}) == _words_plain(rx, text, lo, hi), (rx.pattern, text, lo, hi)
            assert w.spans(text, 0, len(text), {}) == _words_plain(rx, text, 0, len(text))
    assert lowered >= len(regexes) - 3  # the built-in names all take the fast way
