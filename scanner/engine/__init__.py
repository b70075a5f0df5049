"""The engine: chunks in, findings out. Stage one is a multi-pattern prefilter over the whole chunk
(Hyperscan, or Python's `re`); stage two checks each candidate in Python: exact boundaries, charset
mix, entropy, word-likeness, encoded context (base64, PEM, JWT), names and keywords nearby, inline
allow comments, and pairs API keys with their secrets or private keys.

Stage two is two steps: matching (match.py: what the content holds, whatever its path; the expensive
part) and judging (judge.py: the path added, findings out; cheap). `scan` is both; history matches a
blob once and judges it for each path that holds it. The rest along the seams: token groups and runs
(tokens.py), keywords (keywords.py), lines and spans (spans.py), pairing (pairing.py), confidence
policies (confidence.py)."""
from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence

from scanner.engine import pem
from scanner.engine.confidence import _Policy
from scanner.engine.judge import _Judging
from scanner.engine.keywords import Keywords
from scanner.engine.match import CONTEXT_BYTES, ENV_FAR_BYTES, Matches, Prepared, TextMatches, _Matching
from scanner.engine.pairing import PAIR_EXACT_MAX, PAIR_NEIGHBOURS
from scanner.engine.spans import ALLOW_MARKERS, lines_of
from scanner.engine.text import to_text_bytes
from scanner.engine.tokens import _alts, _TokenGroup
from scanner.models import (
    DEFAULT_NEUTRAL_CONFIDENCE,
    DEFAULT_PEM_CONFIDENCE,
    DEFAULT_TOKEN_CONFIDENCE,
    Chunk,
    Finding,
    Rule,
    ScanStats,
)

__all__ = ["ALLOW_MARKERS", "CONTEXT_BYTES", "ENV_FAR_BYTES", "PAIR_EXACT_MAX", "PAIR_NEIGHBOURS", "Engine",
           "Keywords", "Matches", "Prepared", "TextMatches", "lines_of"]

PATH_MEMO_MAX = 1 << 16


