"""Turn raw bytes into scannable UTF-8 bytes: BOMs and UTF-16. Nothing is ever "too binary" to scan:
bytes that decode as no text are scanned as they are (a key in ASCII inside a binary file, or after
one stray NUL byte in a `.env`, is still found), and a decoded view never replaces the raw bytes:
a file that merely starts like UTF-16 is scanned both ways."""
from __future__ import annotations

_SNIFF = 8192


def to_text_bytes(data: bytes) -> tuple[bytes, str, bool]:
    """(bytes to scan, encoding label, whether the raw bytes must be scanned too).

    The label is `utf-8`, `utf-8-sig`, `utf-16-le`, `utf-16-be` or `binary` (raw bytes as they are).
    Line structure is preserved. A UTF-16 decoding (BOM or guessed) also asks for the raw bytes: a
    file that starts with `FF FE` and then holds ASCII text decodes to nonsense without failing."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:], "utf-8-sig", False
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        enc = "utf-16-le" if data.startswith(b"\xff\xfe") else "utf-16-be"
        return data[2:].decode(enc, errors="replace").encode("utf-8"), enc, True
    head = data[:_SNIFF]
    if b"\x00" in head:
        guess = _utf16_without_bom(head)
        if guess:
            return data.decode(guess, errors="replace").encode("utf-8"), guess, True
        return data, "binary", False
    return data, "utf-8", False


def _utf16_without_bom(head: bytes) -> str | None:
    """UTF-16 text without a BOM: mostly ASCII, so every other byte is NUL."""
    if len(head) < 8:
        return None
    even, odd = head[0::2], head[1::2]
    if odd.count(0) > 0.9 * len(odd) and even.count(0) < 0.1 * len(even):
        return "utf-16-le"
    if even.count(0) > 0.9 * len(even) and odd.count(0) < 0.1 * len(odd):
        return "utf-16-be"
    return None


def is_plain(buf: bytes | bytearray, start: int, end: int) -> bool:
    """Whether `to_text_bytes(buf[start:end])` scans those bytes as they are (UTF-8, or raw binary):
    asked without copying them (a history reader gates most blobs where git's output landed)."""
    if buf.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"), start, end):
        return False
    stop = min(end, start + _SNIFF)
    return buf.find(b"\x00", start, stop) < 0 or _utf16_without_bom(bytes(buf[start:stop])) is None
