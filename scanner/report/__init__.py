"""Reporters: one module per format, each with `render(result, *, show_secrets, color) -> str`.

An explicit registry; a format's module is imported only when that format is asked for.
"""
from __future__ import annotations

import importlib

TYPE_CHECKING = False
if TYPE_CHECKING:
    from scanner.models import ScanResult

WRITERS: dict[str, str] = {
    "text": "scanner.report.text",
    "json": "scanner.report.json_report",
    "jsonl": "scanner.report.jsonl",
    "html": "scanner.report.html",
    "sarif": "scanner.report.sarif",
    "github": "scanner.report.github",
    "gitlab": "scanner.report.gitlab",
    "junit": "scanner.report.junit",
}


def notices(result: ScanResult) -> list[str]:
    """What narrowed or was refused in the scan's config (a repository's excludes, a lowered size
    limit, an ignored min_entropy, ignored rules or examples): every format shows these lines."""
    return [str(n) for n in result.stats.extra.get("config_notices", ())]


def render(result: ScanResult, fmt: str, *, show_secrets: bool = False, color: bool = False) -> str:
    mod = importlib.import_module(WRITERS[fmt])
    return mod.render(result, show_secrets=show_secrets, color=color)  # type: ignore[no-any-return]
