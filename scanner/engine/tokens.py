"""Token groups: the token rules that share a pattern, boundary and group, compiled; how their values
are found in a chunk (runs of one byte class at memchr speed, else one regex search), and the gates they
give stage one."""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from scanner.engine.keywords import Keywords, Words
from scanner.models import Rule

_SPLIT = re.compile(r"[,({;&?\[]")
_HEXDIGITS = frozenset(b"0123456789abcdefABCDEF")
_B64_ALNUM_LEAD = b"MNOPQRSTUVWXYZabcde"  # base64 digits 12-30: the first of four encoding a letter or digit


def _percent_escaped(text: bytes, i: int, room: bool) -> bool:
    """text[i:i+2] are the hex digits of a percent escape (`?apiKey=%22<key>%22`, `%3D<key>`): not part of
    the value that follows them (when `room`: the rest is still long enough to be one)."""
    return (room and i > 0 and text[i - 1] == 0x25 and i + 1 < len(text)
            and text[i] in _HEXDIGITS and text[i + 1] in _HEXDIGITS)


MIN_ANCHOR = 3  # the shortest literal worth a bytes.find


def _anchor_seq(items: list[Any]) -> dict[bytes, int] | None:
    """For a parsed pattern: {literal, lower-cased: the most bytes a match can start before it}, such
    that every match holds one of the literals; None when some match may hold none at a bounded offset."""
    from scanner.engine._sre import BRANCH, LITERAL, MAXREPEAT, SUBPATTERN, width_of

    off = 0
    i = 0
    while i < len(items):
        op, av = items[i]
        if op is LITERAL:
            run = bytearray()
            while i < len(items) and items[i][0] is LITERAL:
                run.append(items[i][1])
                i += 1
            if len(run) >= MIN_ANCHOR:
                return {bytes(run).lower(): off}
            off += len(run)
            continue
        found: dict[bytes, int] | None = None
        if op is BRANCH:
            found = {}
            for branch in av[1]:
                sub = _anchor_seq(list(branch))
                if sub is None:
                    found = None
                    break
                for lit, k in sub.items():
                    found[lit] = max(found.get(lit, 0), k)
        elif op is SUBPATTERN:
            found = _anchor_seq(list(av[-1]))
        if found:
            return {lit: off + k for lit, k in found.items()}
        width = width_of(op, av)
        if width >= MAXREPEAT:
            return None
        off += width
        i += 1
    return None


def _anchors(pattern: str) -> dict[bytes, int] | None:
    from scanner.engine._sre import parse

    try:
        return _anchor_seq(list(parse(pattern.encode())))
    except Exception:  # a construct the parser of this Python rejects: searched without anchors
        return None


class _Starts:
    """Sorted intervals (inclusive) that hold every start a match can have; `match` is what
    rx.search(text, pos) finds, trying only those starts, left to right."""

    __slots__ = ("iv", "i")

    def __init__(self, iv: list[tuple[int, int]]):
        self.iv = iv
        self.i = 0

    def match(self, rx: re.Pattern[bytes], text: bytes, pos: int) -> re.Match[bytes] | None:
        iv = self.iv
        while self.i < len(iv):
            a, b = iv[self.i]
            if b >= pos:
                for s0 in range(max(a, pos), b + 1):
                    m = rx.match(text, s0)
                    if m is not None:
                        return m
                pos = b + 1
            self.i += 1
        return None



class _Runs:
    """Maximal runs of one byte class at least n long: the class is mapped to 'a' and everything else to
    ' ' by bytes.translate, then bytes.find looks for n 'a's (hundreds of MB/s, linear)."""

    def __init__(self, byte_class: str, n: int):
        member = re.compile(f"[{byte_class}]".encode())
        self.key = byte_class
        self.table = bytes(0x61 if member.fullmatch(bytes([i])) else 0x20 for i in range(256))
        self.n = n
        self.needle = b"a" * n

    def find(self, text: bytes, cache: dict[Any, Any], longest: int = 0) -> list[tuple[int, int]]:
        """(start, end) of each run; `longest`: only runs at most that long (a long identifier, a line of
        minified code or base64 is passed over here, not handed out). Kept in `cache` for the chunk:
        groups of one class and length (64 characters: Binance's, Bitget's, Gate's secrets) walk the
        runs once."""
        got = cache.get((self.key, self.n, longest))
        if got is not None:
            return got
        t = cache.get(self.key)
        if t is None:
            t = cache[self.key] = text.translate(self.table)
        out = []
        pos = 0
        find, needle, n = t.find, self.needle, self.n
        while True:
            i = find(needle, pos)
            if i < 0:
                break
            j = find(b" ", i + n)
            end = len(t) if j < 0 else j
            if not longest or end - i <= longest:
                out.append((i, end))
            pos = end
        cache[(self.key, self.n, longest)] = out
        return out


