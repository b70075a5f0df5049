"""Plain data passed along the pipeline: sources -> engine -> findings -> filters -> reporters."""
from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Mapping

KINDS = ("binance_api_key", "binance_secret_key", "binance_private_key", "private_key")
ENVIRONMENTS = ("production", "testnet", "demo", "th")
CONFIDENCES = ("low", "medium", "high")


@dataclass(frozen=True)
class Chunk:
    """Bytes to scan plus where they came from. Sources build these; they know nothing of rules."""

    data: bytes
    path: str  # relative to the scan root, '/'-separated
    git_status: str | None = None  # tracked | untracked | ignored | None outside a work tree
    meta: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)  # blob, commit, ...


def fingerprint_of(secret: str | bytes) -> str:
    """Stable id of a secret value: moving the secret keeps it; a different secret never shares it."""
    raw = secret.encode() if isinstance(secret, str) else secret
    return "sha256:" + hashlib.sha256(b"cexguard:v1:" + raw).hexdigest()[:40]


def redact(secret: str) -> str:
    """First and last four characters of a one-line secret; PEM keys show only their header."""
    if secret.startswith("-----BEGIN"):
        head = secret.split("-----")[1] if secret.count("-----") >= 2 else "PRIVATE KEY"
        return f"-----{head}----- [redacted]"
    if len(secret) <= 12:
        return "*" * len(secret)
    return f"{secret[:4]}...{secret[-4:]}"


@dataclass(frozen=True)
class Finding:
    """One secret at one place. `secret` is never shown unless the user asks (--show-secrets)."""

    rule: str
    kind: str
    path: str
    line: int  # 1-based
    end_line: int
    column: int  # 1-based, in characters
    secret: str = field(repr=False)
    fingerprint: str = ""
    confidence: str = "medium"
    paired_with: str | None = None
    git_status: str | None = None
    example: bool = False  # one of Binance's published documentation keys
    environment: str | None = None  # production | testnet | demo | th, where the context tells
    reason: str | None = None  # why a `private_key` (no Binance word around it) might be Binance's
    meta: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)
    verification: Mapping[str, Any] | None = field(default=None, compare=False, hash=False)

    @property
    def redacted(self) -> str:
        return redact(self.secret)

    def replace(self, **changes: Any) -> Finding:
        return dataclasses.replace(self, **changes)

    def to_dict(self, *, show_secrets: bool = False) -> dict[str, Any]:
        """The JSON shape of a finding (documented in the README)."""
        d: dict[str, Any] = {
            "path": self.path,
            "line": self.line,
            "end_line": self.end_line,
            "column": self.column,
            "rule": self.rule,
            "kind": self.kind,
            "fingerprint": self.fingerprint,
            "redacted": self.redacted,
            "confidence": self.confidence,
            "paired_with": self.paired_with,
            "git_status": self.git_status,
        }
        if self.example:
            d["example"] = True
        if self.environment:
            d["environment"] = self.environment
        if self.reason:
            d["reason"] = self.reason
        d.update(self.meta)
        if self.verification is not None:
            d["verification"] = dict(self.verification)
        if show_secrets:
            d["secret"] = self.secret
        return d


@dataclass
class ScanStats:
    """Counts the user sees in every report: what was scanned and what was skipped, and why."""

    files_scanned: int = 0
    bytes_scanned: int = 0
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> count
    suppressed: dict[str, int] = field(default_factory=dict)  # filter -> findings removed
    errors: list[str] = field(default_factory=list)  # one line each, never a secret
    extra: dict[str, Any] = field(default_factory=dict)  # source-specific (commits, blobs, ...)

    def skip(self, reason: str, n: int = 1) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + n

    def suppress(self, why: str, n: int = 1) -> None:
        if n:
            self.suppressed[why] = self.suppressed.get(why, 0) + n

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "files_scanned": self.files_scanned,
            "bytes_scanned": self.bytes_scanned,
            "skipped": dict(sorted(self.skipped.items())),
            "suppressed": dict(sorted(self.suppressed.items())),
            "errors": list(self.errors),
        }
        d.update(self.extra)
        return d


@dataclass
class ScanResult:
    findings: list[Finding]
    stats: ScanStats
    tool: str = "cexguard"
