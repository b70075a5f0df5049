"""PEM blocks: private keys to report (Ed25519/RSA: PKCS#8, encrypted PKCS#8, PKCS#1) and the spans of
every PEM block (certificates, public keys) so their base64 lines are never taken for API keys."""
from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

BEGIN_ANY = re.compile(rb"-----BEGIN ([A-Z0-9 ]{1,40})-----")
_ESCAPES = re.compile(rb"\\\\?[nrt]")
_NON_B64 = re.compile(rb"[^A-Za-z0-9+/=]")
ED25519_OID = bytes.fromhex("06032b6570")
RSA_OID = bytes.fromhex("06092a864886f70d010101")
MAX_PEM = 16384


@dataclass(frozen=True)
class PemBlock:
    label: str
    start: int  # offset of -----BEGIN
    end: int  # offset just past the END marker
    der: bytes | None  # decoded body, None when it is not valid base64 (a placeholder)
    key_type: str | None  # ed25519 | rsa | encrypted | None (other algorithms)

    def normalized(self) -> str:
        assert self.der is not None
        b = base64.b64encode(self.der).decode()
        body = "\n".join(b[i : i + 64] for i in range(0, len(b), 64))
        return f"-----BEGIN {self.label}-----\n{body}\n-----END {self.label}-----\n"


def _decode_body(body: bytes) -> bytes | None:
    body = _ESCAPES.sub(b"\n", body)
    lines = [ln for ln in body.split(b"\n") if b":" not in ln]  # drop Proc-Type/DEK-Info headers
    b64 = _NON_B64.sub(b"", b"".join(lines))
    if len(b64) < 60 or b"..." in body:
        return None
    try:
        return base64.b64decode(b64 + b"=" * (-len(b64) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _key_type(label: str, der: bytes) -> str | None:
    if label == "ENCRYPTED PRIVATE KEY":
        return "encrypted"
    if not der or der[0] != 0x30:
        return None
    if label == "RSA PRIVATE KEY":
        return "rsa" if len(der) > 300 else None
    head = der[:40]
    if ED25519_OID in head and len(der) in range(46, 90):
        return "ed25519"
    if RSA_OID in head and len(der) > 300:
        return "rsa"
    return None


def find_blocks(data: bytes) -> list[PemBlock]:
    out: list[PemBlock] = []
    pos = 0
    while True:
        m = BEGIN_ANY.search(data, pos)
        if not m:
            return out
        label = m.group(1).decode()
        end_marker = b"-----END " + m.group(1) + b"-----"
        stop = data.find(end_marker, m.end(), m.end() + MAX_PEM)
        if stop < 0:
            pos = m.end()
            continue
        der = _decode_body(data[m.end() : stop]) if "PRIVATE KEY" in label else None
        kt = _key_type(label, der) if der is not None else None
        out.append(PemBlock(label, m.start(), stop + len(end_marker), der, kt))
        pos = stop + len(end_marker)