@dataclass
class _TokenGroup:
    gid: int
    pattern: str
    boundary: str
    length: int
    rules: list[Rule]
    b64_gid: int | None = None
    # a group that needs its exchange named and is found by a regex search (passphrases by name, base64
    # keys) also needs its value's shape in the chunk: the bare pattern as a second gate (a file naming
    # OKX with no passphrase in it is not searched)
    shape_gid: int | None = None
    keywords: Keywords | None = None
    kw_key: str = ""  # its keyword set's name (the keywords' regex): groups that share the set share it
    # a pattern `[class]{n}` bounded by that same class is matched as runs (see _Runs): same matches
    # as `regex`, at memchr speed instead of a Python regex step per byte
    runs: _Runs | None = None
    b64_runs: _Runs | None = None
    run_checked: bool = False  # runs of the boundary class must also match the pattern (run_check)
    run_max: int = 0  # the longest run a match can be (patterns of a few widths: 8-10-8-5 or 8-8-8-10)
    boundary_bytes: frozenset[int] = frozenset()
    # literals every match of a searched pattern holds (a passphrase's name: 'pass', 'api'), with the most
    # bytes a match can start before each: only those starts are tried (20x faster than re.search over
    # the chunk); None: searched whole
    anchors: dict[bytes, int] | None = None
    # or: a pattern that opens with a run of its own boundary class ([A-Za-z0-9+/]{86}(?:==)?) starts where
    # such a run does (or just after an escape at its head): only those starts are tried
    lead_runs: _Runs | None = None
    b64_lens: tuple[int, ...] = ()

    hex_min: float = 0.0  # 0: 64-hex values are never keys of this group
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
        b = self.boundary
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
                self.run_checked = True
        if self.runs is None:
            self.anchors = _anchors(self.pattern)
            lead = re.match(r"\[([^\]\\]+)\]\{(\d+)(?:,\d*)?\}", self.pattern)
            if self.anchors is None and lead and lead.group(1) == b and not {0x25, 0x5C} & self.boundary_bytes:
                self.lead_runs = _Runs(b, int(lead.group(2)))
        kws = sorted({k for r in self.rules for k in r.keywords})
        if kws:
            self.keywords = Keywords(kws)
            self.kw_key = self.keywords.regex.pattern.decode()
        if self.length:
            n = 4 * ((self.length + 2) // 3)  # base64 of the token; same length with a trailing newline
            n1 = 4 * ((self.length + 3) // 3)
            lens = sorted({n, n1})
            alts = "|".join(rf"[A-Za-z0-9+/]{{{m - 2}}}(?:==|[A-Za-z0-9+/]=|[A-Za-z0-9+/]{{2}})" for m in lens)
            self._b64_src = alts.encode()
            self.b64_lens = tuple(lens)
            self.b64_runs = _Runs("A-Za-z0-9+/=", min(lens))

    # -- regexes, compiled when first used (a run, the pre-commit hook above all, uses few of them: compiling
    # every group's took ~0.1 s of each start)
    _b64_src = b""

    @cached_property
    def regex(self) -> re.Pattern[bytes]:
        b = self.boundary
        return re.compile(rf"(?:(?<![{b}])|(?<=\\[nrt])|(?<=%[0-9A-Fa-f]{{2}}))({self.pattern})(?![{b}])".encode())

    @cached_property
    def search_regex(self) -> re.Pattern[bytes]:
        return re.compile(rf"(?:{self.pattern})(?![{self.boundary}])".encode())

    @cached_property
    def run_check(self) -> re.Pattern[bytes] | None:
        return re.compile(self.pattern.encode()) if self.run_checked else None

    @cached_property
    def b64_inner(self) -> re.Pattern[bytes] | None:
        return re.compile(self._b64_src) if self._b64_src else None

    @cached_property
    def reject(self) -> re.Pattern[str] | None:
        """Names of non-credentials (listenKey)."""
        return _alts(p for r in self.rules for p in r.reject_names)

    @cached_property
    def hex_reject(self) -> re.Pattern[str] | None:
        return _alts(p for r in self.rules for p in r.hex_reject_names)

    @cached_property
    def others(self) -> re.Pattern[bytes] | None:
        """Other exchanges' names."""
        others = _alts(p for r in self.rules for p in r.other_exchanges)
        return re.compile(others.pattern.encode(), re.IGNORECASE) if others else None

    @cached_property
    def others_words(self) -> Words | None:
        """(the same, found fast in a chunk)"""
        return Words(self.others) if self.others is not None else None

    @cached_property
    def envs(self) -> re.Pattern[bytes] | None:
        """One named group per environment."""
        return _env_regex(self.rules)

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
            starts = self._starts(text, cache)
            while True:
                m = rx.search(text, pos) if starts is None else starts.match(rx, text, pos)
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
        # a run longer than top + 2 is never a value (at most a \n escape or a %XX escape before one)
        for i, j in self.runs.find(text, cache, top + 2):
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

    def _starts(self, text: bytes, cache: dict[str, bytes]) -> _Starts | None:
        """The starts a match of `search_regex` can have in this chunk (None: search it whole)."""
        if self.anchors is not None:
            low = cache.get("lower")
            if low is None:
                low = cache["lower"] = text.lower()
            iv: list[tuple[int, int]] = []
            for lit, before in self.anchors.items():
                p = low.find(lit)
                while p >= 0:
                    iv.append((max(0, p - before), p))
                    p = low.find(lit, p + 1)
            iv.sort()
            return _Starts(iv)
        if self.lead_runs is not None:
            # a start inside a run follows an escape at its head (\\n, %3D): at most 2 bytes in
            return _Starts([(i, min(i + 2, j - 1)) for i, j in self.lead_runs.find(text, cache)])
        return None

    def b64_tokens(self, text: bytes, cache: dict[str, bytes]) -> Iterator[tuple[int, int, bytes]]:
        """(start, end, base64) of every maximal run of [A-Za-z0-9+/=] that is the base64 of a token
        (with or without a trailing newline, as `echo -n | base64` and `echo | base64` write it)."""
        if self.b64_runs is None or self.b64_inner is None:
            return iter(())
        # every 4th character encodes the top six bits of a token byte: for a letter or digit
        # (0x30-0x7A) that is 12-30, `M`-`e`; random base64 fails this within a few groups (a history
        # holds hundreds of thousands of base64 runs of the right length)
        return ((i, j, text[i:j]) for i, j in self.b64_runs.find(text, cache, self.b64_lens[-1])
                if j - i in self.b64_lens and not text[i:j:4].translate(None, _B64_ALNUM_LEAD)
                and self.b64_inner.fullmatch(text, i, j))

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


