"""Matching: everything about a chunk that does not depend on its path, done once per content.

`Engine.match(data)` finds the candidates (token search, PEM blocks, base64 decoding), checks each
value on its own (charset, entropy, shape, examples: cached by value across chunks), drops what its
text rules out (wrapped base64, embedded values, allow comments, hash lists), and records what judging
will need: each candidate's words nearby and in the text, another exchange named before it, its
environment. Judging (judge.py) then adds the path and decides, cheaply, for any number of paths."""
from __future__ import annotations

import base64
import binascii
import heapq
from bisect import bisect_left, bisect_right
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field, replace

from scanner.engine import checks, pem
from scanner.engine.keywords import Keywords, _is_word
from scanner.engine.spans import _Base64Lines, _line_allowed, _Lines, _Spans
from scanner.engine.tokens import _SPLIT, _TokenGroup
from scanner.models import Rule, fingerprint_of

CONTEXT_BYTES = 400
ENV_FAR_BYTES = 4096  # an environment named this far from a value, and no other, is its environment
# base64 of a PKCS#8 Ed25519 private key (48 bytes of DER: 64 characters, no padding) without PEM armour
_ED25519_B64 = "MC4CAQAwBQYDK2VwBCIEI"
VERDICTS_MAX = 1 << 16  # values whose own checks are remembered across chunks (then forgotten, all at once)

# what Engine.prepare returns: (text, prefilter hits in it, hits in the raw bytes if text is a decoding)
Prepared = tuple[bytes, set[int], set[int] | None]


@dataclass
class _Cand:
    """A candidate, as matching leaves it: nothing in it depends on the chunk's path (judging reads it
    and never changes it)."""

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
    example: bool = False
    hex: str | None = None  # 'lower' | 'upper' for a 64-hex value
    value_type: str | None = None  # a private key's type: ed25519 | rsa | encrypted
    intext: bool = False  # an exchange word in the file's text (signal `intext`)
    text_named: bool = False  # `infile` as far as the text goes (around a PEM block, never inside it)
    other_near: bool = False  # another exchange named nearer before it than any of its own words
    ours_before: bool = False  # one of its own words before it (within CONTEXT_BYTES)
    environment: str | None = None
    # the keyword set whose naming in the path (not the text) had its group searched: judged only at a
    # path that names it too (elsewhere it would not exist, so it must not pair either)
    wanted: str = ""
    count: int = 1  # times the value occurs in the chunk (repeats are counted, not judged again)
    # a private key that more than one rule takes (its label and key type): the same candidate for each
    # of the other rules, each with its own context; judging picks one (Engine._pick) before pairing
    alt_rules: tuple[Rule, ...] = ()
    alts: tuple[_Cand, ...] = ()
    gap: int = -1  # with alts: bytes from the key to the nearest of its rule's words (-1: none near)

    @property
    def rule_id(self) -> str:
        return self.rule.id


@dataclass(frozen=True)
class TextMatches:
    """The candidates of one text, in offset order."""

    cands: tuple[_Cand, ...]
    allowed: int = 0  # candidates dropped for an allow comment on their line


@dataclass(frozen=True)
class Matches:
    """What matching found in a chunk's content, whatever its path.

    Groups whose rules all need their exchange named are searched only where the text names it, or a
    path asked for names it: `unsearched` holds the keyword sets (rule `keywords`) of those passed
    over, so a path naming one needs the content matched again (Engine.covers says)."""

    text: TextMatches | None  # None: stage two did not run
    raw: TextMatches | None = None  # the raw bytes, when the text is a decoding of them (UTF-16)
    unsearched: frozenset[str] = frozenset()
    nbytes: int = 0
    searched_for: frozenset[str] = field(default_factory=frozenset)  # the keyword sets asked for

    @property
    def empty(self) -> bool:
        return not (self.text and self.text.cands) and not (self.raw and self.raw.cands)


def _gap(kw: Keywords, text: bytes, c: _Cand, derived: dict[str, bytes]) -> int:
    """Bytes between a private key and the nearest of its rule's words within CONTEXT_BYTES of it (around
    a PEM block, 0 inside a value on one line: a base64-encoded block), -1 when there is none."""
    best = -1
    lo, hi = max(0, c.start - CONTEXT_BYTES), c.end + CONTEXT_BYTES
    spans = ((lo, c.start), (c.end, hi)) if c.last else ((lo, hi),)
    for a, b in spans:
        for ms, me in kw.words.spans(text, a, b, derived):
            d = c.start - me if me <= c.start else max(0, ms - c.end)
            if best < 0 or d < best:
                best = d
    return best


