"""One self-contained HTML file (`--format html -o audit.html`): readable offline, nothing fetched.

Inline CSS and JavaScript only (no CDN, no font, no image, no network request of any kind; a
Content-Security-Policy forbids them). The same grouping as the text report: a summary, then a
table of incidents (one per secret) that sorts on a click on any column header and filters by
text and severity, and under it each secret's timeline (first seen -> removed -> still in
unreachable objects, or still present). Values are always redacted, even with --show-secrets:
an HTML report gets mailed around and attached to tickets.
"""
from __future__ import annotations

from html import escape

from scanner import __version__
from scanner.safetext import safe

TYPE_CHECKING = False
if TYPE_CHECKING:
    from scanner.models import ScanResult

CSS = """
:root{--bg:#fff;--fg:#1d2330;--mut:#5c6473;--line:#d9dde5;--live:#8b0000;--head:#c62828;--files:#c62828;
--staged:#e65100;--refs:#d84315;--reflog:#b7791f;--unreachable:#1f6f8b}
*{box-sizing:border-box}body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;
color:var(--fg);background:var(--bg)}header{padding:18px 28px;background:#1d2330;color:#fff}
header h1{margin:0;font-size:20px}header p{margin:4px 0 0;color:#c5cad3}main{padding:18px 28px}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:0 0 16px}.card{border:1px solid var(--line);border-radius:6px;
padding:8px 14px;min-width:120px}.card b{display:block;font-size:22px}.card>span{color:var(--mut);font-size:12px}
.sev{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-size:12px;white-space:nowrap}
.sev-live{background:var(--live)}.sev-head{background:var(--head)}.sev-files{background:var(--files)}
.sev-staged{background:var(--staged)}.sev-refs{background:var(--refs)}.sev-reflog{background:var(--reflog)}
.sev-unreachable{background:var(--unreachable)}.controls{margin:10px 0;display:flex;gap:10px;align-items:center}
input,select{font:inherit;padding:4px 8px;border:1px solid var(--line);border-radius:4px}
table{border-collapse:collapse;width:100%}th,td{border-bottom:1px solid var(--line);padding:6px 8px;
text-align:left;vertical-align:top}th{cursor:pointer;user-select:none;background:#f4f6f9;position:sticky;top:0}
th[aria-sort=ascending]::after{content:" \\25B2"}th[aria-sort=descending]::after{content:" \\25BC"}
code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace}.mut{color:var(--mut)}
.tl{list-style:none;margin:6px 0 0;padding:0 0 0 14px;border-left:3px solid var(--line)}
.tl li{margin:0 0 4px;position:relative}.tl li::before{content:"";position:absolute;left:-20px;top:6px;width:9px;
height:9px;border-radius:50%;background:var(--mut)}.tl .d{display:inline-block;min-width:92px;color:var(--mut)}
section.inc{border:1px solid var(--line);border-radius:6px;padding:10px 14px;margin:12px 0}
section.inc h3{margin:0 0 4px;font-size:15px}.do{margin:6px 0 0}footer{padding:12px 28px;color:var(--mut)}
"""

JS = """
(function(){
var table=document.getElementById('incidents'),body=table.tBodies[0];
var rows=Array.prototype.slice.call(body.rows);
function key(row,i){var c=row.cells[i];var v=c.getAttribute('data-sort');return v===null?c.textContent.trim():v;}
Array.prototype.forEach.call(table.tHead.rows[0].cells,function(th,i){
 th.addEventListener('click',function(){
  var dir=th.getAttribute('aria-sort')==='ascending'?'descending':'ascending';
  Array.prototype.forEach.call(table.tHead.rows[0].cells,function(h){h.removeAttribute('aria-sort');});
  th.setAttribute('aria-sort',dir);
  var num=th.getAttribute('data-type')==='number';
  rows.sort(function(a,b){var x=key(a,i),y=key(b,i);
   var r=num?(parseFloat(x)||0)-(parseFloat(y)||0):x.localeCompare(y);return dir==='ascending'?r:-r;});
  rows.forEach(function(r){body.appendChild(r);});
 });
});
var q=document.getElementById('q'),sev=document.getElementById('sev'),shown=document.getElementById('shown');
function filter(){var t=q.value.toLowerCase(),s=sev.value,n=0;
 rows.forEach(function(r){var ok=(!t||r.textContent.toLowerCase().indexOf(t)>=0)&&(!s||r.getAttribute('data-sev')===s);
  r.style.display=ok?'':'none';if(ok)n++;});shown.textContent=n;}
q.addEventListener('input',filter);sev.addEventListener('change',filter);
// a link can carry a view: #q=TEXT&sev=SEVERITY&sort=COLUMN:asc|desc
var h={};location.hash.replace(/^#/,'').split('&').forEach(function(p){var kv=p.split('=');
 if(kv[0])h[decodeURIComponent(kv[0])]=decodeURIComponent(kv.slice(1).join('='));});
if(h.sort){var sp=h.sort.split(':'),th=table.tHead.rows[0].cells[parseInt(sp[0],10)];
 if(th){if(sp[1]==='desc')th.setAttribute('aria-sort','ascending');th.click();}}
if(h.q)q.value=h.q;if(h.sev)sev.value=h.sev;filter();
document.body.setAttribute('data-ready','1');
})();
"""


def _e(s: object) -> str:
    return escape(safe(str(s)), quote=True)


