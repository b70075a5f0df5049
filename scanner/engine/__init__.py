"""The engine: chunks in, findings out. Stage one is a multi-pattern prefilter over the whole chunk
(Hyperscan, or Python's `re`); stage two checks each candidate in Python: exact boundaries, charset
mix, entropy, word-likeness, encoded context (base64, PEM, JWT), names and keywords nearby, inline
allow comments, and pairs API keys with their secrets or private keys."""
from __future__ import annotations

import base64
import binascii
import heapq
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from scanner.engine import checks, pem
from scanner.engine.text import to_text_bytes
from scanner.models import (
    DEFAULT_NEUTRAL_CONFIDENCE,
    DEFAULT_PEM_CONFIDENCE,
    DEFAULT_TOKEN_CONFIDENCE,
    Chunk,
    Finding,
    Rule,
    ScanStats,
    fingerprint_of,
)

ALLOW_MARKERS = (b"cexguard:allow", b"gitleaks:allow", b"pragma: allowlist secret")
_SPLIT = re.compile(r"[,({;&?\[]")
_B64_CHARS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")
CONTEXT_BYTES = 400
ENV_FAR_BYTES = 4096  # an environment named this far from a value, and no other, is its environment
PAIR_EXACT_MAX = 4096  # up to this many key x secret combinations, pairing weighs them all
PAIR_NEIGHBOURS = 8

# what Engine.prepare returns: (text, prefilter hits in it, hits in the raw bytes if text is a decoding)
Prepared = tuple[bytes, set[int], set[int] | None]


_HEXDIGITS = frozenset(b"0123456789abcdefABCDEF")


def _percent_escaped(text: bytes, i: int, room: bool) -> bool:
    """text[i:i+2] are the hex digits of a percent escape (`?apiKey=%22<key>%22`, `%3D<key>`): not part of
    the value that follows them (when `room`: the rest is still long enough to be one)."""
    return (room and i > 0 and text[i - 1] == 0x25 and i + 1 < len(text)
            and text[i] in _HEXDIGITS and text[i + 1] in _HEXDIGITS)


def lines_of(text: bytes, off: int) -> int:
    return text.count(b"\n", 0, off) + 1


class _Runs:
    """Maximal runs of one byte class at least n long: the class is mapped to 'a' and everything else to
    ' ' by bytes.translate, then bytes.find looks for n 'a's (hundreds of MB/s, linear)."""

    def __init__(self, byte_class: str, n: int):
        member = re.compile(f"[{byte_class}]".encode())
        self.key = byte_class
        self.table = bytes(0x61 if member.fullmatch(bytes([i])) else 0x20 for i in range(256))
        self.n = n
        self.needle = b"a" * n

    def find(self, text: bytes, cache: dict[str, bytes]) -> Iterator[tuple[int, int]]:
        t = cache.get(self.key)
        if t is None:
            t = cache[self.key] = text.translate(self.table)
        pos = 0
        while True:
            i = t.find(self.needle, pos)
            if i < 0:
                return
            j = t.find(b" ", i + self.n)
            end = len(t) if j < 0 else j
            yield i, end
            pos = end


