"""PEM blocks: private keys to report (Ed25519/RSA: PKCS#8, encrypted PKCS#8, PKCS#1, encrypted PKCS#1)
and the spans of every PEM block (certificates, public keys) so their base64 lines are never taken for
API keys. Also PEM blocks stored base64-encoded (Kubernetes Secret `data:` values, `*_B64` variables)."""
from __future__ import annotations

import base64
import binascii
import re
from bisect import bisect_left
from dataclasses import dataclass

BEGIN_ANY = re.compile(rb"-----BEGIN ([A-Z0-9 ]{1,40})-----")
END_ANY = re.compile(rb"-----END ([A-Z0-9 ]{1,40})-----")
_ESCAPES = re.compile(rb"\\\\?[nrt]")
_NON_B64 = re.compile(rb"[^A-Za-z0-9+/=]")
_HEADER = re.compile(rb"^\s*([A-Za-z-]+):\s*([^\s\\\"']*)", re.MULTILINE)
ED25519_OID = bytes.fromhex("06032b6570")
RSA_OID = bytes.fromhex("06092a864886f70d010101")
EC_OID = bytes.fromhex("06072a8648ce3d0201")
MAX_PEM = 16384
# base64 of "-----BEGIN " (a PEM file base64-encoded from its first byte), then the rest of the run
B64_PEM_START = b"LS0tLS1CRUdJTi"
_B64_PEM = re.compile(rb"(?<![A-Za-z0-9+/=])LS0tLS1CRUdJTi[A-Za-z0-9+/]{0,%d}={0,2}" % (MAX_PEM * 4 // 3 + 4))


@dataclass(frozen=True)
class PemBlock:
    label: str
    start: int  # offset of -----BEGIN
    end: int  # offset just past the END marker
    der: bytes | None  # decoded body, None when it is not valid base64 (a placeholder)
    key_type: str | None  # ed25519 | rsa | encrypted | None (other algorithms)
    headers: tuple[tuple[str, str], ...] = ()  # RFC 1421 headers (encrypted PKCS#1: Proc-Type, DEK-Info)

    def normalized(self) -> str:
        assert self.der is not None
        b = base64.b64encode(self.der).decode()
        body = "\n".join(b[i : i + 64] for i in range(0, len(b), 64))
        head = "".join(f"{k}: {v}\n" for k, v in self.headers) + ("\n" if self.headers else "")
        return f"-----BEGIN {self.label}-----\n{head}{body}\n-----END {self.label}-----\n"


def _decode_body(body: bytes) -> tuple[bytes | None, tuple[tuple[str, str], ...]]:
    body = _ESCAPES.sub(b"\n", body)
    lines = body.split(b"\n")
    headers = tuple((m.group(1).decode(), m.group(2).decode("ascii", "replace"))
                    for ln in lines if b":" in ln for m in [_HEADER.match(ln)] if m)
    b64 = _NON_B64.sub(b"", b"".join(ln for ln in lines if b":" not in ln))  # drop Proc-Type/DEK-Info
    if len(b64) < 60 or b"..." in body:
        return None, headers
    try:
        return base64.b64decode(b64 + b"=" * (-len(b64) % 4), validate=True), headers
    except (binascii.Error, ValueError):
        return None, headers


def _key_type(label: str, der: bytes, headers: tuple[tuple[str, str], ...]) -> str | None:
    if label == "ENCRYPTED PRIVATE KEY":
        return "encrypted"
    if any(k == "Proc-Type" and "ENCRYPTED" in v for k, v in headers):
        return "encrypted"  # PKCS#1 encrypted by OpenSSL: the body is ciphertext
    if not der or der[0] != 0x30:
        return None
    if label == "RSA PRIVATE KEY":
        return "rsa" if len(der) > 300 else None
    if label == "EC PRIVATE KEY":  # SEC1 (RFC 5915): version 1, then the private key as an OCTET STRING
        return "ec" if der[2:5] == b"\x02\x01\x01" and der[5] == 0x04 and 60 < len(der) < 400 else None
    head = der[:40]
    if ED25519_OID in head and len(der) in range(46, 90):
        return "ed25519"
    if RSA_OID in head and len(der) > 300:
        return "rsa"
    if EC_OID in head and 60 < len(der) < 400:  # PKCS#8 id-ecPublicKey
        return "ec"
    return None


def find_blocks(data: bytes) -> list[PemBlock]:
    """Every BEGIN..END block: the END of the same label within MAX_PEM bytes, with no other BEGIN
    marker in between (a BEGIN left without its END never swallows the next block). Linear overall:
    BEGIN and END markers are indexed once, however many there are."""
    begins = list(BEGIN_ANY.finditer(data))
    if not begins:
        return []
    ends: dict[bytes, list[int]] = {}
    if b"-----END " in data:
        for e in END_ANY.finditer(data):
            ends.setdefault(e.group(1), []).append(e.start())
    out: list[PemBlock] = []
    pos = 0
    for k, m in enumerate(begins):
        if m.start() < pos:
            continue
        stops = ends.get(m.group(1))
        if not stops:
            continue
        i = bisect_left(stops, m.end())
        next_begin = begins[k + 1].start() if k + 1 < len(begins) else len(data)
        if i == len(stops) or stops[i] > m.end() + MAX_PEM or stops[i] > next_begin:
            continue
        stop = stops[i]
        label = m.group(1).decode()
        end = stop + len(m.group(1)) + 14  # len("-----END ") + label + len("-----")
        if "PRIVATE KEY" in label:
            der, headers = _decode_body(data[m.end() : stop])
        else:
            der, headers = None, ()
        kt = _key_type(label, der, headers) if der is not None else None
        out.append(PemBlock(label, m.start(), end, der, kt, headers))
        pos = end
    return out


@dataclass(frozen=True)
class EncodedPem:
    start: int  # offset of the base64 run in the text
    end: int
    block: PemBlock  # offsets inside the decoded bytes


def find_b64_blocks(data: bytes) -> list[EncodedPem]:
    """PEM blocks base64-encoded from their first byte (`base64 key.pem`, Kubernetes Secrets, kubeconfig
    `certificate-authority-data`): private keys to report, and the spans of all of them."""
    out: list[EncodedPem] = []
    for m in _B64_PEM.finditer(data):
        run = m.group(0)
        stripped = run.rstrip(b"=")
        usable = stripped[: len(stripped) - len(stripped) % 4] if len(run) % 4 else run
        try:
            dec = base64.b64decode(usable, validate=True)
        except (binascii.Error, ValueError):
            continue
        for b in find_blocks(dec):
            out.append(EncodedPem(m.start(), m.end(), b))
    return out
