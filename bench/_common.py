"""Helpers shared by the bench scripts: key generation, source discovery. Standard library only.

Nothing here holds a key literal: every planted credential is generated at run time with `secrets`.
"""
from __future__ import annotations

import base64
import hashlib
import os
import secrets
import site
import string
import sys
import sysconfig

ALNUM = string.ascii_letters + string.digits

# Text source only: what a scanner meets in a real checkout. Binaries (.so, .pyc, wheels) are left out so
# every tool scans the same bytes and none of them spends its time on archive extraction.
TEXT_EXT = {
    ".py", ".pyi", ".pyx", ".pxd", ".c", ".h", ".cc", ".cpp", ".hpp", ".rs", ".go", ".js", ".mjs", ".ts",
    ".css", ".html", ".htm", ".xml", ".json", ".toml", ".cfg", ".ini", ".yaml", ".yml", ".txt", ".rst", ".md",
    ".sh", ".bat", ".ps1", ".pem", ".csv", ".tcl", ".tm", ".decTest", ".in", ".pth", ".typed",
}
MAX_FILE = 2 * 1024 * 1024


def binance_key() -> str:
    """64 random [A-Za-z0-9] with at least one upper, one lower and one digit (shape of a Binance API key)."""
    while True:
        k = "".join(secrets.choice(ALNUM) for _ in range(64))
        if any(c.isupper() for c in k) and any(c.islower() for c in k) and any(c.isdigit() for c in k):
            return k


def ed25519_pem() -> str:
    """A fresh Ed25519 private key in PKCS#8 PEM (fixed DER prefix + 32 random bytes), no crypto library."""
    der = bytes.fromhex("302e020100300506032b657004220420") + secrets.token_bytes(32)
    body = base64.b64encode(der).decode()
    return f"-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----\n"


def redact(value: str) -> str:
    v = value.strip().splitlines()[1] if value.startswith("-----BEGIN") else value
    return f"{v[:4]}...({len(value)} chars, sha256 {hashlib.sha256(value.encode()).hexdigest()[:12]})"


def source_roots() -> list[tuple[str, str]]:
    """(label, directory) of the Python installations on this machine, most stable first, no duplicates.

    Labels are fixed strings so the layout of the generated tree does not depend on where Python lives.
    """
    cands = [("stdlib", sysconfig.get_paths().get("stdlib"))]
    for i, p in enumerate(sorted(set(site.getsitepackages() + [sysconfig.get_paths().get("purelib", "")]))):
        cands.append((f"site{i}", p))
    if sys.prefix != sys.base_prefix:  # running inside a venv: its packages too
        cands.append(("venv", sysconfig.get_paths().get("purelib")))
    for extra in ("/usr/lib/python3", "/usr/lib/python3/dist-packages", "/usr/share/doc", "/usr/include"):
        cands.append((extra.strip("/").replace("/", "_"), extra))
    seen, out = set(), []
    for label, path in cands:
        if not path or not os.path.isdir(path):
            continue
        real = os.path.realpath(path)
        if real in seen or any(real.startswith(s + os.sep) for s in seen):
            continue
        seen.add(real)
        out.append((label, real))
    return out


def iter_source_files(roots: list[tuple[str, str]], skip_prefixes: tuple[str, ...] = ()):
    """Yield (label, relpath, abspath, size) of text source files, in a fixed (sorted) order."""
    skip = tuple(os.path.realpath(p) for p in skip_prefixes)
    for label, root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d not in ("__pycache__", ".git")
                                 and not os.path.realpath(os.path.join(dirpath, d)).startswith(skip or ("\0",)))
            for name in sorted(filenames):
                if os.path.splitext(name)[1] not in TEXT_EXT:
                    continue
                path = os.path.join(dirpath, name)
                try:
                    st = os.lstat(path)
                except OSError:
                    continue
                if not os.path.isfile(path) or os.path.islink(path) or st.st_size == 0 or st.st_size > MAX_FILE:
                    continue
                yield label, os.path.relpath(path, root), path, st.st_size
