"""The standard library's regular-expression parser, for the literal anchors of a pattern (tokens.py):
`re._parser` from Python 3.11, `sre_parse` before (both private, so only used where a failure just
means searching a chunk whole)."""
from __future__ import annotations

from typing import Any

try:
    from re import _parser as _p  # type: ignore[attr-defined]
    from re._constants import BRANCH, LITERAL, MAXREPEAT, SUBPATTERN  # type: ignore[import-not-found]
except ImportError:  # Python 3.10
    import sre_parse as _p  # type: ignore[no-redef]
    from sre_constants import BRANCH, LITERAL, MAXREPEAT, SUBPATTERN  # type: ignore[no-redef]

__all__ = ["BRANCH", "LITERAL", "MAXREPEAT", "SUBPATTERN", "parse", "width_of"]


def parse(pattern: bytes) -> Any:
    return _p.parse(pattern)


def width_of(op: Any, av: Any) -> int:
    """The most bytes one parsed item can match (MAXREPEAT or more: unbounded)."""
    return int(_p.SubPattern(_p.State(), [(op, av)]).getwidth()[1])
