"""Pairing as the rules declare it (`pairs_with`, `within_lines`, `within_bytes`)."""
from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from typing import Protocol

PAIR_EXACT_MAX = 4096  # up to this many key x secret combinations, pairing weighs them all
PAIR_NEIGHBOURS = 8

# (rule id, partner rule ids, within lines, within bytes)
Pairing = tuple[str, frozenset[str], int, int]


class _Placed(Protocol):
    @property
    def rule_id(self) -> str: ...
    @property
    def start(self) -> int: ...
    @property
    def line(self) -> int: ...
    @property
    def example(self) -> bool: ...


def pair(cands: Sequence[_Placed], pairings: Iterable[Pairing]) -> tuple[dict[int, int], dict[int, list[int]]]:
    """Each value of a declaring rule takes the nearest unpaired value of one of its partner rules in
    the chunk: fewest lines apart, one after it before one before it, then fewest bytes apart. With many
    candidates (a dump of thousands of accounts) each weighs only its PAIR_NEIGHBOURS nearest on either
    side, which keeps pairing O(n log n). A value's partner is the one its own rule chose; a value chosen
    by another rule's values (a passphrase chose this key) has that one otherwise.
    Returns ({index of a candidate in `cands`: index of its partner}, {index: every value it was paired
    with, either way: its partner first}); `cands` in offset order."""
    partner: dict[int, int] = {}
    chosen: list[tuple[int, int]] = []
    for rid, partners, within_lines, within_bytes in pairings:
        keys = [i for i, c in enumerate(cands) if c.rule_id == rid and not c.example]
        others = [i for i, c in enumerate(cands) if c.rule_id in partners and not c.example]
        if not keys or not others:
            continue
        if len(keys) * len(others) <= PAIR_EXACT_MAX:
            near: Iterable[tuple[int, int]] = ((i, j) for i in range(len(keys)) for j in range(len(others)))
        else:
            starts = [cands[o].start for o in others]
            near = [(i, j) for i, k in enumerate(keys)
                    for p in [bisect_left(starts, cands[k].start)]
                    for j in range(max(0, p - PAIR_NEIGHBOURS), min(len(others), p + PAIR_NEIGHBOURS))]
        pairs = sorted(
            (abs(k.line - o.line) + (0 if o.start > k.start else 0.5), abs(o.start - k.start), i, j)
            for i, j in near for k, o in [(cands[keys[i]], cands[others[j]])]
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
            partner[keys[i]] = others[j]
            chosen.append((others[j], keys[i]))
    for o, k in chosen:
        partner.setdefault(o, k)
    links: dict[int, list[int]] = {}
    for o, k in chosen:
        links.setdefault(k, []).append(o)
        links.setdefault(o, []).append(k)
    for i, got in links.items():
        first = partner[i]
        links[i] = [first] + sorted({j for j in got if j != first})
    return partner, links
