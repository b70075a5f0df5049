"""Plain data passed along the pipeline: sources -> engine -> findings -> filters -> reporters."""
from __future__ import annotations

from collections.abc import Mapping

TYPE_CHECKING = False  # (not `typing.TYPE_CHECKING`: importing typing costs the pre-commit hook ~2 ms)
if TYPE_CHECKING:
    from collections.abc import Sequence
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


# -- rules ----------------------------------------------------------------------------------------------
# A rule is data (rules/*.yaml; every field in rules/SCHEMA.md). The engine takes Rule objects and
# never reads a file; scanner/rules.py loads, validates and caches them.

# the policy a token rule gets when it names none: high with the exchange named nearby, medium with a
# name, a pair or the exchange named in the file, else low. It reports a lone value, so a rule keeps it
# only when its values say whose they are on their own (see _check_context)
DEFAULT_TOKEN_CONFIDENCE: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("high", ("near", "infile+named", "infile+paired")), ("medium", ("infile", "named", "paired")),
    ("low", ("any",)))
DEFAULT_PEM_CONFIDENCE: tuple[tuple[str, tuple[str, ...]], ...] = (("high", ("near", "infile", "example")),)
DEFAULT_NEUTRAL_CONFIDENCE: tuple[tuple[str, tuple[str, ...]], ...] = (("medium", ("paired",)), ("low", ("any",)))
_RULE_DEFAULTS: dict[str, Any] = {
    "group": "",
    "role": "key",
    "default": False,
    "pattern": "",
    "boundary": "A-Za-z0-9",
    "length": 0,
    "charset": (),
    "min_entropy": 0.0,
    "name_hints": (),
    "keywords": (),
    "labels": (),
    "key_types": (),
    "examples": (),
    "negative_examples": (),
    "neutral": False,
    "reject_names": (),
    "hex_name_hints": (),
    "hex_reject_names": (),
    "hex_min_entropy": 0.0,
    "other_exchanges": (),
    "environments": (),
    "key_file_names": (),
    "title": "",
    "revoke_hint": "",
    "verify": "",
    "pairs_with": (),
    "within_lines": 0,
    "within_bytes": 0,
    "confidence": (),
    "hex_confidence": (),
    "lower_in": (),
    "reasons": (),
    "hex_environments": (),
    "environment_words": (),
    "reject": (),
    "random": True,
    "distinct": False,
}


class Rule(_Frozen):
    """One detection rule, as rules/SCHEMA.md describes its fields. Equal by content (not `source`)."""

    _FIELDS = ("id", "kind", "type", "description", "remediation", *_RULE_DEFAULTS, "source")
    _KEY = _FIELDS[:-1]
    id: str
    kind: str
    type: str
    description: str
    remediation: str
    group: str
    role: str
    default: bool
    pattern: str
    boundary: str
    length: int
    charset: tuple[str, ...]
    min_entropy: float
    name_hints: tuple[str, ...]
    keywords: tuple[str, ...]
    labels: tuple[str, ...]
    key_types: tuple[str, ...]
    examples: tuple[str, ...]
    negative_examples: tuple[str, ...]
    neutral: bool
    reject_names: tuple[str, ...]  # names that say the value is no credential (listenKey)
    hex_name_hints: tuple[str, ...]
    hex_reject_names: tuple[str, ...]
    hex_min_entropy: float
    other_exchanges: tuple[str, ...]  # another exchange named nearest: not this rule's credential
    environments: tuple[tuple[str, tuple[str, ...]], ...]  # (name, patterns): production, testnet, ...
    key_file_names: tuple[str, ...]  # file names that tie a private key to this exchange's docs
    title: str  # what reporters call a finding of this rule ("Binance API key")
    revoke_hint: str  # the one step that kills the credential ("delete it in Binance API Management")
    verify: str  # the verifier (scanner/remote) that checks this rule's findings; "" = none
    pairs_with: tuple[str, ...]
    within_lines: int
    within_bytes: int
    confidence: tuple[tuple[str, tuple[str, ...]], ...]
    hex_confidence: tuple[tuple[str, tuple[str, ...]], ...]  # the same for all-hex values (hex_* above)
    lower_in: tuple[str, ...]  # environments in which a finding ranks one level lower (testnet)
    reasons: tuple[tuple[str, str], ...]  # neutral rules: (paired | key_file | key type, why it says so)
    hex_environments: tuple[tuple[str, str], ...]  # (lower | upper, environment) an all-hex value's case says
    environment_words: tuple[str, ...]  # words every environment pattern holds (default: derived)
    reject: tuple[str, ...]  # value classes never reported: hex (all hex digits)
    random: bool  # the value must look random (entropy, no words); false: only placeholders are refused
    distinct: bool  # the pattern alone says whose value it is (a fixed prefix such as `bg_`)
    source: str  # the rule file it came from

    def __init__(self, id: str, kind: str, type: str, description: str, remediation: str, *, source: str = "",
                 **fields: Any) -> None:
        unknown = set(fields) - set(_RULE_DEFAULTS)
        if unknown:
            raise TypeError(f"unknown rule field(s): {', '.join(sorted(unknown))}")
        self._set(id=id, kind=kind, type=type, description=description, remediation=remediation, source=source,
                  **{**_RULE_DEFAULTS, **fields})

    @property
    def display_title(self) -> str:
        return self.title or self.description.split(":")[0][:120]

    def to_dict(self) -> dict[str, Any]:
        """Every field (the rule cache's JSON)."""
        return {k: getattr(self, k) for k in self._FIELDS}


