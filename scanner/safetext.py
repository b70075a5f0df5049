"""Text from untrusted places (file names, commit authors, git refs, server answers) made safe to show.

File names and git paths arrive as `str` decoded with `surrogateescape` (`os.fsdecode`): bytes that
are not UTF-8 are lone surrogates U+DC80..U+DCFF, which no UTF-8 stream can encode. Names, authors
and server messages may also hold terminal control sequences (clear screen, OSC 52 clipboard writes,
cursor moves) or bidi overrides that make a name read differently from what it is.

- `safe(s)`: for terminals and line-based formats (text, github, junit, stderr messages). Every
  control character (C0 including tab and newline, DEL, C1), every bidi control and line/paragraph
  separator is written as an escape, `\\xNN` for ASCII controls and `\\uNNNN` otherwise; each byte
  that is not UTF-8 is written `\\xNN` (its value). Everything else is unchanged.
- `json_text(s)`: for JSON, SARIF and GitLab reports: valid Unicode (no lone surrogates); each byte
  that is not UTF-8 is written `\\xNN`. Control characters stay (the JSON encoder escapes them).
- `path_bytes_b64(path)`: the exact bytes of a path that is not UTF-8 (base64), else None.
"""
from __future__ import annotations

import re
TYPE_CHECKING = False  # (not `typing.TYPE_CHECKING`: importing typing costs the pre-commit hook ~2 ms)
if TYPE_CHECKING:
    from typing import Any

# C0, DEL, C1; Arabic letter mark; LRM, RLM; line/paragraph separators; LRE..RLO; LRI..PDI; surrogates
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069\ud800-\udfff]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape(m: re.Match[str]) -> str:
    c = ord(m.group())
    if 0xDC80 <= c <= 0xDCFF:  # a byte that is not UTF-8 (surrogateescape)
        return f"\\x{c - 0xDC00:02x}"
    if c < 0x80:
        return f"\\x{c:02x}"
    return f"\\u{c:04x}"


def safe(value: object) -> str:
    """`value` as text that cannot drive a terminal: controls, bidi and undecodable bytes escaped."""
    s = value if isinstance(value, str) else str(value)
    return _UNSAFE.sub(_escape, s) if _UNSAFE.search(s) else s


def json_text(s: str) -> str:
    """`s` as valid Unicode for a JSON document: undecodable bytes (lone surrogates) as `\\xNN`."""
    return _SURROGATE.sub(_escape, s) if _SURROGATE.search(s) else s


def json_safe(obj: Any) -> Any:
    """A copy of a JSON-able structure whose strings (keys too) are valid Unicode."""
    if isinstance(obj, str):
        return json_text(obj)
    if isinstance(obj, dict):
        return {json_safe(k) if isinstance(k, str) else k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if obj is None or isinstance(obj, (bool, int, float)):
        return obj
    return json_text(str(obj))  # what json.dumps(default=str) would write


def is_exact(s: str) -> bool:
    """True when `s` is valid Unicode (all of its bytes decoded as UTF-8)."""
    return not _SURROGATE.search(s)


def raw_bytes(s: str) -> bytes:
    """The bytes a surrogateescape'd string stands for (UTF-8 for the rest)."""
    try:
        return s.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate no byte stands for: keep its escape
        return json_text(s).encode("utf-8")


def path_bytes_b64(path: str) -> str | None:
    """Standard base64 of the path's exact bytes when it is not valid UTF-8; None when it is."""
    if is_exact(path):
        return None
    import base64

    return base64.b64encode(raw_bytes(path)).decode("ascii")
