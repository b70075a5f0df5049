"""JSON: {"tool": {...}, "findings": [...], "rules": [...], "stats": {...}}. Secrets only with --show-secrets.

`rules` describes the rules the findings name (id, kind, title, description, remediation, verifier),
in the rules' own words: a user's rule included.

Every string is valid Unicode, and the output is ASCII (control characters and anything beyond
ASCII are JSON escapes). A path that is not UTF-8 is written with each such byte as `\\xNN`, and the
finding carries `path_bytes_b64`, the path's exact bytes in base64.
"""
from __future__ import annotations

import json
from typing import Any

from scanner import __version__
from scanner.models import Finding, ScanResult
from scanner.safetext import json_safe, path_bytes_b64


def render(result: ScanResult, *, show_secrets: bool = False, color: bool = False) -> str:
    doc = {
        "tool": {"name": "cexguard", "version": __version__},
        "findings": [_finding(f, show_secrets) for f in result.findings],
        "rules": rules_of(result),
        "stats": result.stats.to_dict(),
    }
    return json.dumps(json_safe(doc), indent=2, default=str) + "\n"


def rules_of(result: ScanResult) -> list[dict[str, Any]]:
    return [{"id": r.id, "kind": r.kind, "title": r.display_title, "description": r.description,
             "remediation": r.remediation, "verify": r.verify or None} for r in result.matched_rules()]


def _finding(f: Finding, show_secrets: bool) -> dict[str, Any]:
    d = f.to_dict(show_secrets=show_secrets)
    exact = path_bytes_b64(f.path)
    if exact is not None:
        d["path_bytes_b64"] = exact
    return d
