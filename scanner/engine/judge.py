"""Judging: a chunk's matches (match.py) and its path in, findings out. Cheap (no pass over the text):
history judges one blob's matches once per path that holds it."""
from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable, Sequence

from scanner.engine import checks
from scanner.engine.confidence import _CI_PATH, _LOWER, _Policy, signals
from scanner.engine.keywords import Keywords, _is_word
from scanner.engine.match import Matches, TextMatches, _Cand
from scanner.engine.pairing import PAIR_NEIGHBOURS, Pairing, pair
from scanner.engine.tokens import _TokenGroup
from scanner.models import FileProvenance, Finding, GitProvenance, Rule, ScanStats


class _Judging:
    """Engine's judging half (the tables are built by Engine.__init__)."""

    policies: dict[str, _Policy]
    hex_policies: dict[str, _Policy]
    neutral: dict[str, Rule]
    key_files: re.Pattern[str] | None
    pairings: list[Pairing]
    partners: dict[str, dict[str, tuple[int, int]]]
    _kw_of_rule: dict[str, Keywords | None]
    _group_by_name: dict[str, _TokenGroup]

    def path_sets(self, path: str) -> frozenset[str]:  # (Engine's, memoised)
        raise NotImplementedError

    def covers(self, matches: Matches, path: str) -> bool:
        """Can `matches` be judged for `path`? Not when the path names an exchange whose values matching
        passed over (its text does not name it): then the content is matched again for that path."""
        return not (matches.unsearched and matches.unsearched & self.path_sets(path))

    def path_may_matter(self, matches: Matches) -> bool:
        """Could these matches give findings at some path though they give none at an unknown one ("")?
        A private key with no word around it is reported when its file is named as the exchange's
        key-generation docs name key files (`key_file_names`): the history audit, which judges each blob
        before knowing its paths, maps such blobs to their paths too (sources/reading.py)."""
        if self.key_files is None:
            return False
        return any(c.rule.type == "pem" or any(a.rule.type == "pem" for a in c.alts)
                   for tm in (matches.text, matches.raw) if tm is not None for c in tm.cands)

    def judge(self, matches: Matches, path: str, *, stats: ScanStats | None = None, git_status: str | None = None,
              provenance: FileProvenance | GitProvenance | None = None) -> list[Finding]:
        """The findings of a chunk with these matches at `path`."""
        if not self.covers(matches, path):
            raise ValueError("matches do not cover this path: match the content again for it")
        found: list[Finding] = []
        if matches.text is not None and matches.text.cands:
            found = self._judge_text(matches.text, path, stats, git_status, provenance)
        if matches.raw is not None and matches.raw.cands:  # a decoding (UTF-16) may be wrong: the raw bytes too
            seen = {f.fingerprint for f in found}
            found += [f for f in self._judge_text(matches.raw, path, stats, git_status, provenance) if f.fingerprint not in seen]
        return found

    def _judge_text(self, tm: TextMatches, path: str, stats: ScanStats | None, git_status: str | None,
                    provenance: FileProvenance | GitProvenance | None) -> list[Finding]:
        in_path: dict[int, bool] = {}

        def path_names(kw: Keywords) -> bool:
            v = in_path.get(id(kw))
            if v is None:
                v = in_path[id(kw)] = kw.in_path(path)
            return v

        kept: list[_Cand] = []
        infile: list[bool] = []
        other = 0
        named = self.path_sets(path)
        starts: list[int] | None = None
        for c in tm.cands:
            if c.wanted and c.wanted not in named:
                continue  # searched for another path that names its exchange: not there at this one
            if c.alts:
                if starts is None:
                    starts = [k.start for k in tm.cands]
                c = self._pick(c, tm.cands, starts, named, path_names)
            kw = self._kw_of_rule[c.rule.id]
            if not c.example and self._other_exchange(c, path, kw, path_names):
                other += 1
                continue
            kept.append(c)
            infile.append(c.text_named or (kw is not None and path_names(kw)))
        if stats is not None:
            stats.suppress("other_exchange", other)
        partner, links = pair(kept, self.pairings)
        ci = bool(_CI_PATH.search(path))
        decided: list[tuple[int, Rule, str, str | None]] = []
        unattributed = 0
        for i, c in enumerate(kept):
            rule, reason = c.rule, None
            p = partner.get(i)
            sig = signals(near=c.near, infile=infile[i], intext=c.intext, hinted=c.hinted, example=c.example,
                          paired=p is not None, partner_hinted=p is not None and kept[p].hinted)
            policy = self.hex_policies[rule.id] if c.hex is not None else self.policies[rule.id]
            level = policy.level(sig)
            if level is None and rule.type == "pem":
                # no context: the group's neutral rule takes it when it names a reason to think the key is
                # this exchange's (rule `reasons`); a TLS or other key with nothing tying it is not reported
                neutral = self.neutral.get(rule.group)
                reasons = self._reasons(c, p is not None, neutral, path, sig) if neutral is not None else []
                if neutral is None or not reasons or checks.vendored(path):
                    unattributed += 1
                    continue
                rule, reason = neutral, "; ".join(reasons)
                level = self.policies[rule.id].level(sig)
            if level is None:
                continue  # the rule's policy wants context this value does not have
            conf = level
            if c.environment is not None and c.environment in rule.lower_in:
                conf = _LOWER[conf]  # a test-network key ranks lower, never disappears
            if ci and p is not None and rule.type == "token":
                conf = "high"  # a key/secret pair in a CI workflow: committed to be used
            decided.append((i, rule, conf, reason))
        if stats is not None:
            stats.suppress("unattributed_private_key", unattributed)
        kept_ids = {i for i, *_ in decided}
        out = []
        for i, rule, conf, reason in decided:
            c = kept[i]
            p = partner.get(i)
            every = tuple(kept[j].fp for j in links.get(i, ()) if j in kept_ids)
            out.append(Finding(
                rule=rule.id, kind=rule.kind, path=path, line=c.line, end_line=c.end_line,
                column=c.column, secret=c.value, fingerprint=c.fp, confidence=conf,
                paired_with=kept[p].fp if p is not None and p in kept_ids else None, git_status=git_status,
                example=c.example, environment=c.environment, reason=reason, count=c.count,
                provenance=provenance, verify=rule.verify, paired_with_all=every if len(every) > 1 else (),
            ))
        return out

    def _pick(self, c: _Cand, cands: Sequence[_Cand], starts: list[int], named: frozenset[str],
              path_names: Callable[[Keywords], bool]) -> _Cand:
        """A private key that several rules take (a PEM label and key type they share) goes to the rule whose
        words are nearest it; else to the one its path names (a key file); else to the one with a value of
        a partner rule (its API key) within pairing range among its PAIR_NEIGHBOURS nearest candidates
        either side; else to the first (the default)."""
        opts = (c, *c.alts)
        near = [o for o in opts if o.gap >= 0]
        if near:
            return min(near, key=lambda o: o.gap)
        for o in opts:
            kw = self._kw_of_rule[o.rule.id]
            if kw is not None and path_names(kw):
                return o
        at = bisect_left(starts, c.start)
        around = cands[max(0, at - PAIR_NEIGHBOURS) : at + PAIR_NEIGHBOURS + 1]
        for o in opts:
            ps = self.partners.get(o.rule.id, {})
            for k in around:
                got = ps.get(k.rule.id)
                if got is None or k.example or k.start == o.start or (k.wanted and k.wanted not in named):
                    continue
                wl, wb = got
                if (not wl or abs(k.line - o.line) <= wl) and (not wb or abs(k.start - o.start) <= wb):
                    return o
        return c

    def _other_exchange(self, c: _Cand, path: str, kw: Keywords | None, path_names: Callable[[Keywords], bool]) -> bool:
        """Another exchange's credential: its name nearer before the value than any of ours (matching
        found that), or, with none of our words before it or near it, in the path and ours not."""
        if c.other_near:
            return True
        g = self._group_by_name.get(c.rule.group)
        if g is None or g.others is None or c.ours_before or c.near or kw is None:
            return False
        if path_names(kw):
            return False
        p = path.encode("utf-8", "surrogateescape")
        return any(_is_word(p, m.start(), m.end()) for m in g.others.finditer(p))

    def _reasons(self, c: _Cand, paired: bool, neutral: Rule, path: str, sig: set[str]) -> list[str]:
        """Why a private key with no context may be the exchange's, in the neutral rule's words: paired
        with a key, a file named as the exchange's docs name key files, a key type it recommends.
        Adds `key_file` / `key_type` to `sig`."""
        why = dict(neutral.reasons)
        out = []
        if paired and "paired" in why:
            out.append(why["paired"])
        if self.key_files is not None and self.key_files.search(path.rsplit("/", 1)[-1].lower()):
            sig.add("key_file")
            if "key_file" in why:
                out.append(why["key_file"])
        if c.value_type and c.value_type in why:
            sig.add("key_type")
            out.append(why[c.value_type])
        return out