class _Matching:
    """Engine's matching half (the tables are built by Engine.__init__)."""

    groups: list[_TokenGroup]
    examples: frozenset[str]
    min_entropy: float | None
    pem_gid: int
    pem_b64_gid: int
    allow_gid: int
    begin_gid: int
    pem_labels: dict[str, list[Rule]]
    pem_keywords: Keywords | None
    pem_rule_keywords: dict[str, Keywords]
    _kw_of_rule: dict[str, Keywords | None]
    _group_by_name: dict[str, _TokenGroup]
    _verdicts: dict[tuple[int, str], tuple[str, bool, str | None, bool]]

    def _match_text(self, text: bytes, gates: set[int], want: Collection[str],
                    unsearched: set[str]) -> TextMatches:
        blocks = pem.find_blocks(text) if self.begin_gid in gates else []
        encoded = pem.find_b64_blocks(text) if self.pem_b64_gid in gates else []
        spans = _Spans([(b.start, b.end) for b in blocks] + [(e.start, e.end) for e in encoded])
        lines = _Lines(text)
        cands: list[_Cand] = []
        derived: dict[str, bytes] = {}  # per-chunk transforms of text (translated runs, lower-cased)
        named: dict[str, bool] = {}  # keyword set -> named in this chunk
        searched: dict[tuple[bytes, frozenset[int]], list[tuple[int, int, str]]] = {}
        marked = self.allow_gid in gates  # (stage one looks for ALLOW_MARKERS)
        for g in self.groups:
            if g.needs_word and g.keywords is not None:
                # every condition of its rules wants the exchange named in the chunk or its path
                k = g.kw_key
                if k not in named:
                    named[k] = g.gid in gates and g.keywords.in_text(text, 0, len(text), derived)
                if g.shape_gid is not None and g.shape_gid not in gates and g.b64_gid not in gates:
                    continue
                if not named[k] and k not in want:
                    unsearched.add(k)  # (a path naming it would have it searched)
                    continue
                wanted = "" if named[k] else k
                raw: Iterable[tuple[int, int, str]] = self._group_tokens(g, text, derived, searched)
            elif g.gid not in gates and g.b64_gid not in gates:
                continue
            else:
                wanted = ""
                raw = self._group_tokens(g, text, derived, searched) if g.gid in gates else ()
            if g.b64_gid in gates:
                decoded = list(self._decoded_b64(g, text, derived))
                if decoded:  # (rare: merging costs ~1 us a token)
                    raw = heapq.merge(raw, decoded)  # both in offset order
            found = self._token_candidates(g, text, raw, spans, lines, derived, marked)
            if wanted:
                for c in found:
                    c.wanted = wanted
            cands += found
        if self.pem_gid in gates:
            cands += self._pem_candidates([(b, b.start, b.end, b.end - 1) for b in blocks])
        if encoded:
            cands += self._pem_candidates([(e.block, e.start, e.end, 0) for e in encoded])
        if not cands:
            return TextMatches(())
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
            if c.alt_rules:
                c.alts = tuple(replace(c, rule=r, group=r.group, alt_rules=()) for r in c.alt_rules)
            kept.append(c)
        self._context(kept, text, derived)
        return TextMatches(tuple(kept), allowed)

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

    def _verdict(self, g: _TokenGroup, value: str, min_h: float, plain_hex: bool) -> tuple[str, bool, str | None, bool]:
        """(fingerprint, example, hex case, fails a check of the value alone) of a value: the same for
        every chunk, so remembered (many versions of a file hold the same values)."""
        key = (g.gid, value)
        got = self._verdicts.get(key)
        if got is not None:
            return got
        fp = fingerprint_of(value)
        example = fp in self.examples
        hexv = None
        bad = False
        if not example:
            hexv = None if plain_hex else checks.hex_case(value)
            if hexv is not None:
                bad = not g.hex_min or bool(checks.hex_reject(value, g.hex_min))
            else:
                bad = (not checks.charset_ok(value, g.default_rule.charset)
                       or bool(checks.quick_reject(value, min_h, allow_hex=plain_hex))
                       or bool(checks.looks_random(value, min_h, allow_hex=plain_hex) if g.random
                               else checks.placeholder(value)))
        if len(self._verdicts) >= VERDICTS_MAX:
            self._verdicts = {}
        got = self._verdicts[key] = (fp, example, hexv, bad)
        return got

    def _token_candidates(self, g: _TokenGroup, text: bytes, raw: Iterable[tuple[int, int, str]],
                          spans: _Spans, lines: _Lines, derived: dict[str, bytes], marked: bool) -> list[_Cand]:
        out: list[_Cand] = []
        b64 = _Base64Lines(text)
        rule0 = g.default_rule
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
            if value.startswith(_ED25519_B64) and fingerprint_of(value) not in self.examples:
                # a bare PKCS#8 Ed25519 key: judged as a private key
                bare = self._bare_ed25519(value, s, e) if len(set(value[21:])) >= 16 else None
                if bare is not None:
                    out.append(bare)
                continue
            fp, example, hexv, failed = self._verdict(g, value, min_h, plain_hex)
            if hexv is not None:
                hex_at.append(lines.at(s)[0])
            if failed:
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
            if not example and not encoded and checks.embedded_reason(text, s, e):
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
                named = g.named_rule(seg)
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
        rules = self._pem_rules("PRIVATE KEY", "ed25519")
        if not rules:
            return None
        rule = rules[0]
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
        c.alt_rules = rules[1:]
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
            rules = self._pem_rules(b.label, b.key_type)
            if not rules or b.der is None:
                continue
            rule = rules[0]
            # every key type under one policy (see judge.py): Binance context makes it a Binance key; else
            # a reason to think it is one makes it a neutral `private_key`; else it is not reported
            c = _Cand(rule, start, end, b.normalized(), fingerprint_of(b.der), False, rule.group)
            c.last = last
            c.example = c.fp in self.examples
            c.value_type = b.key_type
            c.alt_rules = rules[1:]
            out.append(c)
        return out

    def _pem_rules(self, label: str, key_type: str | None) -> tuple[Rule, ...]:
        """The rules that take a private key of this label and type, the default first: every one of the
        label's rules that takes its type (judging picks one by context, Engine._pick); an encrypted key
        (its type unknown) goes to the label's first rule."""
        rules = self.pem_labels.get(label, ())
        got = tuple(r for r in rules if key_type in r.key_types)
        return got if got or not rules or key_type != "encrypted" else (rules[0],)

    @staticmethod
    def _allowed(text: bytes, lines: _Lines, ls: int, c: _Cand, memo: dict[int, bool]) -> bool:
        """An allow comment on the finding's line (or, for a PEM block, on its END line). Each line is
        searched once, in place, however many candidates it holds."""
        if _line_allowed(text, ls, lines.end_of(ls), memo):
            return True
        if c.last:
            ls2 = text.rfind(b"\n", 0, c.last) + 1
            le2 = text.find(b"\n", c.last)
            return _line_allowed(text, ls2, le2 if le2 >= 0 else len(text), memo)
        return False

    def _context(self, cands: list[_Cand], text: bytes, derived: dict[str, bytes]) -> None:
        """The exchange's words near each candidate and in its text; another exchange's name before it
        (judging drops it when that name is nearer than any of its own words, or when only the path
        names another exchange); its environment."""
        file_ctx: dict[int, bool] = {}
        for c0 in cands:
            for o in c0.alts and (c0, *c0.alts):  # the rules a key may go to: how near each one's words are
                kw = self._kw_of_rule[o.rule.id]
                o.gap = _gap(kw, text, o, derived) if kw is not None else -1
        for c in (o for c0 in cands for o in (c0, *c0.alts)):
            kw = self._kw_of_rule[c.rule.id]
            if kw is not None and c.rule.type == "pem" and c.last:
                # around the block, never inside it: a base64 body holds letters such as `+bnb/` by chance
                c.near = (kw.in_text(text, max(0, c.start - CONTEXT_BYTES), c.start, derived)
                          or kw.in_text(text, c.end, c.end + CONTEXT_BYTES, derived))
                c.text_named = (c.near or kw.in_text(text, 0, c.start, derived)
                                or kw.in_text(text, c.end, len(text), derived))
            elif kw is not None:
                key = id(kw)
                if key not in file_ctx:
                    file_ctx[key] = kw.in_text(text, 0, len(text), derived)
                c.intext = c.text_named = file_ctx[key]
                if c.rule.type == "pem":
                    c.near = kw.in_text(text, max(0, c.start - CONTEXT_BYTES), c.end + CONTEXT_BYTES, derived)
            g = self._group_by_name.get(c.rule.group)
            if not c.example and g is not None and g.others_words is not None:
                lo = max(0, c.start - CONTEXT_BYTES)
                last_other = g.others_words.last_end(text, lo, c.start, derived)
                last_ours = kw.words.last_end(text, lo, c.start, derived) if kw is not None else -1
                c.other_near = last_other > last_ours
                c.ours_before = last_ours >= 0
            if not c.other_near and g is not None and g.envs is not None:
                c.environment = self._environment(c, g, text, derived)

    def _environment(self, c: _Cand, g: _TokenGroup, text: bytes, derived: dict[str, bytes]) -> str | None:
        """production | testnet | demo | th: the environment named nearest the value, else the only one named
        within ENV_FAR_BYTES, else what a hex key's shape says (lower: futures testnet, upper: Binance TH)."""
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