try:  # CPython's built-in hashes: `hashlib` loads OpenSSL (~5 ms), too much for the pre-commit hook
    from _sha1 import sha1
    try:
        from _sha2 import sha256  # Python >= 3.12
    except ImportError:
        from _sha256 import sha256  # type: ignore[no-redef]
except ImportError:  # pragma: no cover
    from hashlib import sha1, sha256  # type: ignore[assignment]  # noqa: F401

UNREADABLE_SHOWN = 100  # unreadable objects or files named in a report; all of them are counted
KINDS = ("binance_api_key", "binance_secret_key", "binance_private_key", "private_key")
ENVIRONMENTS = ("production", "testnet", "demo", "th")
CONFIDENCES = ("low", "medium", "high")


# -- provenance ---------------------------------------------------------------------------------------
# Where a finding came from, its own stage: a source says what it read (a file; a blob), the engine
# carries that through untouched, and the history audit completes a blob's record with its git
# history (introducing commit, refs, exposure window). Reporters read these typed fields; `to_dict`
# is the JSON report's shape for them (documented in the README).


class FileProvenance(_Frozen):
    """A file as it is now: in a working tree (`scan`), or staged in the index (`staged`: `blob` is
    the staged blob; `also_in` names the `REF:PATH` tips that already hold the same value)."""

    _FIELDS = ("staged", "blob", "also_in")
    _KEY = _FIELDS
    staged: bool  # read from the index: what the next commit adds, never committed
    blob: str | None
    also_in: tuple[str, ...]

    def __init__(self, *, staged: bool = False, blob: str | None = None, also_in: Sequence[str] = ()) -> None:
        self._set(staged=staged, blob=blob, also_in=tuple(also_in))

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {}
        if self.blob is not None:
            d["blob"] = self.blob
        if self.staged:
            d["source"] = "index"
        if self.also_in:
            d["also_in"] = list(self.also_in)
        return d


