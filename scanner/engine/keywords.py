"""The exchanges' words (rule `keywords`): found as words, in a chunk's text or in its path."""
from __future__ import annotations

import re
from collections.abc import Iterable

from scanner.engine import checks

_ALNUM = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_WORD_MAX = 32  # a keyword inside a longer run of letters and digits is part of a key or of base64


def _is_word(text: bytes, a: int, b: int) -> bool:
    """text[a:b] is a word or part of a name (`BNBUSDT`, `python-binance`), not letters that happen to
    sit inside a random key or a base64 blob (`...q7bNbX...`, `1bRyWU1r6qcpWBNBHjUo`)."""
    lo = a
    while lo > 0 and text[lo - 1] in _ALNUM and (b - lo) < _WORD_MAX:
        lo -= 1
    hi = b
    n = len(text)
    while hi < n and text[hi] in _ALNUM and (hi - lo) < _WORD_MAX:
        hi += 1
    if hi - lo >= _WORD_MAX:
        return False
    if b - a <= 3 and hi - lo > b - a:
        # a short keyword (bnb, mbx) glued to other characters must sit in a name, not in random text:
        # no digits around it, and letters in one case or camelCase (few case changes)
        run = text[lo:hi]
        if any(48 <= c <= 57 for c in run):
            return False
        changes = sum(1 for x, y in zip(run, run[1:]) if (65 <= x <= 90) != (65 <= y <= 90))
        if changes > 3:
            return False
    return True



_LITERAL = re.compile(r"(?:[A-Za-z0-9 _-]|\\[^A-Za-z0-9])+")
# a pattern that means the same lower-cased, run on lower-cased text, as it does case-insensitively on
# the text: no escape of a letter (\\S, \\d, \\b), no group name or inline flag
_LOWERABLE = re.compile(r"(?:[^\\(]|\\[^A-Za-z]|\((?!\?[^:]))*")


def _ways_of(pattern: bytes) -> tuple[re.Pattern[bytes] | None, tuple[bytes, ...] | None]:
    pat = pattern.decode("latin-1")
    if not _LOWERABLE.fullmatch(pat):
        return None, None
    try:
        low = re.compile(pat.lower().encode("latin-1"))
    except re.error:
        return None, None
    from scanner.engine.tokens import _anchors

    found = _anchors(pat.lower())
    return low, (tuple(found) if found else None)


_WAYS: dict[bytes, tuple[re.Pattern[bytes] | None, tuple[bytes, ...] | None]] = {}


class Words:
    """A case-insensitive regex of names (keywords, other exchanges' names), found as words (_is_word)
    in a window of a chunk. Python's case-insensitive matching of many alternatives is slow (~0.5 us a
    byte); the same pattern lower-cased runs on the chunk's lower-cased copy about 6x faster, and only
    when one of the literals every match holds (its anchors) is in the window at all."""

    def __init__(self, regex: re.Pattern[bytes]):
        self.regex = regex
        self._fast: tuple[re.Pattern[bytes] | None, tuple[bytes, ...] | None] | None = None  # (built when first used)

    @property
    def low(self) -> re.Pattern[bytes] | None:
        return self._ways()[0]

    def _ways(self) -> tuple[re.Pattern[bytes] | None, tuple[bytes, ...] | None]:
        """(the pattern lower-cased, or None when it cannot be; its anchors, or None), shared by every
        Words of one pattern (each token group holds one: the engine builds them for every rule)."""
        got = self._fast
        if got is None:
            got = _WAYS.get(self.regex.pattern)
            if got is None:
                got = _WAYS[self.regex.pattern] = _ways_of(self.regex.pattern)
            self._fast = got
        return got

    def spans(self, text: bytes, lo: int, hi: int, derived: dict[str, bytes]) -> list[tuple[int, int]]:
        """(start, end) of each match wholly inside text[lo:hi] that is a word, as
        `regex.finditer(text, lo, hi)` finds them."""
        rx, anchors = self._fast or self._ways()
        if rx is None:
            return [(m.start(), m.end()) for m in self.regex.finditer(text, lo, hi) if _is_word(text, m.start(), m.end())]
        low = derived.get("lower")
        if low is None:
            low = derived["lower"] = text.lower()
        if anchors is not None and not any(low.find(a, lo, hi) >= 0 for a in anchors):
            return []
        return [(m.start(), m.end()) for m in rx.finditer(low, lo, hi) if _is_word(text, m.start(), m.end())]

    def last_end(self, text: bytes, lo: int, hi: int, derived: dict[str, bytes]) -> int:
        """The end of the last word match inside text[lo:hi], -1 when there is none."""
        got = self.spans(text, lo, hi, derived)
        return got[-1][1] if got else -1


class Keywords:
    """The Binance words of some rules (regexes, case-insensitive). Literal ones (all built-in ones:
    `binance`, `binance\\.com`, `spot\\(`) are found with bytes.find in the lower-cased chunk, at
    memory speed; any other pattern falls back to one case-insensitive regex."""

    def __init__(self, patterns: Iterable[str]):
        pats = sorted(set(patterns))
        self.regex = re.compile("|".join(pats).encode(), re.IGNORECASE)
        self.words = Words(self.regex)
        self.literals: list[bytes] | None = None
        if all(_LITERAL.fullmatch(p) for p in pats):
            self.literals = sorted({re.sub(r"\\(.)", r"\1", p).lower().encode() for p in pats})

    def in_path(self, path: str) -> bool:
        return bool(self.regex.search(checks.own_path(path).encode("utf-8", "surrogateescape")))  # (names that are not UTF-8)

    def in_text(self, text: bytes, lo: int, hi: int, derived: dict[str, bytes]) -> bool:
        """A keyword, as a word, wholly inside text[lo:hi]."""
        if self.literals is None:
            return any(_is_word(text, m.start(), m.end()) for m in self.regex.finditer(text, lo, hi))
        low = derived.get("lower")
        if low is None:
            low = derived["lower"] = text.lower()
        lits = self.literals
        for k, lit in enumerate(lits):
            pos = lo
            while True:
                i = low.find(lit, pos, hi)
                if i < 0:
                    break
                if _is_word(text, i, i + len(lit)):
                    if k:  # tried first next time: the next chunk (a history's next version of a file) names
                        # it too, and a literal it lacks costs a search of the whole chunk (one rebinding: a
                        # thread iterating the old list is unaffected)
                        self.literals = [lit, *lits[:k], *lits[k + 1:]]
                    return True
                pos = i + 1
        return False

