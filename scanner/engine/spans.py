"""Offsets in a chunk: line numbers, merged spans (PEM blocks), runs of base64-looking lines, allow
comments."""
from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable

from scanner.engine import checks

ALLOW_MARKERS = (b"cexguard:allow", b"gitleaks:allow", b"pragma: allowlist secret")


def lines_of(text: bytes, off: int) -> int:
    return text.count(b"\n", 0, off) + 1


def _line_allowed(text: bytes, a: int, b: int, memo: dict[int, bool]) -> bool:
    """An allow comment on the line text[a:b] (each line searched once)."""
    v = memo.get(a)
    if v is None:
        v = memo[a] = any(text.find(m, a, b) >= 0 for m in ALLOW_MARKERS)
    return v



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

