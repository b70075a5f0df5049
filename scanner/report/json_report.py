"""JSON: {"findings": [...], "stats": {...}}. Secrets only with --show-secrets."""
from __future__ import annotations

import json

from scanner import __version__
from scanner.models import ScanResult


def render(result: ScanResult, *, show_secrets: bool = False, color: bool = False) -> str:
    doc = {
        "tool": {"name": "cexguard", "version": __version__},
        "findings": [f.to_dict(show_secrets=show_secrets) for f in result.findings],
        "stats": result.stats.to_dict(),
    }
    return json.dumps(doc, indent=2, default=str) + "\n"
