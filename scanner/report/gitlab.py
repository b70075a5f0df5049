"""GitLab secret-detection report (security report schema 15.x) for `artifacts:reports:secret_detection`.

Each finding becomes a vulnerability with a stable id (derived from its fingerprint and path), the
rule as identifier, its location (file, lines, commit) and a severity from its confidence. The raw
secret is included (`raw_source_code_extract`) only with --show-secrets. A file name that is not
UTF-8 is written with each such byte as `\\xNN` (`scanner.safetext.json_text`).
"""
from __future__ import annotations

import datetime as _dt
import json
import uuid
from typing import Any

from scanner import __version__
from scanner.models import Finding, ScanResult
from scanner.report import notices
from scanner.safetext import json_safe, json_text

SCHEMA_VERSION = "15.1.4"
SCHEMA_URL = ("https://gitlab.com/gitlab-org/security-products/security-report-schemas/-/raw/"
              f"v{SCHEMA_VERSION}/dist/secret-detection-report-format.json")
_SEVERITY = {"high": "Critical", "medium": "High", "low": "Medium"}
_NS = uuid.UUID("6f1c7a52-3c1e-4d8e-9a55-1f2b3c4d5e6f")
NO_COMMIT = "0000000"  # what GitLab's own analyzer writes when a finding has no commit
HISTORY_NOTE = "Removing it from the file does not remove it from git history."


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def _vulnerability(f: Finding, result: ScanResult, show_secrets: bool) -> dict[str, Any]:
    g = f.git
    name = result.title(f)
    rule = result.rule(f.rule)
    solution = f"{rule.remediation} {HISTORY_NOTE}" if rule is not None and rule.remediation else HISTORY_NOTE
    desc = f"{name} found ({f.confidence} confidence), fingerprint {f.fingerprint}."
    if g is not None and g.commit:
        desc += f" First committed in {g.commit} on {g.date}; exposure {g.exposure}."
        if g.refs:
            desc += " Refs: " + ", ".join(g.refs[:10]) + "."
    if f.example:
        desc += " This is a published documentation example key."
    commit: dict[str, Any] = {"sha": (g.commit if g is not None else None) or NO_COMMIT}
    if g is not None and g.author:
        commit["author"] = g.author
    if g is not None and g.date:
        commit["date"] = g.date
    location: dict[str, Any] = {"file": f.path, "start_line": f.line, "end_line": max(f.end_line, f.line),
                                "commit": commit}
    vuln: dict[str, Any] = {
        "id": str(uuid.uuid5(_NS, json_text(f"{f.fingerprint}\0{f.path}\0{(g.commit if g is not None else None) or ''}"))),
        "name": name,
        "description": desc[:1048576],
        "severity": "Info" if f.example else _SEVERITY.get(f.confidence, "High"),
        "solution": solution,
        "identifiers": [{"type": "cexguard_rule_id", "name": f"cexguard {f.rule}", "value": f.rule}],
        "location": location,
    }
    if show_secrets:
        vuln["raw_source_code_extract"] = f.secret
    return vuln


def _messages(result: ScanResult) -> list[dict[str, str]]:
    s = result.stats
    out = [{"level": "warn", "value": e[:1000]} for e in (notices(result) + s.errors)[:50]]
    if s.incomplete:
        out.append({"level": "warn", "value": s.incomplete_note()})
        out += [{"level": "warn", "value": f"not read: {x}"[:1000]} for x in s.unreadable_lines()]
    return out


def render(result: ScanResult, *, show_secrets: bool = False, color: bool = False) -> str:
    now = _now()
    tool = {"id": "cexguard", "name": "cexguard", "version": __version__, "vendor": {"name": "cexguard"}}
    doc = {
        "version": SCHEMA_VERSION,
        "schema": SCHEMA_URL,
        "scan": {
            "analyzer": dict(tool),
            "scanner": dict(tool, url="https://pypi.org/project/cexguard/"),
            "type": "secret_detection",
            "start_time": now,
            "end_time": now,
            "status": "failure" if result.stats.incomplete else "success",
            "messages": _messages(result),
        },
        "vulnerabilities": [_vulnerability(f, result, show_secrets) for f in result.findings],
    }
    return json.dumps(json_safe(doc), indent=2, default=str) + "\n"
