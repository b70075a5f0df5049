"""A history audit's findings as incidents: one per secret (fingerprint), ordered by how urgent it is.

Severity, most urgent first: verified live (with --verify), present at HEAD, reachable from a ref,
only in the reflog, only in unreachable objects. Within a severity: confidence, then the longest
exposure. Shared by the text and HTML reports.
"""
from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence

from scanner.models import Finding, GitProvenance, ScanResult

SEVERITIES = ("live", "head", "files", "staged", "refs", "reflog", "unreachable")
LABELS = {"live": "verified live", "head": "present at HEAD", "files": "in the scanned files",
          "staged": "staged, never committed", "refs": "reachable from a ref", "reflog": "reflog only",
          "unreachable": "unreachable"}
_CONF = {"high": 0, "medium": 1, "low": 2}
# {revoke}: the matched rule's `revoke_hint` (the one step that kills the credential)
ADVICE = {
    "live": "LIVE: {revoke} now, then review the account's trades and withdrawals",
    "head": "{revoke} now, then move it out of the file (history keeps it)",
    "files": "move it to an environment variable or a secret manager; {revoke} if it was ever committed, pushed "
             "or shared",
    "staged": "unstage it (git restore --staged FILE) and move it to an environment variable; {revoke} if it was "
              "exposed elsewhere",
    "refs": "{revoke}: no longer at HEAD, but every clone of these refs has it",
    "reflog": "{revoke} if it was ever pushed or shared; locally only the reflog holds it (git reflog expire "
              "--expire=now --all && git gc --prune=now)",
    "unreachable": "{revoke} if it was ever pushed or shared; locally only unreachable objects hold it (git gc "
                   "--prune=now drops them)",
}
DEFAULT_REVOKE = "revoke it where it was issued"


def revoke_hint(result: ScanResult, rule_id: str) -> str:
    """The matched rule's one step that kills the credential (rule `revoke_hint`)."""
    r = result.rule(rule_id)
    return r.revoke_hint if r is not None and r.revoke_hint else DEFAULT_REVOKE


def is_audit(result: ScanResult) -> bool:
    """A history audit's result (its findings carry their git history)."""
    return any(f.git is not None and f.git.mapped for f in result.findings)


_NO_HISTORY = GitProvenance()  # what a finding without git history reads as


def _git(f: Finding) -> GitProvenance:
    return f.git or _NO_HISTORY


def severity_of(f: Finding) -> str:
    if f.verification and f.verification.get("status") == "live":
        return "live"
    if f.staged:
        return "staged"
    g = f.git
    if g is None or not g.mapped:
        return "files"
    if g.present_at_head:
        return "head"
    if g.reachable == "refs" or g.refs:
        return "refs"
    if g.reachable == "reflog":
        return "reflog"
    return "unreachable"


def day(ts: object) -> str:
    return str(ts)[:10] if ts else "?"