class Engine(_Matching, _Judging):
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
            self.groups.append(g)
        self.pem_rules = [r for r in self.rules if r.type == "pem" and not r.neutral]
        self.neutral = {r.group: r for r in self.rules if r.type == "pem" and r.neutral}
        self.pem_gid = gid
        # each label's rules, in rule order: a block goes to the first whose key_types take its key's type
        # (an encrypted key, of no known type, to the first): exchanges may share a label (PKCS#8 `PRIVATE
        # KEY` holds Ed25519, RSA and EC keys alike)
        self.pem_labels: dict[str, list[Rule]] = {}
        for r in self.pem_rules:
            for lab in r.labels:
                self.pem_labels.setdefault(lab, []).append(r)
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
        # each rule's partners either way, with the range the declaring rule gives (judging picks the rule
        # of a private key several rules take by a partner's value next to it)
        self.partners: dict[str, dict[str, tuple[int, int]]] = {}
        for rid, ps, wl, wb in self.pairings:
            for p in ps:
                self.partners.setdefault(rid, {})[p] = (wl, wb)
                self.partners.setdefault(p, {}).setdefault(rid, (wl, wb))
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
        # an allow comment anywhere in a chunk: found by stage one too, so stage two need not search the
        # whole chunk for it (not a gate: a chunk with only an allow comment is not searched)
        self.allow_gid = gid + 2
        self.begin_gid = gid + 3  # (and any PEM armour: its blocks are spans no token is taken from)
        marks: list[tuple[int, bytes, bytes | None]] = [
            (self.allow_gid, re.escape(m.decode()).encode(), m) for m in ALLOW_MARKERS]
        marks.append((self.begin_gid, b"-----BEGIN ", b"-----BEGIN "))
        self.prefilter = make_prefilter(gates + marks, prefilter)
        self._marks = frozenset((self.allow_gid, self.begin_gid))
        self.prefilter_kind = prefilter
        # lookups judging and matching make per candidate (a Rule compares by value: slow in a list)
        self._group_by_name: dict[str, _TokenGroup] = {}
        for g in self.groups:
            for r in g.rules:
                self._group_by_name.setdefault(r.group, g)
        self._kw_of_rule: dict[str, Keywords | None] = {}
        for r in self.rules:
            if r.type == "pem":
                self._kw_of_rule[r.id] = self.pem_rule_keywords.get(r.id, self.pem_keywords)
        for g in self.groups:
            for r in g.rules:
                self._kw_of_rule.setdefault(r.id, g.keywords)
        self._verdicts: dict[tuple[int, str], tuple[str, bool, str | None, bool]] = {}
        self._path_memo: dict[str, frozenset[str]] = {}


    # -- stage one ---------------------------------------------------------------------------
    def hit(self, prepared: Prepared) -> bool:
        """Did stage one find anything in a chunk `prepare` made? (If not, `scan` would find nothing.)"""
        return self._gated(prepared[1]) or self._gated(prepared[2])

    def _gated(self, gates: Collection[int] | None) -> bool:
        """A gate hit (the allow comment found by stage one is none)."""
        return bool(gates) and bool(set(gates) - self._marks)  # type: ignore[arg-type]

    def prepare(self, data: bytes) -> Prepared:
        """Stage one for a chunk's raw bytes: (text to scan, prefilter hits in it, prefilter hits in
        the raw bytes when the text is a decoding of them, else None). Binary data is scanned as it
        is. Thread-safe, and Hyperscan releases the GIL: sources call it on their reader threads."""
        text, _enc, also_raw = to_text_bytes(data)
        return text, self.prefilter.gate(text), (self.prefilter.gate(data) if also_raw else None)

    # -- stage two ---------------------------------------------------------------------------
    def scan(self, chunk: Chunk, stats: ScanStats | None = None, prepared: Prepared | None = None) -> list[Finding]:
        """Matching and judging in one: the chunk's findings at its path."""
        m = self.match(chunk.data, prepared, paths=(chunk.path,), stats=stats)
        return self.judge(m, chunk.path, stats=stats, git_status=chunk.git_status, provenance=chunk.provenance)

    def match(self, data: bytes, prepared: Prepared | None = None, *, paths: Iterable[str] = (),
              stats: ScanStats | None = None) -> Matches:
        """What a chunk's content holds, for any path (see Matches); `paths`: the paths it will be judged
        at, so the groups their names call for are searched too (Engine.covers)."""
        text, gates, raw_gates = prepared if prepared is not None else self.prepare(data)
        if stats is not None:
            stats.files_scanned += 1
            stats.bytes_scanned += len(data)
        want: frozenset[str] = frozenset().union(*(self.path_sets(p) for p in paths))
        unsearched: set[str] = set()
        # a path naming an exchange is context for its rules even when no gate matched the content
        tm = self._match_text(text, gates, want, unsearched) if want or self._gated(gates) else None
        if tm is None:
            self._match_text_skipped(gates, unsearched)
        rm = (self._match_text(data, raw_gates, want, unsearched)
              if raw_gates is not None and self._gated(raw_gates) else None)
        if stats is not None:
            stats.suppress("inline_allow", (tm.allowed if tm else 0) + (rm.allowed if rm else 0))
        return Matches(tm, rm, frozenset(unsearched), len(data), want)

    def _match_text_skipped(self, gates: Collection[int], unsearched: set[str]) -> None:
        """Stage two did not run (no gate, no path naming an exchange): the groups a path naming their
        exchange would have searched."""
        for g in self.groups:
            if g.needs_word and g.keywords is not None and (
                    g.shape_gid is None or g.shape_gid in gates or g.b64_gid in gates):
                unsearched.add(g.kw_key)

    def path_sets(self, path: str) -> frozenset[str]:
        """The keyword sets (of groups that need their exchange named) a path names: memoised (every
        version of a file in a history has the same path)."""
        got = self._path_memo.get(path)
        if got is None:
            got = frozenset(g.kw_key for g in self.groups
                            if g.needs_word and g.keywords is not None and g.keywords.in_path(path))
            if len(self._path_memo) >= PATH_MEMO_MAX:
                self._path_memo = {}
            self._path_memo[path] = got
        return got

    def path_named(self, path: str) -> bool:
        """The path names an exchange whose rules need it named: stage two runs even without a gate hit."""
        return bool(self.path_sets(path))

    def scan_bytes(self, data: bytes, path: str = "<input>") -> list[Finding]:
        return self.scan(Chunk(data=data, path=path))
