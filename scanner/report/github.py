"""GitHub Actions workflow commands: one `::error` annotation per finding, shown on the diff.

    ::error file=PATH,line=L,endLine=E,col=C,title=TITLE::MESSAGE

Values are escaped as the Actions runner expects (`%`, CR, LF everywhere; `:` and `,` in
properties), then every other control character, bidi control and undecodable byte of a file name,
author or server value is written as an escape (`scanner.safetext.safe`): the job log is shown on
terminals too. Secrets appear only redacted unless --show-secrets.
"""
from __future__ import annotations

from scanner.models import Finding, ScanResult
from scanner.safetext import safe

def escape_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(s: str) -> str:
    return escape_data(s).replace(":", "%3A").replace(",", "%2C")


def _message(f: Finding, result: ScanResult, show_secrets: bool) -> str:
    value = f.secret if show_secrets else f.redacted
    value = value.splitlines()[0] if value else value
    parts = [f"{result.title(f)} ({f.confidence} confidence): {value}", f"fingerprint {f.fingerprint}"]
    g = f.git
    if g is not None and g.commit:
        parts.append(f"first committed in {g.commit[:12]} by {g.author} on {g.date}")
        if g.exposure:
            parts.append(f"exposure {g.exposure}")
        if not g.present_at_head:
            parts.append("no longer at HEAD but still in history: revoke it")
    elif g is not None and g.reachable in ("unreachable", "index"):
        parts.append(f"in {'the index only' if g.reachable == 'index' else 'an unreachable object'} "
                     f"{(g.blob or '')[:12]}")
    if f.paired_with:
        parts.append(f"paired with {f.paired_with}")
    if f.verification and f.verification.get("status"):
        parts.append(f"verification: {f.verification['status']}")
    rule = result.rule(f.rule)
    if rule is not None and rule.remediation:
        parts.append(rule.remediation)
    return "; ".join(parts)


def render(result: ScanResult, *, show_secrets: bool = False, color: bool = False) -> str:
    lines = []
    for f in result.findings:
        level = "warning" if f.example or f.confidence == "low" else "error"
        props = []
        if f.path and not f.path.startswith("("):
            props.append(f"file={safe(escape_property(f.path))}")
            props.append(f"line={f.line}")
            if f.end_line and f.end_line != f.line:
                props.append(f"endLine={f.end_line}")
            props.append(f"col={f.column}")
        props.append(f"title={escape_property('cexguard: ' + result.title(f))}")
        lines.append(f"::{level} {','.join(props)}::{safe(escape_data(_message(f, result, show_secrets)))}")
    from scanner.report import notices

    for n in notices(result):
        lines.append(f"::warning title=cexguard config::{safe(escape_data(n))}")
    s = result.stats
    summary = f"cexguard: {len(result.findings)} finding(s) in {s.files_scanned} file(s) scanned"
    if s.incomplete:  # an error annotation: a run that could not read everything is never shown as clean
        unread = "; ".join(s.unreadable_lines(20))
        lines.append(f"::error title={escape_property('cexguard: scan incomplete')}::"
                     f"{escape_data(s.incomplete_note() + ': ' + unread)}")
    lines.append(f"::notice title=cexguard::{escape_data(summary)}")
    return "\n".join(lines) + "\n"
