"""One report for the organisation: incidents (a secret, by fingerprint) each with its locations
across repositories, a per-repository summary, and the errors.

JSON is the org's own shape (`incidents`, `repositories`, `errors`, `stats`); text shows incidents
then the per-repository table; every other format of `history` (sarif, github, gitlab, junit, and
any writer added to `scanner.report.WRITERS`) gets a ScanResult whose findings carry the repository
as the first path component (`repo/path`) and in `repository`.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from scanner import __version__
from scanner.models import CONFIDENCES, Finding, ScanResult, ScanStats, redact
from scanner.safetext import json_safe, safe

SEVERITIES = ("critical", "high", "medium", "low")
_LOCATION_KEYS = ("commit", "author", "date", "refs", "present_at_head", "first_seen", "removed_in", "removed_at",
                  "exposure", "exposure_days", "reachable", "occurrences", "blob")


def repository_of(f: Finding) -> str:
    """The repository a finding of the organisation's audit came from (its git provenance)."""
    return str(f.git.repository if f.git is not None else None)


@dataclass
class OrgReport:
    findings: list[Finding]  # filtered, each with its provenance's repository
    repositories: list[dict[str, Any]]
    errors: list[dict[str, str]]
    stats: ScanStats
    extra: dict[str, Any] = field(default_factory=dict)
    rules: tuple[Any, ...] = ()  # the rules the audits ran (for each finding's title and remediation)

    def incidents(self, *, show_secrets: bool = False) -> list[dict[str, Any]]:
        return incidents(self.findings, show_secrets=show_secrets)


def severity(findings: list[Finding]) -> str:
    """critical: verified live; otherwise the highest confidence among its locations."""
    if any((f.verification or {}).get("status") == "live" for f in findings):
        return "critical"
    best = max(CONFIDENCES.index(f.confidence) for f in findings)
    return CONFIDENCES[best]


def incidents(findings: list[Finding], *, show_secrets: bool = False) -> list[dict[str, Any]]:
    """Findings grouped by fingerprint: one incident per secret, however many repositories hold it;
    most severe first, then the most widespread."""
    groups: dict[str, list[Finding]] = {}
    for f in findings:
        groups.setdefault(f.fingerprint, []).append(f)
    out = []
    for fp, fs in groups.items():
        first = fs[0]
        repos = sorted({repository_of(f) for f in fs})
        sev = severity(fs)
        verification = next((dict(f.verification) for f in fs if f.verification), None)
        inc: dict[str, Any] = {
            "fingerprint": fp, "rule": first.rule, "kind": first.kind, "redacted": redact(first.secret),
            "severity": sev, "confidence": CONFIDENCES[max(CONFIDENCES.index(f.confidence) for f in fs)],
            "paired_with": sorted({f.paired_with for f in fs if f.paired_with}),
            "repositories": repos,
            "locations": [_location(f) for f in sorted(fs, key=lambda f: (repository_of(f), f.path,
                                                                          f.line))],
        }
        if any(f.example for f in fs):
            inc["example"] = True
        if verification is not None:
            inc["verification"] = verification
        if show_secrets:
            inc["secret"] = first.secret
        out.append(inc)
    out.sort(key=lambda i: (SEVERITIES.index(i["severity"]) if i["severity"] in SEVERITIES else 9,
                            -len(i["repositories"]), -len(i["locations"]), i["kind"], i["fingerprint"]))
    return out


def _location(f: Finding) -> dict[str, Any]:
    d: dict[str, Any] = {"repository": f.git.repository if f.git is not None else None, "path": f.path,
                         "line": f.line, "end_line": f.end_line, "column": f.column, "confidence": f.confidence}
    prov = f.provenance.to_dict() if f.provenance is not None else {}
    for k in _LOCATION_KEYS:
        if k in prov:
            d[k] = prov[k]
    return d


def as_scan_result(report: OrgReport) -> ScanResult:
    """For the formats that list findings (sarif, github, ...): the repository as the path's first part."""
    fs = [f.replace(path=f"{repository_of(f)}/{f.path}") for f in report.findings]
    stats = report.stats
    stats.errors = [f"{e['repository']}: {e['message']}" for e in report.errors]
    return ScanResult(findings=fs, stats=stats, rules=report.rules)


def render_json(report: OrgReport, *, show_secrets: bool = False) -> str:
    doc = {
        "tool": {"name": "cexguard", "version": __version__},
        "incidents": report.incidents(show_secrets=show_secrets),
        "repositories": report.repositories,
        "errors": report.errors,
        "stats": {**report.stats.to_dict(), **report.extra},
    }
    return json.dumps(json_safe(doc), indent=2, default=str) + "\n"


