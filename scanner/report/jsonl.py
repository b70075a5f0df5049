"""JSON Lines for log pipelines: one finding per line (the JSON report's finding objects), then
one last line `{"type": "summary", ...}` with the counts. Secrets only with --show-secrets."""
from __future__ import annotations

import json

from scanner import __version__
from scanner.models import ScanResult
from scanner.report.json_report import _finding, rules_of
from scanner.safetext import json_safe


def render(result: ScanResult, *, show_secrets: bool = False, color: bool = False) -> str:
    lines = []
    for f in result.findings:
        d = {"type": "finding", **_finding(f, show_secrets)}
        lines.append(json.dumps(json_safe(d), default=str, separators=(",", ":")))
    summary = {"type": "summary", "tool": {"name": "cexguard", "version": __version__},
               "findings": len(result.findings), "rules": rules_of(result), "stats": result.stats.to_dict()}
    lines.append(json.dumps(json_safe(summary), default=str, separators=(",", ":")))
    return "\n".join(lines) + "\n"
