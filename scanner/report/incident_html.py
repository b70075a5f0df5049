"""The incident record as one self-contained HTML file: inline CSS, no script, nothing fetched (a
Content-Security-Policy forbids it too), every value escaped, keys redacted."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from scanner.remote.incident import sections
from scanner.report.htmlkit import CSP, esc

STYLE = """
body{font:15px/1.45 -apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:2em auto;max-width:72em;
color:#1d2330;padding:0 1em}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;margin-top:1.8em;border-bottom:1px solid #d5d9e0}
.meta{color:#5b6475}.status{display:inline-block;padding:.1em .6em;border-radius:.3em;font-weight:600}
.open{background:#fde2e1;color:#8a1c14}.closed{background:#dff5e1;color:#1b5e20}
table{border-collapse:collapse;width:100%;margin:.6em 0;font-size:.92em}
th,td{border:1px solid #d5d9e0;padding:.3em .5em;text-align:left;vertical-align:top;word-break:break-word}
th{background:#f3f5f8}td.done{color:#1b5e20;font-weight:600}td.left{color:#8a1c14;font-weight:600}
td.unknown{color:#8a5a00;font-weight:600}code{font-size:.95em}
"""


def render_html(inc: Mapping[str, Any]) -> str:
    key = inc["key"]
    title = f"Incident: leaked Binance API key {key.get('redacted') or key['fingerprint']}"
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           f'<meta http-equiv="Content-Security-Policy" content="{esc(CSP)}">',
           '<meta name="referrer" content="no-referrer">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{esc(title)}</title>", f"<style>{STYLE}</style>", "</head>", "<body>",
           f"<h1>{esc(title)}</h1>",
           f'<p class="meta">Fingerprint <code>{esc(key["fingerprint"])}</code> &middot; generated '
           f'{esc(inc["generated_at"])} by cexguard &middot; <span class="status {esc(inc["status"])}">'
           f'{esc(inc["status"].upper())}</span> &middot; secrets are never included</p>']
    for sec in sections(inc):
        out.append(f"<h2>{esc(sec.title)}</h2>")
        out += [f"<p>{esc(p)}</p>" for p in sec.paragraphs]
        if sec.items:
            out.append("<ul>" + "".join(f"<li>{esc(i)}</li>" for i in sec.items) + "</ul>")
        if sec.table:
            headers, rows = sec.table
            out.append("<table><thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in headers) + "</tr></thead><tbody>")
            for row in rows:
                cells = "".join(f'<td class="{esc(c)}">{esc(c)}</td>' if c in ("done", "left", "unknown")
                                else f"<td>{esc(c)}</td>" for c in row)
                out.append(f"<tr>{cells}</tr>")
            out.append("</tbody></table>")
        out += [f"<p>{esc(p)}</p>" for p in sec.after]
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"