class Incident:
    """Every place one secret was found."""

    def __init__(self, fingerprint: str, findings: Sequence[Finding], result: ScanResult | None = None):
        self.fingerprint = fingerprint
        self.findings = sorted(findings, key=lambda f: (SEVERITIES.index(severity_of(f)),
                                                        _git(f).first_seen or "~", f.path, f.line))
        self.number = 0
        first = self.findings[0]
        self.kind = first.kind
        self.rule = first.rule
        self.title = result.title(first) if result is not None else first.kind
        self.revoke = revoke_hint(result, first.rule) if result is not None else DEFAULT_REVOKE
        self.redacted = first.redacted
        self.severity = min((severity_of(f) for f in findings), key=SEVERITIES.index)
        self.confidence = min((f.confidence for f in findings), key=lambda c: _CONF.get(c, 3))
        self.example = all(f.example for f in findings)
        dated = [f for f in findings if _git(f).first_seen]
        self.origin = min(dated, key=lambda f: _git(f).first_seen or "") if dated else first
        self.first_seen = _git(self.origin).first_seen
        self.refs = sorted({r for f in findings for r in _git(f).refs})
        days = [d for f in findings if (d := _git(f).exposure_days) is not None]
        self.exposure_days = max(days) if days else None
        removed = [f for f in findings if _git(f).removed_at]
        self.removed = max(removed, key=lambda f: _git(f).removed_at or "") if removed else None
        self.paired = sorted({f.paired_with for f in findings if f.paired_with})
        statuses = [str(f.verification.get("status")) for f in findings if f.verification]
        self.verification = statuses[0] if statuses else None

    @property
    def until(self) -> str:
        if self.severity in ("live", "head") and any(_git(f).present_at_head for f in self.findings):
            return "still present at HEAD"
        if self.removed is not None:
            g = _git(self.removed)
            return f"removed in {(g.removed_in or '')[:10]} on {day(g.removed_at)}"
        if self.severity == "reflog":
            return "only in the reflog"
        if self.severity == "unreachable":
            return "only in unreachable objects"
        if self.severity in ("files", "staged"):
            return "still in the files"
        return "not at HEAD"

    @property
    def who(self) -> str:
        return _git(self.origin).author or "unknown"

    @property
    def since(self) -> str:
        g = _git(self.origin)
        if not g.commit:
            if self.severity in ("files", "staged") or g.reachable == "index":
                return "never committed"
            return "no commit names it"
        return f"{day(g.first_seen)} in {g.commit[:10]}"

    @property
    def advice(self) -> str:
        return ADVICE[self.severity].format(revoke=self.revoke)

    def timeline(self) -> list[tuple[str, str]]:
        """(date or '', event) from first seen to now."""
        events: list[tuple[str, str]] = []
        g = _git(self.origin)
        if g.commit:
            events.append((day(g.first_seen),
                           f"first committed at {self.origin.path} in {g.commit[:10]} by {self.who}"))
        for f in self.findings:
            if f is not self.origin and _git(f).commit:
                events.append((day(_git(f).first_seen), f"also committed at {f.path}"))
        if self.removed is not None:
            r = _git(self.removed)
            events.append((day(r.removed_at), f"removed from {self.removed.path} in {str(r.removed_in)[:10]}"))
        if any(_git(f).present_at_head for f in self.findings):
            events.append(("now", "still present at HEAD"))
        elif self.severity == "reflog":
            events.append(("now", "only the reflog holds it"))
        elif self.severity == "unreachable" or any(_git(f).reachable == "unreachable" for f in self.findings):
            events.append(("now", "still in unreachable objects (until git gc prunes them)"))
        elif self.refs:
            events.append(("now", f"still in the history of {len(self.refs)} ref(s)"))
        if self.verification:
            events.append(("now", f"verified: {self.verification}"))
        return sorted(events, key=lambda e: (e[0] == "now", e[0]))


def incidents(result: ScanResult) -> list[Incident]:
    groups: dict[str, list[Finding]] = {}
    for f in result.findings:
        groups.setdefault(f.fingerprint, []).append(f)
    out = [Incident(fp, fs, result) for fp, fs in groups.items()]
    out.sort(key=lambda i: (SEVERITIES.index(i.severity), _CONF.get(i.confidence, 3), -(i.exposure_days or -1),
                            -len(i.findings), str(i.first_seen or "~"), i.kind, i.fingerprint))
    for n, i in enumerate(out, 1):
        i.number = n
    return out


def summary(result: ScanResult, incs: list[Incident]) -> list[str]:
    """The block on top: counts by severity and kind, the worst exposure, verification counts."""
    lines = [f"{len(incs)} secret(s) in {len(result.findings)} place(s)"]
    by_sev = {s: sum(1 for i in incs if i.severity == s) for s in SEVERITIES}
    lines.append("  " + "   ".join(f"{LABELS[s]}: {n}" for s, n in by_sev.items() if n))
    kinds: dict[str, int] = {}
    for i in incs:
        kinds[i.kind] = kinds.get(i.kind, 0) + 1
    lines.append("  by kind: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    worst = max((i for i in incs if i.exposure_days is not None), key=lambda i: i.exposure_days or 0, default=None)
    if worst is not None:
        lines.append(f"  longest exposure: {worst.exposure_days} day(s) (#{worst.number} {worst.redacted}, since "
                     f"{day(worst.first_seen)}, {worst.until})")
    if any(i.verification for i in incs):
        counts: dict[str, int] = {}
        for i in incs:
            if i.verification:
                counts[i.verification] = counts.get(i.verification, 0) + 1
        lines.append("  verified: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return lines


def now_iso() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
