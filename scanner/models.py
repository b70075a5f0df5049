"""Plain data passed along the pipeline: sources -> engine -> findings -> filters -> reporters."""
from __future__ import annotations

from collections.abc import Mapping

TYPE_CHECKING = False  # (not `typing.TYPE_CHECKING`: importing typing costs the pre-commit hook ~2 ms)
if TYPE_CHECKING:
    from typing import Any

# Plain classes, not dataclasses: `dataclasses` (and the `inspect` it imports) costs more than the
# rest of the pre-commit hook's imports together, and this module is on the hook's path.


class _Frozen:
    """Immutable value objects: fields set once in __init__; equal and hashed by `_KEY` fields."""

    _FIELDS: tuple[str, ...] = ()
    _KEY: tuple[str, ...] = ()
    _HIDDEN: frozenset[str] = frozenset()

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"cannot assign to field {name!r}")

    __delattr__ = __setattr__  # type: ignore[assignment]

    def _set(self, **values: Any) -> None:
        for k, v in values.items():
            object.__setattr__(self, k, v)

    def _key(self) -> tuple[Any, ...]:
        return tuple(getattr(self, k) for k in self._KEY)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._key() == other._key()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        body = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._FIELDS if k not in self._HIDDEN)
        return f"{type(self).__name__}({body})"

    def replace(self, **changes: Any) -> Any:
        values = {k: getattr(self, k) for k in self._FIELDS}
        unknown = set(changes) - set(values)
        if unknown:
            raise TypeError(f"unknown field(s): {', '.join(sorted(unknown))}")
        values.update(changes)
        return type(self)(**values)


try:  # CPython's built-in hashes: `hashlib` loads OpenSSL (~5 ms), too much for the pre-commit hook
    from _sha1 import sha1
    try:
        from _sha2 import sha256  # Python >= 3.12
    except ImportError:
        from _sha256 import sha256  # type: ignore[no-redef]
except ImportError:  # pragma: no cover
    from hashlib import sha1, sha256  # type: ignore[assignment]  # noqa: F401

KINDS = ("binance_api_key", "binance_secret_key", "binance_private_key")
CONFIDENCES = ("low", "medium", "high")


class Chunk(_Frozen):
    """Bytes to scan plus where they came from. Sources build these; they know nothing of rules."""

    _FIELDS = ("data", "path", "git_status", "meta")
    _KEY = ("data", "path", "git_status")
    data: bytes
    path: str  # relative to the scan root, '/'-separated
    git_status: str | None  # tracked | untracked | ignored | None outside a work tree
    meta: Mapping[str, Any]  # blob, commit, ...

    def __init__(self, data: bytes, path: str, git_status: str | None = None,
                 meta: Mapping[str, Any] | None = None) -> None:
        self._set(data=data, path=path, git_status=git_status, meta={} if meta is None else meta)


def fingerprint_of(secret: str | bytes) -> str:
    """Stable id of a secret value: moving the secret keeps it; a different secret never shares it."""
    raw = secret.encode() if isinstance(secret, str) else secret
    return "sha256:" + sha256(b"cexguard:v1:" + raw).hexdigest()[:40]


def redact(secret: str) -> str:
    """First and last four characters of a one-line secret; PEM keys show only their header."""
    if secret.startswith("-----BEGIN"):
        head = secret.split("-----")[1] if secret.count("-----") >= 2 else "PRIVATE KEY"
        return f"-----{head}----- [redacted]"
    if len(secret) <= 12:
        return "*" * len(secret)
    return f"{secret[:4]}...{secret[-4:]}"


class Finding(_Frozen):
    """One secret at one place. `secret` is never shown unless the user asks (--show-secrets)."""

    _FIELDS = ("rule", "kind", "path", "line", "end_line", "column", "secret", "fingerprint", "confidence",
               "paired_with", "git_status", "example", "meta", "verification")
    _KEY = _FIELDS[:12]  # meta and verification are not part of a finding's identity
    _HIDDEN = frozenset({"secret"})
    rule: str
    kind: str
    path: str
    line: int  # 1-based
    end_line: int
    column: int  # 1-based, in characters
    secret: str
    fingerprint: str
    confidence: str
    paired_with: str | None
    git_status: str | None
    example: bool  # one of Binance's published documentation keys
    meta: Mapping[str, Any]
    verification: Mapping[str, Any] | None

    def __init__(self, rule: str, kind: str, path: str, line: int, end_line: int, column: int, secret: str,
                 fingerprint: str = "", confidence: str = "medium", paired_with: str | None = None,
                 git_status: str | None = None, example: bool = False, meta: Mapping[str, Any] | None = None,
                 verification: Mapping[str, Any] | None = None) -> None:
        self._set(rule=rule, kind=kind, path=path, line=line, end_line=end_line, column=column, secret=secret,
                  fingerprint=fingerprint, confidence=confidence, paired_with=paired_with, git_status=git_status,
                  example=example, meta={} if meta is None else meta, verification=verification)

    @property
    def redacted(self) -> str:
        return redact(self.secret)

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
        d.update(self.meta)
        if self.verification is not None:
            d["verification"] = dict(self.verification)
        if show_secrets:
            d["secret"] = self.secret
        return d


class ScanStats:
    """Counts the user sees in every report: what was scanned and what was skipped, and why."""

    def __init__(self, files_scanned: int = 0, bytes_scanned: int = 0, skipped: dict[str, int] | None = None,
                 suppressed: dict[str, int] | None = None, errors: list[str] | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        self.files_scanned = files_scanned
        self.bytes_scanned = bytes_scanned
        self.skipped: dict[str, int] = {} if skipped is None else skipped  # reason -> count
        self.suppressed: dict[str, int] = {} if suppressed is None else suppressed  # filter -> findings removed
        self.errors: list[str] = [] if errors is None else errors  # one line each, never a secret
        self.extra: dict[str, Any] = {} if extra is None else extra  # source-specific (commits, blobs, ...)

    def __repr__(self) -> str:
        return (f"ScanStats(files_scanned={self.files_scanned}, bytes_scanned={self.bytes_scanned}, "
                f"skipped={self.skipped}, suppressed={self.suppressed}, errors={self.errors}, extra={self.extra})")

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


class ScanResult:
    def __init__(self, findings: list[Finding], stats: ScanStats, tool: str = "cexguard") -> None:
        self.findings = findings
        self.stats = stats
        self.tool = tool
