"""SARIF 2.1.0 for GitHub code scanning and other viewers. Fingerprints, never secrets (unless asked).

`artifactLocation.uri` is an RFC 3986 relative reference: the path's bytes percent-encoded (spaces,
`%`, `#`, `?`, `:`, non-ASCII, control characters and bytes that are not UTF-8 all become `%XX`),
so a viewer that decodes it gets the exact file name back. Every other string is valid Unicode.
"""
from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from scanner import __version__
from scanner.models import ScanResult
from scanner.report import notices
from scanner.safetext import json_safe, raw_bytes

# the final OASIS 2.1.0 schema (errata 01), not a draft (SARIF1011: "$schema must refer to the final version")
SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
_LEVEL = {"high": "error", "medium": "error", "low": "warning"}
_SCORE = {"high": "9.0", "medium": "7.0", "low": "5.0"}


def uri_of(path: str) -> str:
    """A relative path as a URI reference: unreserved characters, sub-delimiters, `@` and `/` as they
    are, every other byte percent-encoded."""
    return quote(raw_bytes(path), safe="/!$&'()*+,;=@")


def _rules(result: ScanResult) -> list[dict[str, Any]]:
    """The rules the scan ran (a user's own included, with their words), and any a finding names."""
    known = {r.id: r for r in result.rules}
    ids = sorted({f.rule for f in result.findings} | set(known))
    out = []
    for rid in ids:
        r = known.get(rid)
        desc = r.description if r else rid
        rem = r.remediation if r else ""
        tags = ["security", "secret"] + ([r.verify] if r is not None and r.verify else [])
        out.append({
            "id": rid,
            "name": "".join(p.title() for p in rid.split("-")),
            "shortDescription": {"text": r.display_title if r else rid},
            "fullDescription": {"text": desc},
            "help": {"text": rem, "markdown": rem},
            "defaultConfiguration": {"level": "error"},
            "properties": {"tags": tags, "security-severity": "9.0", "precision": "high"},
        })
    return out


def _invocation(result: ScanResult) -> dict[str, Any]:
    """executionSuccessful is false when objects or files could not be read; each one (the first
    ones, then a count) is a notification, as are the run's other errors."""
    s = result.stats
    notes: list[dict[str, Any]] = [
        {"level": "warning", "message": {"text": e}, "descriptor": {"id": "cexguard/error"}} for e in s.errors[:100]]
    if s.incomplete:
        notes.append({"level": "error", "message": {"text": s.incomplete_note()},
                      "descriptor": {"id": "cexguard/incomplete"}})
        notes += [{"level": "error", "message": {"text": f"not read: {x}"}, "descriptor": {"id": "cexguard/unreadable"}}
                  for x in s.unreadable_lines()]
    inv: dict[str, Any] = {"executionSuccessful": not s.incomplete}
    config = [{"level": "warning", "message": {"text": n}} for n in notices(result)]
    if config:
        inv["toolConfigurationNotifications"] = config
    if notes:
        inv["toolExecutionNotifications"] = notes
    return inv


def render(result: ScanResult, *, show_secrets: bool = False, color: bool = False) -> str:
    rules = _rules(result)
    index = {r["id"]: i for i, r in enumerate(rules)}
    results = []
    for f in result.findings:
        value = f.secret if show_secrets else f.redacted
        msg = f"{result.title(f)} ({f.kind}, {f.confidence} confidence): {value.splitlines()[0]}"
        region: dict[str, Any] = {"startLine": f.line, "endLine": max(f.end_line, f.line), "startColumn": max(f.column, 1)}
        res: dict[str, Any] = {
            "ruleId": f.rule,
            "ruleIndex": index[f.rule],
            "level": _LEVEL.get(f.confidence, "error"),
            "message": {"text": msg},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": uri_of(f.path), "uriBaseId": "%SRCROOT%"},
                                                "region": region}}],
            "partialFingerprints": {"cexguardFingerprint/v1": f.fingerprint},
            "properties": {"kind": f.kind, "confidence": f.confidence, "security-severity": _SCORE[f.confidence]},
        }
        if f.paired_with:
            res["properties"]["pairedWith"] = f.paired_with
        if f.environment:
            res["properties"]["environment"] = f.environment
        if f.reason:
            res["properties"]["reason"] = f.reason
        if f.git is not None and f.git.commit:
            res["properties"]["commit"] = f.git.commit
        if f.git_status:
            res["properties"]["gitStatus"] = f.git_status
        if f.verification:
            res["properties"]["verification"] = dict(f.verification)
        results.append(res)
    doc = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "cexguard", "version": __version__, "semanticVersion": __version__,
                                "informationUri": "https://pypi.org/project/cexguard/", "rules": rules}},
            "results": results,
            "invocations": [_invocation(result)],
            "columnKind": "unicodeCodePoints",
            "originalUriBaseIds": {"%SRCROOT%": {"description": {"text": "The scanned folder or repository."}}},
        }],
    }
    return json.dumps(json_safe(doc), indent=2, default=str) + "\n"