def render(result: ScanResult, *, show_secrets: bool = False, color: bool = False) -> str:
    from scanner.report import notices
    from scanner.report.audit import LABELS, SEVERITIES, day, incidents, now_iso, summary

    incs = incidents(result)
    number = {i.fingerprint: i.number for i in incs}
    s = result.stats
    counts = {sev: sum(1 for i in incs if i.severity == sev) for sev in SEVERITIES}
    cards = [f'<div class="card"><b>{len(incs)}</b><span>secret(s), {len(result.findings)} place(s)</span></div>']
    cards += [f'<div class="card"><b>{n}</b><span><span class="sev sev-{k}">{_e(LABELS[k])}</span></span></div>'
              for k, n in counts.items() if n]
    lines = summary(result, incs)[1:] if incs else []
    rows = []
    for i in incs:
        first = i.findings[0]
        where = f"{first.path}:{first.line}" + (f" (+{len(i.findings) - 1})" if len(i.findings) > 1 else "")
        rows.append(
            f'<tr data-sev="{i.severity}">'
            f'<td data-sort="{i.number:05d}">#{i.number}</td>'
            f'<td data-sort="{SEVERITIES.index(i.severity)}"><span class="sev sev-{i.severity}">'
            f'{_e(LABELS[i.severity])}</span></td>'
            f"<td>{_e(i.kind)}</td><td><code>{_e(i.redacted)}</code></td><td>{_e(i.confidence)}</td>"
            f"<td><code>{_e(where)}</code></td><td>{_e(day(i.first_seen) if i.first_seen else '')}</td>"
            f"<td>{_e(i.until)}</td><td data-sort=\"{i.exposure_days if i.exposure_days is not None else -1}\">"
            f"{'' if i.exposure_days is None else i.exposure_days}</td>"
            f"<td>{_e(', '.join(i.refs[:5]) + (' …' if len(i.refs) > 5 else ''))}</td><td>{_e(i.who)}</td></tr>")
    details = []
    for i in incs:
        places = "".join(
            f"<li><code>{_e(f.path)}:{f.line}</code> <span class=\"mut\">"
            f"{_e(LABELS.get(_sev(f), ''))}{_e(' · ' + f.git.commit[:10]) if f.git is not None and f.git.commit else ''}"
            f"</span></li>" for f in i.findings)
        tl = "".join(f'<li><span class="d">{_e(d)}</span>{_e(ev)}</li>' for d, ev in i.timeline())
        pair = ""
        if i.paired:
            pair = " · paired with " + ", ".join(f"#{number[p]}" if p in number else _e(p[:19]) for p in i.paired)
        details.append(
            f'<section class="inc" id="incident-{i.number}"><h3>#{i.number} <span class="sev sev-{i.severity}">'
            f"{_e(LABELS[i.severity])}</span> {_e(i.title)} ({_e(i.kind)}) <code>{_e(i.redacted)}</code></h3>"
            f'<div class="mut"><code>{_e(i.fingerprint)}</code> · confidence {_e(i.confidence)}{pair}</div>'
            f"<div>since {_e(i.since)} · until {_e(i.until)} · who {_e(i.who)}</div>"
            f'<ol class="tl" aria-label="timeline">{tl}</ol>'
            f"<details><summary>{len(i.findings)} place(s)</summary><ul>{places}</ul></details>"
            f'<p class="do"><b>What to do:</b> {_e(i.advice)}</p>'
            + (f'<p class="do"><b>How to fix:</b> {_e(fix)}</p>' if (fix := _remediation(result, i.rule)) else "")
            + "</section>")
    options = "".join(f'<option value="{k}">{_e(LABELS[k])}</option>' for k, n in counts.items() if n)
    notes = "".join(f"<li>{_e(n)}</li>" for n in notices(result) + s.errors[:50])
    head = ("<th data-type=\"number\">#</th><th>severity</th><th>kind</th><th>value (redacted)</th>"
            "<th>confidence</th><th>where</th><th>since</th><th>until</th><th data-type=\"number\">days</th>"
            "<th>refs</th><th>who</th>")
    empty = "" if incs else "<p><b>No credentials found.</b></p>"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>cexguard report</title><style>{CSS}</style></head>
<body><header><h1>cexguard report</h1><p>{len(incs)} secret(s) in {len(result.findings)} place(s) ·
{s.files_scanned} file(s) scanned · generated {_e(now_iso())} by cexguard {_e(__version__)} · values redacted</p></header>
<main>
<div class="cards">{''.join(cards)}</div>
{''.join(f'<div class="mut">{_e(x.strip())}</div>' for x in lines)}
{empty}
<h2>Incidents</h2>
<div class="controls"><input id="q" type="search" placeholder="filter: path, kind, author, ref..." aria-label="filter">
<select id="sev" aria-label="severity"><option value="">every severity</option>{options}</select>
<span class="mut"><span id="shown">{len(incs)}</span> shown</span></div>
<table id="incidents"><thead><tr>{head}</tr></thead><tbody>
{''.join(rows)}
</tbody></table>
<h2>Timelines</h2>
{''.join(details)}
{f'<h2>Notices</h2><ul>{notes}</ul>' if notes else ''}
</main>
<footer>Removing a key from the files, or even from history, does not un-leak it: revoke it where it was issued
(each incident says how). <code>cexguard verify</code> tells whether a key is live.</footer>
<script>{JS}</script>
</body></html>
"""


def _remediation(result: ScanResult, rule_id: str) -> str:
    r = result.rule(rule_id)
    return r.remediation if r is not None else ""


def _sev(f: object) -> str:
    from scanner.report.audit import severity_of

    return severity_of(f)  # type: ignore[arg-type]
