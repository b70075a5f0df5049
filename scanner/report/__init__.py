"""Reporters: one module per format, each with `render(result, *, show_secrets, color) -> str`.

An explicit registry; a format's module is imported only when that format is asked for.
"""
from __future__ import annotations

import importlib

from scanner.models import ScanResult

WRITERS: dict[str, str] = {
    "text": "scanner.report.text",
    "json": "scanner.report.json_report",
    "sarif": "scanner.report.sarif",
    "github": "scanner.report.github",
    "gitlab": "scanner.report.gitlab",
    "junit": "scanner.report.junit",
}


def render(result: ScanResult, fmt: str, *, show_secrets: bool = False, color: bool = False) -> str:
    mod = importlib.import_module(WRITERS[fmt])
    return mod.render(result, show_secrets=show_secrets, color=color)  # type: ignore[no-any-return]
