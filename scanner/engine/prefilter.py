"""Stage one: which pattern families can match anywhere in a chunk.

Hyperscan scans whole chunks at GB/s; without it, the same decision falls to Python's `re` (stage
two runs the exact same regexes either way, so both prefilters give identical findings).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class RegexPrefilter:
    name = "regex"

    def __init__(self, gates: Sequence[tuple[int, bytes, bytes | None]]):
        # (id, hyperscan pattern, literal that must occur or None)
        self._ids = [(i, lit) for i, _, lit in gates]

    def gate(self, data: bytes | memoryview) -> set[int]:
        if not isinstance(data, bytes):  # (a view of a reader's buffer: `in` needs bytes)
            data = bytes(data)
        return {i for i, lit in self._ids if lit is None or lit in data}


class HyperscanPrefilter:
    name = "hyperscan"

    def __init__(self, gates: Sequence[tuple[int, bytes, bytes | None]]):
        import hyperscan

        import threading

        self._hs = hyperscan
        self._local = threading.local()  # one scratch per thread: scans release the GIL and run in parallel
        self._db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        self._db.compile(
            expressions=[p for _, p, _ in gates],
            ids=[i for i, _, _ in gates],
            elements=len(gates),
            flags=[hyperscan.HS_FLAG_SINGLEMATCH] * len(gates),
        )

    def gate(self, data: bytes | memoryview) -> set[int]:
        hits: set[int] = set()

        def on_match(i: int, _f: int, _t: int, _fl: int, _ctx: Any) -> None:
            hits.add(i)

        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = self._hs.Scratch(self._db)
        self._db.scan(data, match_event_handler=on_match, scratch=scratch)  # type: ignore[type-var]  # (any buffer)
        return hits


def make_prefilter(gates: Sequence[tuple[int, bytes, bytes | None]], kind: str = "auto") -> Any:
    if kind == "regex":
        return RegexPrefilter(gates)
    try:
        return HyperscanPrefilter(gates)
    except ImportError:
        if kind == "hyperscan":
            from scanner.errors import CexguardError

            raise CexguardError("hyperscan is not installed (pip install hyperscan)") from None
        return RegexPrefilter(gates)
    except Exception as e:
        if kind == "hyperscan":
            from scanner.errors import CexguardError

            raise CexguardError(f"hyperscan could not compile the rules: {str(e).splitlines()[0]}") from None
        return RegexPrefilter(gates)