class GitProvenance(_Frozen):
    """A blob in a repository's object store. A source knows only `blob`; the history audit adds the
    rest (`mapped`): the commit that first added the secret at this path, its author and date, the
    refs that hold that commit, whether HEAD still has it, where it was removed, the exposure window,
    how many commits and blobs hold it. `submodule` and `repository` say which repository (a
    checked-out submodule; one of an organisation's)."""

    _FIELDS = ("blob", "commit", "author", "date", "refs", "present_at_head", "removed_in", "removed_at",
               "exposure", "exposure_days", "reachable", "commits", "blobs", "submodule", "repository")
    _KEY = _FIELDS
    blob: str | None
    commit: str | None  # the commit that introduced it (None: no commit names it)
    author: str | None
    date: str | None  # ISO 8601, the author date of `commit` (also the JSON's `first_seen`)
    refs: tuple[str, ...]  # refs holding `commit` (or naming the blob itself)
    present_at_head: bool
    removed_in: str | None  # the commit that removed it from this path
    removed_at: str | None
    exposure: str | None  # "DATE -> still present | DATE | not on HEAD", or what holds it
    exposure_days: int | None
    reachable: str | None  # a scanner.status.Reach value (None: not mapped to the history yet)
    commits: int  # commits holding it at this path
    blobs: int  # blobs holding it at this path
    submodule: str | None
    repository: str | None

    def __init__(self, *, blob: str | None = None, commit: str | None = None, author: str | None = None,
                 date: str | None = None, refs: Sequence[str] = (), present_at_head: bool = False,
                 removed_in: str | None = None, removed_at: str | None = None, exposure: str | None = None,
                 exposure_days: int | None = None, reachable: str | None = None, commits: int = 0, blobs: int = 0,
                 submodule: str | None = None, repository: str | None = None) -> None:
        self._set(blob=blob, commit=commit, author=author, date=date, refs=tuple(refs),
                  present_at_head=present_at_head, removed_in=removed_in, removed_at=removed_at, exposure=exposure,
                  exposure_days=exposure_days, reachable=reachable, commits=commits, blobs=blobs,
                  submodule=submodule, repository=repository)

    @property
    def mapped(self) -> bool:
        """The history audit has placed this blob (commit, refs, exposure are known)."""
        return self.reachable is not None

    @property
    def first_seen(self) -> str | None:
        return self.date

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"blob": self.blob} if self.blob is not None else {}
        if self.mapped:
            d.update({"commit": self.commit, "author": self.author, "date": self.date, "refs": list(self.refs),
                      "present_at_head": self.present_at_head, "first_seen": self.date,
                      "removed_in": self.removed_in, "removed_at": self.removed_at, "exposure": self.exposure,
                      "exposure_days": self.exposure_days, "reachable": self.reachable,
                      "occurrences": {"commits": self.commits, "blobs": self.blobs}})
        if self.submodule is not None:
            d["submodule"] = self.submodule
        if self.repository is not None:
            d["repository"] = self.repository
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> GitProvenance:
        """Back from `to_dict` (the org state's rows)."""
        occ = d.get("occurrences") or {}
        return cls(blob=d.get("blob"), commit=d.get("commit"), author=d.get("author"), date=d.get("date"),
                   refs=d.get("refs") or (), present_at_head=bool(d.get("present_at_head")),
                   removed_in=d.get("removed_in"), removed_at=d.get("removed_at"), exposure=d.get("exposure"),
                   exposure_days=d.get("exposure_days"), reachable=d.get("reachable"),
                   commits=int(occ.get("commits") or 0), blobs=int(occ.get("blobs") or 0),
                   submodule=d.get("submodule"), repository=d.get("repository"))


