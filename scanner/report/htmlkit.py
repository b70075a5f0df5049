"""Escaping for HTML reports (shared by every HTML renderer)."""
from __future__ import annotations

import html

from scanner.safetext import safe


def esc(value: object) -> str:
    """`value` as HTML text or attribute value: control characters, bidi controls and bytes that are
    not UTF-8 written as visible escapes (as on a terminal), then &, <, >, " and ' as entities."""
    return html.escape(safe(value if isinstance(value, str) else str(value)), quote=True)


# No script, no network: inline styles only, nothing fetched, nothing run.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; base-uri 'none'; form-action 'none'"