def table(rows: list[dict[str, Any]]) -> str:
    """The per-repository summary: what was audited, blobs, findings, errors, duration."""
    from scanner.sources.progress import human_bytes

    head = ("repository", "audit", "blobs", "size", "findings", "new", "seconds", "error")
    lines = [[safe(r["name"]), r["mode"], f"{r['blobs']:,}", human_bytes(r["bytes"]), str(r["findings"]),
              str(r["new_findings"]), f"{r['duration']:.1f}", safe(r["error"] or "")[:80]] for r in rows]
    widths = [max(len(h), *(len(x[i]) for x in lines)) if lines else len(h) for i, h in enumerate(head)]
    fmt = lambda cells: "  ".join(c.ljust(w) if i in (0, 1, 7) else c.rjust(w)  # noqa: E731
                                  for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    return "\n".join([fmt(head), fmt(["-" * w for w in widths]), *(fmt(x) for x in lines)]) + "\n"


_ORG_SEV_COLORS = {"critical": "\033[1;41;97m", "high": "\033[1;31m", "medium": "\033[33m"}
_BOLD, _RESET = "\033[1m", "\033[0m"


def render_text(report: OrgReport, *, show_secrets: bool = False, color: bool = False) -> str:
    from scanner.report.text import what_to_do

    out: list[str] = []
    incs = report.incidents(show_secrets=show_secrets)
    for n, inc in enumerate(incs, 1):
        value = inc.get("secret") or inc["redacted"]
        if "\n" in value:
            value = value.splitlines()[0] + " ..."
        where = f"{len(inc['repositories'])} repositor{'y' if len(inc['repositories']) == 1 else 'ies'}"
        tags = [inc["severity"]] + (["documentation example"] if inc.get("example") else [])
        b, r = (_BOLD, _RESET) if color else ("", "")
        sc = _ORG_SEV_COLORS.get(inc["severity"], "") if color else ""
        out.append(f"{b}incident {n}{r}: {inc['kind']}  {sc}[{', '.join(tags)}]{r}  {where}, "
                   f"{len(inc['locations'])} location(s)")
        out.append(f"    value: {safe(value)}    fingerprint: {inc['fingerprint']}")
        if inc.get("verification"):
            out.append(safe(f"    verification: {inc['verification'].get('status')}"))
        for loc in inc["locations"]:
            commit = f"  commit {str(loc['commit'])[:12]} {loc.get('date') or ''}" if loc.get("commit") else ""
            reach = f"  ({loc['reachable']})" if loc.get("reachable") not in (None, "refs") else ""
            out.append(safe(f"    {loc['repository']}: {loc['path']}:{loc['line']}{commit}{reach}").rstrip())
    if incs:
        out += ["", *what_to_do(as_scan_result(report)), ""]
    out.append(table(report.repositories).rstrip("\n"))
    for e in report.errors[:50]:
        out.append(safe(f"error: {e['repository']}: {e['message']}"))
    if len(report.errors) > 50:
        out.append(f"error: ... and {len(report.errors) - 50} more")
    out.append(summary_line(report, len(incs)))
    return "\n".join(out) + "\n"


def summary_line(report: OrgReport, n_incidents: int | None = None) -> str:
    n = len(report.incidents()) if n_incidents is None else n_incidents
    x = report.extra
    return (f"cexguard: org: {n} incident(s) in {len(report.findings)} location(s) across "
            f"{x.get('repositories_with_findings', 0)} repositor(ies); {x.get('repositories', 0)} repositories "
            f"({x.get('audited', 0)} audited, {x.get('unchanged', 0)} unchanged, {x.get('failed', 0)} failed)")


def render(report: OrgReport, fmt: str, *, show_secrets: bool = False, color: bool = False) -> str:
    if fmt == "json":
        return render_json(report, show_secrets=show_secrets)
    if fmt == "text":
        return render_text(report, show_secrets=show_secrets, color=color)
    from scanner.report import render as render_findings

    return render_findings(as_scan_result(report), fmt, show_secrets=show_secrets, color=color)


def verify_once(findings: list[Finding], *, api_url: str | None,
                verify: Any = None) -> list[Finding]:
    """--verify in the client: each distinct (key, secret) pair once, however many repositories and
    paths hold it; the verdict is copied onto every location."""
    if verify is None:
        from scanner.remote.verify import verify_findings as verify
    reps: dict[tuple[str, str | None], Finding] = {}
    for f in findings:
        reps.setdefault((f.fingerprint, f.paired_with), f)
    checked = verify(list(reps.values()), api_url=api_url)
    verdict: Mapping[tuple[str, str | None], Any] = {(f.fingerprint, f.paired_with): f.verification for f in checked}
    return [f.replace(verification=verdict.get((f.fingerprint, f.paired_with))) for f in findings]