class Chunk(_Frozen):
    """Bytes to scan plus where they came from. Sources build these; they know nothing of rules."""

    _FIELDS = ("data", "path", "git_status", "provenance")
    _KEY = ("data", "path", "git_status")
    data: bytes
    path: str  # relative to the scan root, '/'-separated
    git_status: str | None  # tracked | untracked | ignored | None outside a work tree
    provenance: FileProvenance | GitProvenance | None  # carried to each finding unchanged

    def __init__(self, data: bytes, path: str, git_status: str | None = None,
                 provenance: FileProvenance | GitProvenance | None = None) -> None:
        self._set(data=data, path=path, git_status=git_status, provenance=provenance)


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
               "paired_with", "git_status", "example", "environment", "reason", "count", "provenance", "verification",
               "verify", "paired_with_all")
    _KEY = _FIELDS[:14]  # count, provenance, verification and verify are not part of a finding's identity
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
    environment: str | None  # production | testnet | demo | th, where the context tells
    reason: str | None  # why a `private_key` (no Binance word around it) might be Binance's
    count: int  # times the secret occurs in the file; `line` is the first
    provenance: FileProvenance | GitProvenance | None  # where it came from (None: a stream, a report)
    verification: Mapping[str, Any] | None
    verify: str  # the verifier its rule names (rule `verify:`), "" when none
    # every value it was paired with when more than one (a key with its secret and a passphrase):
    # `paired_with` first; () when at most one (then `paired_with` says it all)
    paired_with_all: tuple[str, ...]

    def __init__(self, rule: str, kind: str, path: str, line: int, end_line: int, column: int, secret: str,
                 fingerprint: str = "", confidence: str = "medium", paired_with: str | None = None,
                 git_status: str | None = None, example: bool = False, environment: str | None = None,
                 reason: str | None = None, count: int = 1,
                 provenance: FileProvenance | GitProvenance | None = None,
                 verification: Mapping[str, Any] | None = None, verify: str = "",
                 paired_with_all: tuple[str, ...] = ()) -> None:
        self._set(rule=rule, kind=kind, path=path, line=line, end_line=end_line, column=column, secret=secret,
                  fingerprint=fingerprint, confidence=confidence, paired_with=paired_with, git_status=git_status,
                  example=example, environment=environment, reason=reason, count=count,
                  provenance=provenance, verification=verification, verify=verify,
                  paired_with_all=tuple(paired_with_all))

    @property
    def redacted(self) -> str:
        return redact(self.secret)

    @property
    def git(self) -> GitProvenance | None:
        """Its git provenance, if it came from a repository's objects."""
        p = self.provenance
        return p if isinstance(p, GitProvenance) else None

    @property
    def staged(self) -> bool:
        """Read from the index by `staged`: never committed."""
        p = self.provenance
        return isinstance(p, FileProvenance) and p.staged

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
            "count": self.count,
        }
        if self.paired_with_all:
            d["paired_with_all"] = list(self.paired_with_all)
        if self.example:
            d["example"] = True
        if self.environment:
            d["environment"] = self.environment
        if self.reason:
            d["reason"] = self.reason
        if self.provenance is not None:
            d.update(self.provenance.to_dict())
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
        # what should have been read and could not be (a missing or corrupt git object, a file without
        # read permission): the scan is incomplete. The first UNREADABLE_SHOWN are named, all are counted.
        self.unreadable: list[str] = []
        self.unreadable_count = 0

    def unread(self, what: str) -> None:
        """One object or file (`what`: its id or path and why, one line, never contents) was not read."""
        self.unreadable_count += 1
        if len(self.unreadable) < UNREADABLE_SHOWN:
            self.unreadable.append(what)

    @property
    def incomplete(self) -> bool:
        """Something that should have been scanned was not: never report this run as clean."""
        return self.unreadable_count > 0

    def incomplete_note(self) -> str:
        """One line saying the scan is incomplete, for every report format."""
        return (f"INCOMPLETE: {self.unreadable_count} object(s) or file(s) could not be read and were not "
                "scanned; this is not a clean result")

    def unreadable_lines(self, limit: int = UNREADABLE_SHOWN) -> list[str]:
        """The named unreadable items (at most `limit`), then '... and N more' if some are not named."""
        shown = self.unreadable[:limit]
        rest = self.unreadable_count - len(shown)
        return shown + ([f"... and {rest} more"] if rest > 0 else [])

    def merge(self, other: ScanStats) -> None:
        """Add another worker's counts to these (errors and unreadable items are appended)."""
        self.files_scanned += other.files_scanned
        self.bytes_scanned += other.bytes_scanned
        for k, v in other.skipped.items():
            self.skip(k, v)
        for k, v in other.suppressed.items():
            self.suppress(k, v)
        self.errors.extend(other.errors)
        for what in other.unreadable:
            self.unread(what)
        self.unreadable_count += other.unreadable_count - len(other.unreadable)

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
            "incomplete": self.incomplete,
            "unreadable": {"count": self.unreadable_count, "items": list(self.unreadable)},
        }
        d.update(self.extra)
        return d


class ScanResult:
    """What a scan found, its counts, and the rules it ran: reporters render each finding's title and
    remediation from its rule (a user's rule included), never from rules of their own."""

    def __init__(self, findings: list[Finding], stats: ScanStats, tool: str = "cexguard",
                 rules: Sequence[Rule] = ()) -> None:
        self.findings = findings
        self.stats = stats
        self.tool = tool
        self.rules = tuple(rules)

    def rule(self, rule_id: str) -> Rule | None:
        """The rule a finding names (None: a finding made elsewhere, e.g. read back from a report)."""
        for r in self.rules:
            if r.id == rule_id:
                return r
        return None

    def title(self, f: Finding) -> str:
        """What to call a finding: its rule's title, else its kind."""
        r = self.rule(f.rule)
        return r.display_title if r is not None else f.kind

    def matched_rules(self) -> list[Rule]:
        """The rules of the findings, in rule order, once each."""
        ids = {f.rule for f in self.findings}
        return [r for r in self.rules if r.id in ids]
