"""Turn raw bytes into scannable UTF-8 bytes: BOMs, UTF-16, binary detection."""
from __future__ import annotations

_SNIFF = 8192


def to_text_bytes(data: bytes) -> tuple[bytes | None, str]:
    """(utf-8 bytes or None if binary, encoding label). Line structure is preserved."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:], "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        enc = "utf-16-le" if data.startswith(b"\xff\xfe") else "utf-16-be"
        try:
            return data[2:].decode(enc).encode("utf-8"), enc
        except UnicodeDecodeError:
            return data[2:].decode(enc, errors="replace").encode("utf-8"), enc
    head = data[:_SNIFF]
    if b"\x00" in head:
        guess = _utf16_without_bom(head)
        if guess:
            return data.decode(guess, errors="replace").encode("utf-8"), guess
        return None, "binary"
    return data, "utf-8"


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
