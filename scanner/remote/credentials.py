"""Credentials: an API key and what signs for it, read from the environment (never from argv).
Shown only redacted or by fingerprint."""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from scanner.errors import CexguardError
from scanner.models import fingerprint_of, redact
from scanner.remote.signing import HmacSigner, Signer, load_private_key

_HEADER_SAFE = re.compile(r"[\x21-\x7e]{1,256}")


class KeyIdentity:
    """How any exchange's credentials are shown: by the API key's fingerprint or redacted, never in full."""

    __slots__ = ()
    api_key: str

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(self.api_key)

    @property
    def redacted(self) -> str:
        return redact(self.api_key)


class Credentials(KeyIdentity):
    """An API key and, when known, what signs for it. Shown only redacted, never in full."""

    __slots__ = ("api_key", "label", "signer")

    def __init__(self, api_key: str, signer: Signer | None = None, *, label: str = "key") -> None:
        if not _HEADER_SAFE.fullmatch(api_key):
            raise CexguardError(f"the {label} API key has spaces or characters that cannot be sent in a header")
        self.api_key = api_key
        self.signer = signer
        self.label = label

    def __repr__(self) -> str:
        kind = self.signer.kind if self.signer else "none"
        return f"Credentials({self.label}, key={self.redacted}, signer={kind})"


@dataclass(frozen=True)
class EnvNames:
    key: str
    secret: str
    key_file: str
    passphrase: str


LEAKED_ENV = EnvNames("BINANCE_API_KEY", "BINANCE_API_SECRET", "BINANCE_PRIVATE_KEY_FILE",
                      "BINANCE_PRIVATE_KEY_PASSPHRASE")
MASTER_ENV = EnvNames("CEXGUARD_MASTER_API_KEY", "CEXGUARD_MASTER_API_SECRET",
                      "CEXGUARD_MASTER_PRIVATE_KEY_FILE", "CEXGUARD_MASTER_PRIVATE_KEY_PASSPHRASE")
MAX_KEY_FILE = 64 * 1024


def credentials_from_env(names: EnvNames, *, env: Mapping[str, str] | None = None, label: str,
                         require_signer: bool = True) -> Credentials:
    """Read a key and its secret (or PEM private key file) from the environment; never from argv."""
    environ = os.environ if env is None else env

    def get(name: str) -> str:
        return (environ.get(name) or "").strip()

    api_key, secret, key_file = get(names.key), get(names.secret), get(names.key_file)
    if not api_key:
        raise CexguardError(f"{names.key} is not set (the {label} API key is read from the environment)")
    if secret and key_file:
        raise CexguardError(f"set only one of {names.secret} and {names.key_file}, not both")
    signer: Signer | None = None
    if secret:
        signer = HmacSigner(secret)
    elif key_file:
        try:
            with open(key_file, "rb") as fh:
                pem = fh.read(MAX_KEY_FILE + 1)
        except OSError as e:
            raise CexguardError(f"{names.key_file}: cannot read {key_file}: {e.strerror}") from None
        if len(pem) > MAX_KEY_FILE:
            raise CexguardError(f"{names.key_file}: {key_file} is too large for a private key")
        pw = environ.get(names.passphrase)
        signer = load_private_key(pem, passphrase=pw.encode() if pw else None,
                                  source=f"{names.key_file} ({key_file})", passphrase_var=names.passphrase)
    elif require_signer:
        raise CexguardError(f"{names.secret} or {names.key_file} must be set with {names.key}")
    return Credentials(api_key, signer, label=label)