@dataclass
class _TokenGroup:
    gid: int
    pattern: str
    boundary: str
    length: int
    rules: list[Rule]
    regex: re.Pattern[bytes] = field(init=False)
    b64_gid: int | None = None
    # a group that needs its exchange named and is found by a regex search (passphrases by name, base64
    # keys) also needs its value's shape in the chunk: the bare pattern as a second gate (a file naming
    # OKX with no passphrase in it is not searched)
    shape_gid: int | None = None
    keywords: Keywords | None = None
    # a pattern `[class]{n}` bounded by that same class is matched as runs (see _Runs): same matches
    # as `regex`, at memchr speed instead of a Python regex step per byte
    runs: _Runs | None = None
    b64_runs: _Runs | None = None
    run_check: re.Pattern[bytes] | None = None  # runs of the boundary class must also match the pattern
    run_max: int = 0  # the longest run a match can be (patterns of a few widths: 8-10-8-5 or 8-8-8-10)
    search_regex: re.Pattern[bytes] = field(init=False)
    boundary_bytes: frozenset[int] = frozenset()
    b64_inner: re.Pattern[bytes] | None = None
    b64_lens: tuple[int, ...] = ()

    reject: re.Pattern[str] | None = None  # names of non-credentials (listenKey)
    hex_min: float = 0.0  # 0: 64-hex values are never keys of this group
    hex_reject: re.Pattern[str] | None = None
    others: re.Pattern[bytes] | None = None  # other exchanges' names
    envs: re.Pattern[bytes] | None = None  # one named group per environment
    env_words: tuple[bytes, ...] = ()  # words every environment pattern holds (found with bytes.find)
    hex_envs: dict[str, str] = field(default_factory=dict)  # an all-hex value's case -> its environment
    reject_hex: bool = False  # all-hex values are never this group's (rule `reject: [hex]`)
    random: bool = True  # values must look random (rule `random`)
    hint_order: list[Rule] = field(default_factory=list)  # rules whose name hints are tried, in this order
    # values that are base64 themselves (the boundary holds +: Kraken's, Coinbase's Ed25519 keys): a
    # line that looks like base64 is no reason to drop one (krakenex's key file is two such lines)
    base64_values: bool = False
    # every confidence condition of its rules needs the exchange named near the value or in its file:
    # a chunk (and path) without one of its keywords cannot give it a finding, so it is not searched
    needs_word: bool = False

    def __post_init__(self) -> None:
        self.reject = _alts(p for r in self.rules for p in r.reject_names)
        self.env_words = _env_words(self.rules)
        self.hex_envs = {case: env for r in self.rules for case, env in r.hex_environments}
        self.reject_hex = any("hex" in r.reject for r in self.rules)
        self.base64_values = "+" in self.boundary
        from scanner.rules import DEFAULT_TOKEN_CONFIDENCE

        self.needs_word = all(
            {"near", "infile"} & set(cond.split("+"))
            for r in self.rules for policy in (r.confidence or DEFAULT_TOKEN_CONFIDENCE, r.hex_confidence)
            for _level, conds in policy for cond in conds)
        self.random = self.default_rule.random
        # a secret's name is tried before a key's ("api_secret_key" names a secret)
        self.hint_order = sorted(self.rules, key=lambda r: r.role != "secret")
        self.hex_min = max((r.hex_min_entropy for r in self.rules), default=0.0)
        self.hex_reject = _alts(p for r in self.rules for p in r.hex_reject_names)
        others = _alts(p for r in self.rules for p in r.other_exchanges)
        self.others = re.compile(others.pattern.encode(), re.IGNORECASE) if others else None
        self.envs = _env_regex(self.rules)
        b = self.boundary
        self.regex = re.compile(
            rf"(?:(?<![{b}])|(?<=\\[nrt])|(?<=%[0-9A-Fa-f]{{2}}))({self.pattern})(?![{b}])".encode()
        )
        self.search_regex = re.compile(rf"(?:{self.pattern})(?![{b}])".encode())
        member = re.compile(f"[{b}]".encode())
        self.boundary_bytes = frozenset(i for i in range(256) if member.fullmatch(bytes([i])))
        simple = re.fullmatch(r"\[([^\]\\]+)\]\{(\d+)\}", self.pattern)
        if simple and simple.group(1) == b:
            self.runs = _Runs(b, int(simple.group(2)))
        else:
            lo, hi = _widths_within(self.pattern, b)
            if lo:  # a UUID, `[0-9a-f]{32}` bounded by [A-Za-z0-9]: runs of the boundary class, then the pattern
                self.runs = _Runs(b, lo)
                self.run_max = hi
                self.run_check = re.compile(self.pattern.encode())
        kws = sorted({k for r in self.rules for k in r.keywords})
        if kws:
            self.keywords = Keywords(kws)
        if self.length:
            n = 4 * ((self.length + 2) // 3)  # base64 of the token; same length with a trailing newline
            n1 = 4 * ((self.length + 3) // 3)
            lens = sorted({n, n1})
            alts = "|".join(rf"[A-Za-z0-9+/]{{{m - 2}}}(?:==|[A-Za-z0-9+/]=|[A-Za-z0-9+/]{{2}})" for m in lens)
            self.b64_inner = re.compile(alts.encode())
            self.b64_lens = tuple(lens)
            self.b64_runs = _Runs("A-Za-z0-9+/=", min(lens))

    def tokens(self, text: bytes, cache: dict[str, bytes]) -> Iterator[tuple[int, int, str]]:
        """(start, end, value) of every match of `regex` (group 1), in order, one at a time (a chunk
        may hold hundreds of thousands)."""
        if self.runs is None:
            # the pattern with its closing boundary, searched bare (so `re` can skip to a possible first
            # character), and the opening boundary checked here: the same matches as `regex`
            rx = self.search_regex
            k = rx.groupindex.get("value", 0)  # a pattern may name its value: (?P<value>...)
            member = self.boundary_bytes
            pos = 0
            while True:
                m = rx.search(text, pos)
                if m is None:
                    return
                s0 = m.start()
                if (s0 and text[s0 - 1] in member and not (s0 > 1 and text[s0 - 2] == 0x5C and text[s0 - 1] in b"nrt")
                        and not (s0 > 2 and _percent_escaped(text, s0 - 2, True))):
                    pos = s0 + 1
                    continue
                if m.start(k) >= 0:
                    yield m.start(k), m.end(k), m.group(k).decode("utf-8", "replace")
                pos = m.end() if m.end() > s0 else s0 + 1
            return
        n = self.runs.n
        top = max(n, self.run_max)
        check = self.run_check
        for i, j in self.runs.find(text, cache):
            if i > 0 and text[i - 1] == 0x5C and text[i] in b"nrt" and n < j - i <= top + 1:  # after a \n escape
                if check is None or not check.fullmatch(text, i, j):
                    i += 1
            elif j - i > top:
                if not _percent_escaped(text, i, n <= j - i - 2 <= top):
                    continue
                i += 2  # (see _percent_escaped)
            if check is None or check.fullmatch(text, i, j):
                yield i, j, text[i:j].decode("ascii")
            elif _percent_escaped(text, i, n <= j - i - 2 <= top) and check.fullmatch(text, i + 2, j):
                yield i + 2, j, text[i + 2:j].decode("ascii")

    def b64_tokens(self, text: bytes, cache: dict[str, bytes]) -> Iterator[tuple[int, int, bytes]]:
        """(start, end, base64) of every maximal run of [A-Za-z0-9+/=] that is the base64 of a token
        (with or without a trailing newline, as `echo -n | base64` and `echo | base64` write it)."""
        if self.b64_runs is None or self.b64_inner is None:
            return iter(())
        return ((i, j, text[i:j]) for i, j in self.b64_runs.find(text, cache)
                if j - i in self.b64_lens and self.b64_inner.fullmatch(text, i, j))

    def gate_patterns(self) -> list[tuple[int, bytes, bytes | None]]:
        if self.needs_word and self.keywords is not None:
            # its values are reported only with the exchange named: a chunk without its words is passed
            # over (a UUID or 32 hex digits alone would let nearly every file through); a path naming
            # the exchange is checked in stage two
            out: list[tuple[int, bytes, bytes | None]] = [
                (self.gid, b"(?i)(?:" + self.keywords.regex.pattern + b")", None)]
            if self.shape_gid is not None:
                bare = self.pattern.replace("(?P<value>", "(?:")
                out.append((self.shape_gid, f"(?:{bare})".encode(), _leading_literal(bare)))
        else:
            out = [
                # the bare pattern: stage two checks exact boundaries; Hyperscan runs a plain bounded
                # repeat ~15x faster than one wrapped in boundary context (7.5 GB/s vs 435 MB/s here)
                (self.gid, f"(?:{self.pattern})".encode(), _leading_literal(self.pattern))]
        if self.b64_gid is not None:
            n = 4 * ((self.length + 2) // 3)
            out.append((self.b64_gid, rf"[A-Za-z0-9+/]{{{n - 2}}}".encode(), None))
        return out

    def named_rule(self, seg: str, *, hex_value: bool = False) -> Rule | None:
        """The rule whose name hints (for an all-hex value: strict hex_name_hints) the text before a
        value matches, its last part (after `,({;&?[`) first; None: no name says which."""
        for text in (_SPLIT.split(seg)[-1], seg):
            for r in self.hint_order:
                if any(re.search(h, text) for h in (r.hex_name_hints if hex_value else r.name_hints)):
                    return r
        return None

    def by_role(self, role: str) -> Rule | None:
        return next((r for r in self.rules if r.role == role), None)

    @property
    def default_rule(self) -> Rule:
        return next((r for r in self.rules if r.default), self.rules[0])


def _widths_within(pattern: str, boundary: str) -> tuple[int, int]:
    """(shortest, longest) match of `pattern` when they differ by at most 8 and each character it can
    match is in the boundary class (so a match is exactly a maximal run of that class), else (0, 0)."""
    from scanner.rules import _sre

    sp = _sre()
    try:
        parsed = sp.parse(pattern)
    except Exception:
        return 0, 0
    lo, hi = parsed.getwidth()
    if hi - lo > 8 or not lo or parsed.state.flags & re.IGNORECASE:
        return 0, 0
    chars: set[int] = set()

    def walk(items: Any) -> bool:
        for op, av in items:
            if op is sp.LITERAL:
                chars.add(av)
            elif op is sp.IN:
                for o, a in av:
                    if o is sp.LITERAL:
                        chars.add(a)
                    elif o is sp.RANGE:
                        chars.update(range(a[0], a[1] + 1))
                    else:
                        return False
            elif op in (sp.MAX_REPEAT, sp.MIN_REPEAT):
                if not walk(av[2]):
                    return False
            elif op is sp.SUBPATTERN:
                if not walk(av[-1]):
                    return False
            elif op is sp.BRANCH:
                if not all(walk(x) for x in av[1]):
                    return False
            else:
                return False
        return True

    member = re.compile(f"[{boundary}]")
    if not walk(parsed) or not all(c < 128 and member.fullmatch(chr(c)) for c in chars):
        return 0, 0
    return lo, hi


def _leading_literal(pattern: str) -> bytes | None:
    """The fixed prefix every match of `pattern` starts with (`bg_`, `mx0`), at least 3 characters, or
    None: the regex prefilter then skips a chunk without it, as Hyperscan does."""
    m = re.match(r"[A-Za-z0-9_]{3,}", pattern)
    if m is None:
        return None
    lit = m.group()
    if pattern[m.end():m.end() + 1] in ("{", "?", "*", "+"):
        lit = lit[:-1]  # the last character is repeated or optional
    return lit.encode() if len(lit) >= 3 else None


def _alts(patterns: Iterable[str]) -> re.Pattern[str] | None:
    pats = sorted(set(patterns))
    return re.compile("|".join(f"(?:{p})" for p in pats)) if pats else None


_ENV_NAME = re.compile(r"[a-z][a-z0-9_]*")
_CLASS = re.compile(r"\\[A-Za-z]|\[(?:\\.|[^\]])*\]|\(\?[^:)]*[:)]|\{[0-9,]*\}")


def _env_words(rules: Iterable[Rule]) -> tuple[bytes, ...]:
    """Words every environment pattern holds (rule `environment_words`, else each pattern's longest
    literal word): the environment regex runs only around them (over a whole file it is slow)."""
    words: set[str] = set()
    for r in rules:
        if r.environment_words:
            words.update(r.environment_words)
            continue
        for _name, pats in r.environments:
            for p in pats:
                literal = _CLASS.sub(" ", p).replace("\\", "")
                found = re.findall(r"[A-Za-z0-9]{3,}", literal)
                if found:
                    words.add(max(found, key=len).lower())
    return tuple(sorted(w.encode() for w in words))
# a flag set to false does not name its environment: `testnet=False`, `"sandbox": false`
_ENV_OFF = r"""(?!["']?\s*[:=]\s*["']?(?:false|0|no|off)\b)"""


def _env_regex(rules: Iterable[Rule]) -> re.Pattern[bytes] | None:
    by_env: dict[str, list[str]] = {}
    for r in rules:
        for name, pats in r.environments:
            if _ENV_NAME.fullmatch(name):
                by_env.setdefault(name, []).extend(pats)
    if not by_env:
        return None
    alts = "|".join(f"(?P<{name}>(?:{'|'.join(pats)}){_ENV_OFF})" for name, pats in by_env.items())
    return re.compile(alts.encode(), re.IGNORECASE)


_CI_PATH = re.compile(r"(?:^|/)(?:\.github/workflows/[^/]+\.ya?ml|\.gitlab-ci\.ya?ml|\.circleci/[^/]+\.ya?ml"
                      r"|\.travis\.ya?ml|azure-pipelines[^/]*\.ya?ml|bitbucket-pipelines\.ya?ml|Jenkinsfile)$")
_LOWER = {"high": "medium", "medium": "low", "low": "low"}
# base64 of a PKCS#8 Ed25519 private key (48 bytes of DER: 64 characters, no padding) without PEM armour
_ED25519_B64 = "MC4CAQAwBQYDK2VwBCIEI"


class _Policy:
    """A rule's confidence policy (rule `confidence`), compiled: each level's conditions as sets of
    signals, strongest level first."""

    def __init__(self, levels: Sequence[tuple[str, Sequence[str]]]):
        self.levels = [(level, [frozenset(c.split("+")) - {"any"} for c in conds]) for level, conds in levels]

    def level(self, signals: set[str]) -> str | None:
        for level, conds in self.levels:
            if any(c <= signals for c in conds):
                return level
        return None


@dataclass
class _Cand:
    rule: Rule
    start: int  # byte offsets of the reported span
    end: int
    value: str
    fp: str
    hinted: bool
    group: str
    last: int = 0  # offset used for the end line (PEM END marker)
    line: int = 0
    end_line: int = 0
    column: int = 0
    near: bool = False
    partner: _Cand | None = None
    example: bool = False
    hex: str | None = None  # 'lower' | 'upper' for a 64-hex value
    value_type: str | None = None  # a private key's type: ed25519 | rsa | encrypted
    infile: bool = False
    intext: bool = False  # a Binance word in the file's text (infile may come from its path alone)
    count: int = 1  # times the value occurs in the chunk (repeats are counted, not judged again)


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


def _line_allowed(text: bytes, a: int, b: int, memo: dict[int, bool]) -> bool:
    """An allow comment on the line text[a:b] (each line searched once)."""
    v = memo.get(a)
    if v is None:
        v = memo[a] = any(text.find(m, a, b) >= 0 for m in ALLOW_MARKERS)
    return v


_LITERAL = re.compile(r"(?:[A-Za-z0-9 _-]|\\[^A-Za-z0-9])+")


class Keywords:
    """The Binance words of some rules (regexes, case-insensitive). Literal ones (all built-in ones:
    `binance`, `binance\\.com`, `spot\\(`) are found with bytes.find in the lower-cased chunk, at
    memory speed; any other pattern falls back to one case-insensitive regex."""

    def __init__(self, patterns: Iterable[str]):
        pats = sorted(set(patterns))
        self.regex = re.compile("|".join(pats).encode(), re.IGNORECASE)
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
        for lit in self.literals:
            pos = lo
            while True:
                i = low.find(lit, pos, hi)
                if i < 0:
                    break
                if _is_word(text, i, i + len(lit)):
                    return True
                pos = i + 1
        return False


class _Spans:
    """Merged, sorted byte ranges (PEM blocks) with a logarithmic membership test."""

    def __init__(self, spans: Iterable[tuple[int, int]]):
        merged: list[list[int]] = []
        for a, b in sorted(spans):
            if merged and a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        self.starts = [a for a, _ in merged]
        self.ends = [b for _, b in merged]

    def covers(self, off: int) -> bool:
        i = bisect_right(self.starts, off) - 1
        return i >= 0 and off < self.ends[i]


class _Base64Lines:
    """Is the line at an offset part of a run of base64-looking lines in which one line must be
    base64? Each run is classified once (linear overall however many candidates it holds)."""

    MAX_LINES = 256  # how far to look each way

    def __init__(self, data: bytes):
        self.data = data
        self._verdict: dict[int, bool] = {}  # line start -> verdict of its run

    def _line(self, ls: int) -> bytes:
        le = self.data.find(b"\n", ls, ls + 4097)
        return self.data[ls : le if le >= 0 else min(len(self.data), ls + 4097)]

    def in_block(self, ls: int) -> bool:
        v = self._verdict.get(ls)
        if v is not None:
            return v
        run = [ls]
        verdict = False
        # upwards
        pos = ls
        for _ in range(self.MAX_LINES):
            if pos == 0:
                break
            ps = self.data.rfind(b"\n", max(0, pos - 4098), pos - 1) + 1
            known = self._verdict.get(ps)
            if known is not None:  # a line of the same run, already classified
                verdict = known
                break
            kind = checks.base64_line(self.data[ps : pos - 1])
            if kind is None:
                break
            run.append(ps)
            if kind == "base64":
                verdict = True
                break
            pos = ps
        # downwards
        pos = ls
        for _ in range(self.MAX_LINES):
            if verdict:
                break
            ne = self.data.find(b"\n", pos, pos + 4097)
            if ne < 0 or ne + 1 >= len(self.data):
                break
            pos = ne + 1
            known = self._verdict.get(pos)
            if known is not None:
                verdict = known
                break
            kind = checks.base64_line(self._line(pos))
            if kind is None:
                break
            run.append(pos)
            if kind == "base64":
                verdict = True
        for start in run:
            self._verdict[start] = verdict
        return verdict


class _Lines:
    """Line numbers and line bounds for increasing offsets, linear in the chunk size overall."""

    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0
        self.line = 1
        self.line_start = 0
        self._ends: dict[int, int] = {}

    def at(self, off: int) -> tuple[int, int]:
        if off < self.pos:  # rare: out-of-order lookups restart from the top
            self.pos, self.line, self.line_start = 0, 1, 0
        n = self.data.count(b"\n", self.pos, off)
        if n:
            self.line += n
            self.line_start = self.data.rfind(b"\n", self.pos, off) + 1
        self.pos = off
        return self.line, self.line_start

    def end_of(self, line_start: int) -> int:
        e = self._ends.get(line_start)
        if e is None:
            e = self.data.find(b"\n", line_start)
            e = len(self.data) if e < 0 else e
            self._ends[line_start] = e
        return e


class Engine:
    def __init__(self, rules: Sequence[Rule], *, examples: Iterable[str] = (), min_entropy: float | None = None,
                 prefilter: str = "auto"):
        from scanner.engine.prefilter import make_prefilter

        self.rules = list(rules)
        self.examples = frozenset(examples)
        self.min_entropy = min_entropy
        self.groups: list[_TokenGroup] = []
        # one matcher per pattern and rule group: exchanges whose values share a shape (a UUID, 32 hex
        # digits) keep their own candidates, and the exchange named nearest decides (other_exchanges)
        by_pattern: dict[tuple[str, str, int, str], list[Rule]] = {}
        for r in self.rules:
            if r.type == "token":
                by_pattern.setdefault((r.pattern, r.boundary, r.length, r.group), []).append(r)
        gid = 0
        for (pat, bnd, length, _group), rs in by_pattern.items():
            g = _TokenGroup(gid, pat, bnd, length, rs)
            gid += 1
            if g.needs_word and g.runs is None:  # (runs of one class are found at memchr speed anyway;
                # as Hyperscan gates, 18- to 64-character bounded repeats cost more than they save)
                g.shape_gid = gid
                gid += 1
            if length:
                g.b64_gid = gid
                gid += 1
            g.__post_init__()
            self.groups.append(g)
        self.pem_rules = [r for r in self.rules if r.type == "pem" and not r.neutral]
        self.neutral = {r.group: r for r in self.rules if r.type == "pem" and r.neutral}
        self.pem_gid = gid
        self.pem_labels = {lab: r for r in self.pem_rules for lab in r.labels}
        self.key_files = _alts(p for r in self.rules for p in r.key_file_names)
        def policy(r: Rule) -> _Policy:
            default = DEFAULT_TOKEN_CONFIDENCE if r.type == "token" else (
                DEFAULT_NEUTRAL_CONFIDENCE if r.neutral else DEFAULT_PEM_CONFIDENCE)
            return _Policy(r.confidence or default)

        self.policies = {r.id: policy(r) for r in self.rules}
        self.hex_policies = {r.id: _Policy(r.hex_confidence) for r in self.rules}
        # pairing, as the rules declare it: (rule id, partner rule ids, within lines, within bytes)
        self.pairings = [(r.id, frozenset(r.pairs_with), r.within_lines, r.within_bytes)
                         for r in self.rules if r.pairs_with]
        gates: list[tuple[int, bytes, bytes | None]] = []
        for g in self.groups:
            gates += g.gate_patterns()
        self.pem_b64_gid = gid + 1
        if self.pem_labels:
            alts = "|".join(re.escape(lab) for lab in sorted(self.pem_labels))
            gates.append((self.pem_gid, f"-----BEGIN (?:{alts})-----".encode(), b"-----BEGIN "))
            gates.append((self.pem_b64_gid, pem.B64_PEM_START, pem.B64_PEM_START))
        pem_kw = sorted({k for r in self.pem_rules for k in r.keywords})
        self.pem_keywords = Keywords(pem_kw) if pem_kw else None
        # each exchange's PEM rule judges its keys by its own words (an EC key next to a Binance word is
        # not Coinbase's)
        self.pem_rule_keywords = {r.id: Keywords(sorted(set(r.keywords))) for r in self.pem_rules if r.keywords}
        self.gates = gates  # (id, pattern, literal): the pre-commit hook caches these (scanner/hook.py)
        self.prefilter = make_prefilter(gates, prefilter)
        self.prefilter_kind = prefilter

    # -- stage one ---------------------------------------------------------------------------
    @staticmethod
    def hit(prepared: Prepared) -> bool:
        """Did stage one find anything in a chunk `prepare` made? (If not, `scan` would find nothing.)"""
        return bool(prepared[1] or prepared[2])

    # -- stage two ---------------------------------------------------------------------------
    def prepare(self, data: bytes) -> Prepared:
        """Stage one for a chunk's raw bytes: (text to scan, prefilter hits in it, prefilter hits in
        the raw bytes when the text is a decoding of them, else None). Binary data is scanned as it
        is. Thread-safe, and Hyperscan releases the GIL: sources call it on their reader threads."""
        text, _enc, also_raw = to_text_bytes(data)
        return text, self.prefilter.gate(text), (self.prefilter.gate(data) if also_raw else None)

    def scan(self, chunk: Chunk, stats: ScanStats | None = None, prepared: Prepared | None = None) -> list[Finding]:
        text, gates, raw_gates = prepared if prepared is not None else self.prepare(chunk.data)
        if stats is not None:
            stats.files_scanned += 1
            stats.bytes_scanned += len(chunk.data)
        # a path naming an exchange is context for its rules even when no gate matched the content
        found = self._scan_text(text, gates, chunk, stats) if gates or self.path_named(chunk.path) else []
        if raw_gates:  # a decoding (UTF-16) may be wrong: the raw bytes are scanned too
            seen = {f.fingerprint for f in found}
            found += [f for f in self._scan_text(chunk.data, raw_gates, chunk, stats) if f.fingerprint not in seen]
        return found

    def path_named(self, path: str) -> bool:
        """The path names an exchange whose rules need it named: stage two runs even without a gate hit."""
        return any(g.needs_word and g.keywords is not None and g.keywords.in_path(path) for g in self.groups)

    def scan_bytes(self, data: bytes, path: str = "<input>") -> list[Finding]:
        return self.scan(Chunk(data=data, path=path))

    def _scan_text(self, text: bytes, gates: set[int], chunk: Chunk, stats: ScanStats | None) -> list[Finding]:
        blocks = pem.find_blocks(text) if b"-----BEGIN " in text else []
        encoded = pem.find_b64_blocks(text) if self.pem_b64_gid in gates else []
        spans = _Spans([(b.start, b.end) for b in blocks] + [(e.start, e.end) for e in encoded])
        lines = _Lines(text)
        cands: list[_Cand] = []
        derived: dict[str, bytes] = {}  # per-chunk transforms of text (translated runs, lower-cased)
        named: dict[str, bool] = {}  # keyword set -> named in this chunk or its path
        searched: dict[tuple[bytes, frozenset[int]], list[tuple[int, int, str]]] = {}
        for g in self.groups:
            if g.needs_word and g.keywords is not None:
                # every condition of its rules wants the exchange named in the chunk or its path
                k = g.keywords.regex.pattern.decode()
                if k not in named:
                    named[k] = ((g.gid in gates and g.keywords.in_text(text, 0, len(text), derived))
                                or g.keywords.in_path(chunk.path))
                if not named[k] or (g.shape_gid is not None and g.shape_gid not in gates and g.b64_gid not in gates):
                    continue
                raw: Iterable[tuple[int, int, str]] = self._group_tokens(g, text, derived, searched)
            elif g.gid not in gates and g.b64_gid not in gates:
                continue
            else:
                raw = self._group_tokens(g, text, derived, searched) if g.gid in gates else ()
            if g.b64_gid in gates:
                raw = heapq.merge(raw, self._decoded_b64(g, text, derived))  # both in offset order
            cands += self._token_candidates(g, text, raw, spans, lines, derived)
        if self.pem_gid in gates:
            cands += self._pem_candidates([(b, b.start, b.end, b.end - 1) for b in blocks])
        if encoded:
            cands += self._pem_candidates([(e.block, e.start, e.end, 0) for e in encoded])
        if not cands:
            return []
        cands.sort(key=lambda c: c.start)
        lines = _Lines(text)
        kept: list[_Cand] = []
        allowed = 0
        allow_memo: dict[int, bool] = {}
        for c in cands:
            c.line, ls = lines.at(c.start)
            c.column = len(text[ls : c.start].decode("utf-8", "replace")) + 1 if c.start - ls < 4096 else c.start - ls + 1
            c.end_line = c.line + text.count(b"\n", c.start, c.last) if c.last else c.line
            if self._allowed(text, lines, ls, c, allow_memo):
                allowed += 1
                continue
            kept.append(c)
        if stats is not None and allowed:
            stats.suppress("inline_allow", allowed)
        kept = self._context(kept, text, chunk, derived, stats)
        self._pair(kept)
        return self._findings(kept, text, chunk, derived, stats)

    @staticmethod
    def _group_tokens(g: _TokenGroup, text: bytes, derived: dict[str, bytes],
                      searched: dict[tuple[bytes, frozenset[int]], list[tuple[int, int, str]]],
                      ) -> Iterable[tuple[int, int, str]]:
        """A group's values in a chunk. Groups found by a regex search (no run of one class to look for)
        and sharing their pattern and boundary (the passphrase rules of several exchanges) search the
        chunk once: that search costs ~60 ms per MB each."""
        if g.runs is not None:
            return g.tokens(text, derived)
        key = (g.search_regex.pattern, g.boundary_bytes)
        got = searched.get(key)
        if got is None:
            got = searched[key] = list(g.tokens(text, derived))
        return iter(got)

    @staticmethod
    def _decoded_b64(g: _TokenGroup, text: bytes, translated: dict[str, bytes]) -> Iterator[tuple[int, int, str]]:
        for s, e, run in g.b64_tokens(text, translated):
            try:
                dec = base64.b64decode(run, validate=True)
            except (binascii.Error, ValueError):
                continue
            dec = dec.rstrip(b"\r\n")
            if len(dec) == g.length and dec.isascii() and dec.isalnum():
                yield s, e, "b64:" + dec.decode()

    def _token_candidates(self, g: _TokenGroup, text: bytes, raw: Iterable[tuple[int, int, str]],
                          spans: _Spans, lines: _Lines, derived: dict[str, bytes]) -> list[_Cand]:
        out: list[_Cand] = []
        b64 = _Base64Lines(text)
        rule0 = g.default_rule
        need = rule0.charset
        min_h = self.min_entropy if self.min_entropy is not None else rule0.min_entropy
        if not g.random:
            min_h = 0.0  # a user-chosen value (a passphrase): only placeholders are refused
        plain_hex = not g.hex_min and not g.reject_hex  # all-hex values judged as any other value
        prev: _Cand | None = None
        prev_line = -1
        # a secret repeated in one chunk is one candidate with a count (its first place; repeats on
        # lines with an allow comment are kept apart): a 30 MB file of one repeated line costs its
        # size at the usual speed, not a candidate and a finding per line
        first: dict[tuple[str, bool], _Cand] = {}
        bad: set[str] = set()  # values that failed a check of the value alone
        allow_memo: dict[int, bool] = {}
        marked = any(m in text for m in ALLOW_MARKERS)
        hex_at: list[int] = []  # lines of every 64-hex value, kept or not (a list of digests is one)
        for s, e, value in raw:
            encoded = value.startswith("b64:")
            if encoded:
                value = value[4:]
            if value in bad or (spans.starts and spans.covers(s)):
                continue
            if not marked:
                seen = first.get((value, False))
                if seen is not None:  # the fast path of a repeat: no allow comment anywhere in the chunk
                    seen.count += 1
                    continue
            fp = fingerprint_of(value)
            example = fp in self.examples
            hexv = None
            if not example:
                if value.startswith(_ED25519_B64):  # a bare PKCS#8 Ed25519 key: judged as a private key
                    bare = self._bare_ed25519(value, s, e) if len(set(value[21:])) >= 16 else None
                    if bare is not None:
                        out.append(bare)
                    continue
                hexv = None if plain_hex else checks.hex_case(value)
                if hexv is not None:
                    hex_at.append(lines.at(s)[0])
                    if not g.hex_min or checks.hex_reject(value, g.hex_min):
                        bad.add(value)
                        continue
                elif not checks.charset_ok(value, need) or checks.quick_reject(value, min_h, allow_hex=plain_hex):
                    bad.add(value)
                    continue
            line_no, ls = lines.at(s)
            le = lines.end_of(ls)
            allowed = marked and _line_allowed(text, ls, le, allow_memo)
            seen = first.get((value, allowed))
            if seen is not None:
                seen.count += 1
                continue
            if not encoded and not g.base64_values and self._base64_line(text, ls, le, b64):  # wrapped base64
                continue
            if not example:
                if hexv is None and (checks.looks_random(value, min_h, allow_hex=plain_hex) if g.random
                                     else checks.placeholder(value)):
                    bad.add(value)
                    continue
                if not encoded and checks.embedded_reason(text, s, e):
                    continue
            seg_start = ls if prev is None or prev_line != line_no else prev.end
            seg_start = max(seg_start, s - 160)
            seg = text[seg_start:s].decode("utf-8", "replace").lower()
            if not example and g.reject is not None and g.reject.search(_SPLIT.split(seg)[-1]):
                continue  # a listenKey (user-data-stream session token) and the like: no credential
            if hexv is not None:
                # a 64-hex value is a key only under an API key/secret name (never a hash-like one),
                # or next to another such value (a pair in a client call); Binance context decided later
                name = _SPLIT.split(seg)[-1]
                if g.hex_reject is not None and g.hex_reject.search(name[-60:]):
                    continue
                named = g.named_rule(seg, hex_value=True)
            else:
                named = g.named_rule(text[seg_start:s].decode("utf-8", "replace").lower())
            hinted = named is not None
            rule = named
            if rule is None:
                role = "key"
                if prev is not None and not prev.hinted and prev.rule.role == "key" and line_no - prev_line <= 3:
                    role = "secret"
                rule = g.by_role(role) or rule0
            c = _Cand(rule, s, e, value, fp, hinted, rule.group)
            c.example = example
            c.hex = hexv
            if g.keywords is not None:
                c.near = g.keywords.in_text(text, max(0, s - CONTEXT_BYTES), e + CONTEXT_BYTES, derived)
            out.append(c)
            first[(value, allowed)] = c
            prev, prev_line = c, line_no
        hexes = [c for c in out if c.hex is not None]
        if hexes:  # an unnamed hex value stays only next to one other hex value (the key/secret pair shape);
            # three or more together are a list of digests (lock files, checksum manifests, hash tables)
            # (counted over every hex value of the chunk: one digest of a list failing a check of its own
            # must not leave the other two looking like a pair)
            weak = {id(c) for c in hexes if not c.hinted and checks.hex_run(hex_at + [lines.at(c.start)[0]], len(hex_at)) != 2}
            out = [c for c in out if id(c) not in weak]
        return out

    def _bare_ed25519(self, value: str, s: int, e: int) -> _Cand | None:
        rule = self.pem_labels.get("PRIVATE KEY")
        if rule is None:
            return None
        try:
            der = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
        except (binascii.Error, ValueError):
            return None
        if pem._key_type("PRIVATE KEY", der, ()) != "ed25519":
            return None
        block = pem.PemBlock("PRIVATE KEY", s, e, der, "ed25519")
        c = _Cand(rule, s, e, block.normalized(), fingerprint_of(der), False, rule.group)
        c.example = c.fp in self.examples
        c.value_type = "ed25519"
        return c

    @staticmethod
    def _base64_line(text: bytes, ls: int, le: int, b64: _Base64Lines) -> bool:
        """The token's line is a line of a wrapped base64 block (or the token is alone on its line inside
        one): its own line has '+', '/' or padding, or a line of the run of base64-looking lines around
        it does (certificate bodies outside PEM markers, `base64` output wrapped at 64 or 76)."""
        if le - ls > 4096:
            return False
        kind = checks.base64_line(text[ls:le])
        if kind == "base64":
            return True
        return kind == "alnum" and b64.in_block(ls)

    def _pem_candidates(self, blocks: list[tuple[pem.PemBlock, int, int, int]]) -> list[_Cand]:
        """(block, start, end, offset of its last line or 0 when it sits on one line: base64-encoded)."""
        out = []
        for b, start, end, last in blocks:
            rule = self.pem_labels.get(b.label)
            if rule is None or b.der is None:
                continue
            if b.key_type not in rule.key_types and b.key_type != "encrypted":
                continue
            # every key type under one policy (see _findings): Binance context makes it a Binance key; else
            # a reason to think it is one makes it a neutral `private_key`; else it is not reported
            c = _Cand(rule, start, end, b.normalized(), fingerprint_of(b.der), False, rule.group)
            c.last = last
            c.example = c.fp in self.examples
            c.value_type = b.key_type
            out.append(c)
        return out

    @staticmethod
    def _allowed(text: bytes, lines: _Lines, ls: int, c: _Cand, memo: dict[int, bool]) -> bool:
        """An allow comment on the finding's line (or, for a PEM block, on its END line). Each line is
        searched once, in place, however many candidates it holds."""

        def line_allowed(a: int, b: int) -> bool:
            v = memo.get(a)
            if v is None:
                v = memo[a] = any(text.find(m, a, b) >= 0 for m in ALLOW_MARKERS)
            return v

        if line_allowed(ls, lines.end_of(ls)):
            return True
        if c.last:
            ls2 = text.rfind(b"\n", 0, c.last) + 1
            le2 = text.find(b"\n", c.last)
            return line_allowed(ls2, le2 if le2 >= 0 else len(text))
        return False

    def _pair(self, cands: list[_Cand]) -> None:
        """Pairing as the rules declare it (`pairs_with`, `within_lines`, `within_bytes`): each value of
        a declaring rule takes the nearest unpaired value of one of its partner rules in the chunk:
        fewest lines apart, one after it before one before it, then fewest bytes apart. With many
        candidates (a dump of thousands of accounts) each weighs only its PAIR_NEIGHBOURS nearest on
        either side, which keeps pairing O(n log n). A value's partner is the one its own rule chose;
        a value chosen by another rule's values (a passphrase chose this key) has that one otherwise."""
        chosen: list[tuple[_Cand, _Cand]] = []
        for rid, partners, within_lines, within_bytes in self.pairings:
            keys = [c for c in cands if c.rule.id == rid and not c.example]
            others = [c for c in cands if c.rule.id in partners and not c.example]
            if not keys or not others:
                continue
            if len(keys) * len(others) <= PAIR_EXACT_MAX:
                near: Iterable[tuple[int, int]] = ((i, j) for i in range(len(keys)) for j in range(len(others)))
            else:
                starts = [o.start for o in others]  # cands come in offset order
                near = [(i, j) for i, k in enumerate(keys)
                        for p in [bisect_left(starts, k.start)]
                        for j in range(max(0, p - PAIR_NEIGHBOURS), min(len(others), p + PAIR_NEIGHBOURS))]
            pairs = sorted(
                (abs(k.line - o.line) + (0 if o.start > k.start else 0.5), abs(o.start - k.start), i, j)
                for i, j in near for k, o in [(keys[i], others[j])]
                if (not within_lines or abs(k.line - o.line) <= within_lines)
                and (not within_bytes or abs(o.start - k.start) <= within_bytes)
            )
            used_k: set[int] = set()
            used_o: set[int] = set()
            for _d, _b, i, j in pairs:
                if i in used_k or j in used_o:
                    continue
                used_k.add(i)
                used_o.add(j)
                keys[i].partner = others[j]
                chosen.append((others[j], keys[i]))
        for o, k in chosen:
            if o.partner is None:
                o.partner = k

    def _context(self, cands: list[_Cand], text: bytes, chunk: Chunk, derived: dict[str, bytes],
                 stats: ScanStats | None) -> list[_Cand]:
        """Binance words near each candidate and in its file; drops the credentials of another exchange
        (its name nearer than any Binance word, or in the path with no Binance word around)."""
        file_ctx: dict[int, bool] = {}
        out = []
        other = 0
        for c in cands:
            kw = self._keywords_for(c.rule)
            if kw is not None and c.rule.type == "pem" and c.last:
                # around the block, never inside it: a base64 body holds letters such as `+bnb/` by chance
                c.near = (kw.in_text(text, max(0, c.start - CONTEXT_BYTES), c.start, derived)
                          or kw.in_text(text, c.end, c.end + CONTEXT_BYTES, derived))
                c.infile = (c.near or kw.in_text(text, 0, c.start, derived) or kw.in_text(text, c.end, len(text), derived)
                            or kw.in_path(chunk.path))
            elif kw is not None:
                key = id(kw)
                if key not in file_ctx:
                    file_ctx[key] = kw.in_text(text, 0, len(text), derived)
                c.intext = file_ctx[key]
                c.infile = c.intext or kw.in_path(chunk.path)
                if c.rule.type == "pem":
                    c.near = kw.in_text(text, max(0, c.start - CONTEXT_BYTES), c.end + CONTEXT_BYTES, derived)
            if not c.example and self._other_exchange(c, text, chunk.path, kw):
                other += 1
                continue
            out.append(c)
        if stats is not None:
            stats.suppress("other_exchange", other)
        return out

    def _other_exchange(self, c: _Cand, text: bytes, path: str, kw: Keywords | None) -> bool:
        g = self._group_of(c.rule)
        if g is None or g.others is None:
            return False
        lo = max(0, c.start - CONTEXT_BYTES)
        last_other = max((m.end() for m in g.others.finditer(text, lo, c.start) if _is_word(text, m.start(), m.end())),
                         default=-1)
        last_ours = -1
        if kw is not None:
            last_ours = max((m.end() for m in kw.regex.finditer(text, lo, c.start) if _is_word(text, m.start(), m.end())),
                            default=-1)
        if last_other > last_ours:
            return True
        if last_ours < 0 and not c.near and kw is not None and not kw.in_path(path):
            p = path.encode("utf-8", "surrogateescape")
            return any(_is_word(p, m.start(), m.end()) for m in g.others.finditer(p))
        return False

    def _group_of(self, rule: Rule) -> _TokenGroup | None:
        for g in self.groups:
            if rule.group in {r.group for r in g.rules}:
                return g
        return None

    def _environment(self, c: _Cand, text: bytes, derived: dict[str, bytes]) -> str | None:
        """production | testnet | demo | th: the environment named nearest the value, else the only one named
        within ENV_FAR_BYTES, else what a hex key's shape says (lower: futures testnet, upper: Binance TH)."""
        g = self._group_of(c.rule)
        if g is None or g.envs is None:
            return None
        found = self._env_matches(g, text, derived)
        best: tuple[int, str] | None = None
        a = bisect_left(found, (max(0, c.start - CONTEXT_BYTES),))
        b = bisect_right(found, (c.end + CONTEXT_BYTES,))
        for ms, me, name in found[a:b]:
            d = c.start - me if me <= c.start else ms - c.end
            if best is None or d < best[0]:
                best = (max(d, 0), name)
        if best is not None:
            return best[1]
        # farther out, one environment and no other
        a = bisect_left(found, (max(0, c.start - ENV_FAR_BYTES),))
        b = bisect_right(found, (c.end + ENV_FAR_BYTES,))
        names = {name for _s, _e, name in found[a:b]}
        if len(names) == 1:
            return names.pop()
        return g.hex_envs.get(c.hex or "")

    @staticmethod
    def _env_matches(g: _TokenGroup, text: bytes, derived: dict[str, bytes]) -> list[tuple[int, int, str]]:
        """Every environment name in the chunk, once per chunk: the regex runs only around the anchor
        words every environment pattern holds (a regex of many alternatives is slow over a whole file)."""
        cache: dict[int, list[tuple[int, int, str]]] = derived.setdefault("envs", {})  # type: ignore[assignment, arg-type]
        got = cache.get(g.gid)
        if got is not None:
            return got
        low = derived.get("lower")
        if low is None:
            low = derived["lower"] = text.lower()
        found: dict[int, tuple[int, int, str]] = {}
        assert g.envs is not None
        for anchor in g.env_words:
            pos = low.find(anchor)
            while pos >= 0:
                for m in g.envs.finditer(text, max(0, pos - 24), pos + len(anchor) + 40):
                    if m.lastgroup and m.start() not in found and _is_word(text, m.start(), m.end()):
                        found[m.start()] = (m.start(), m.end(), m.lastgroup)
                pos = low.find(anchor, pos + len(anchor) + 40)
        cache[g.gid] = got = sorted(found.values())
        return got

    def _findings(self, cands: list[_Cand], text: bytes, chunk: Chunk, derived: dict[str, bytes],
                  stats: ScanStats | None) -> list[Finding]:
        ci = bool(_CI_PATH.search(chunk.path))
        decided: list[tuple[_Cand, Rule, str, str | None]] = []
        unattributed = 0
        for c in cands:
            rule, reason = c.rule, None
            signals = self._signals(c)
            policy = self.hex_policies[rule.id] if c.hex is not None else self.policies[rule.id]
            level = policy.level(signals)
            if level is None and rule.type == "pem":
                # no context: the group's neutral rule takes it when it names a reason to think the key is
                # this exchange's (rule `reasons`); a TLS or other key with nothing tying it is not reported
                neutral = self.neutral.get(rule.group)
                reasons = self._reasons(c, neutral, chunk.path, signals) if neutral is not None else []
                if neutral is None or not reasons or checks.vendored(chunk.path):
                    unattributed += 1
                    continue
                rule, reason = neutral, "; ".join(reasons)
                level = self.policies[rule.id].level(signals)
            if level is None:
                continue  # the rule's policy wants context this value does not have
            conf = level
            env = self._environment(c, text, derived)
            if env is not None and env in rule.lower_in:
                conf = _LOWER[conf]  # a test-network key ranks lower, never disappears
            if ci and c.partner is not None and rule.type == "token":
                conf = "high"  # a key/secret pair in a CI workflow: committed to be used
            decided.append((c, rule, conf, env))
        if stats is not None:
            stats.suppress("unattributed_private_key", unattributed)
        kept = {id(c) for c, *_ in decided}
        out = []
        for c, rule, conf, env in decided:
            partner = c.partner if c.partner is not None and id(c.partner) in kept else None
            out.append(Finding(
                rule=rule.id, kind=rule.kind, path=chunk.path, line=c.line, end_line=c.end_line,
                column=c.column, secret=c.value, fingerprint=c.fp, confidence=conf,
                paired_with=partner.fp if partner is not None else None, git_status=chunk.git_status,
                example=c.example, environment=env, reason=reason, count=c.count, provenance=chunk.provenance,
                verify=rule.verify,
            ))
        return out

    @staticmethod
    def _signals(c: _Cand) -> set[str]:
        """What a rule's confidence policy can test about a candidate (see rules.SIGNALS)."""
        out = {"any"}
        if c.near:
            out.add("near")
        if c.infile:
            out.add("infile")
        if c.intext:
            out.add("intext")  # the exchange named in the text itself, not only in the path
        if c.hinted:
            out.add("named")
        if c.example:
            out.add("example")
        if c.partner is not None:
            out.add("paired")
            if c.partner.hinted:
                out.add("partner_named")
        return out

    def _reasons(self, c: _Cand, neutral: Rule, path: str, signals: set[str]) -> list[str]:
        """Why a private key with no context may be the exchange's, in the neutral rule's words: paired
        with a key, a file named as the exchange's docs name key files, a key type it recommends.
        Adds `key_file` / `key_type` to `signals`."""
        why = dict(neutral.reasons)
        out = []
        if c.partner is not None and "paired" in why:
            out.append(why["paired"])
        if self.key_files is not None and self.key_files.search(path.rsplit("/", 1)[-1].lower()):
            signals.add("key_file")
            if "key_file" in why:
                out.append(why["key_file"])
        if c.value_type and c.value_type in why:
            signals.add("key_type")
            out.append(why[c.value_type])
        return out

    def _keywords_for(self, rule: Rule) -> Keywords | None:
        if rule.type == "pem":
            return self.pem_rule_keywords.get(rule.id, self.pem_keywords)
        for g in self.groups:
            if rule in g.rules:
                return g.keywords
        return None
