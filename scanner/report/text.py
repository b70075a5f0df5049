"""Text for people: file:line, kind, confidence, redacted value, and what to do now."""
from __future__ import annotations

from scanner.models import ScanResult
from scanner.safetext import safe

PLAYBOOK = (
    "What to do now:\n"
    "  1. Delete the key in Binance API Management (Delete, not Disable: a disabled key can be re-enabled).\n"
    "  2. Create a new key without withdrawal permission and with an IP whitelist.\n"
    "  3. Keep it out of the code: an environment variable or a secret manager.\n"
    "  4. Review the last 30 days of trades, open orders, withdrawals and API logs.\n"
    "  `cexguard verify` tells whether a key is live; `cexguard revoke` deletes sub-account keys."
)
_COLORS = {"high": "\033[1;31m", "medium": "\033[33m", "low": "\033[36m"}
_RESET = "\033[0m"
_BOLD = "\033[1m"


def render(result: ScanResult, *, show_secrets: bool = False, color: bool = False) -> str:
    out: list[str] = []
    for f in result.findings:
        c = _COLORS.get(f.confidence, "") if color else ""
        r = _RESET if color else ""
        b = _BOLD if color else ""
        where = f"{safe(f.path)}:{f.line}" + (f"-{f.end_line}" if f.end_line != f.line else "") + f":{f.column}"
        value = f.secret if show_secrets else f.redacted
        tags = [f"{c}{f.confidence}{r}"]
        if f.git_status:
            tags.append(f.git_status)
        if f.example:
            tags.append("documentation example")
        if f.environment:
            tags.append(f.environment)
        out.append(f"{b}{where}{r}  {f.kind}  [{', '.join(tags)}]")
        if "\n" in value:
            value = value.splitlines()[0] + " ..."
        out.append(f"    value: {safe(value)}    fingerprint: {f.fingerprint}")
        if f.paired_with:
            out.append(f"    paired with: {f.paired_with}")
        if f.reason:
            out.append(f"    no Binance word nearby; might be Binance's because: {f.reason}")
        meta = f.meta
        if meta.get("commit"):
            out.append(safe(f"    commit: {str(meta['commit'])[:12]} {meta.get('author', '')} {meta.get('date', '')}".rstrip()))
        if f.verification:
            v = f.verification
            out.append(safe(f"    verification: {v.get('status')}" + (f" (risk: {v['risk']})" if v.get("risk") else "")))
    s = result.stats
    skipped = sum(s.skipped.values())
    summary = f"{len(result.findings)} finding(s) in {s.files_scanned} file(s) scanned"
    if skipped:
        summary += "; skipped " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in sorted(s.skipped.items()))
    if s.suppressed:
        summary += "; suppressed " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in sorted(s.suppressed.items()))
    from scanner.report import notices

    for n in notices(result):
        out.append(f"notice: {n}")
    for e in s.errors[:20]:
        out.append(f"warning: {safe(e)}")
    if len(s.errors) > 20:
        out.append(f"warning: ... and {len(s.errors) - 20} more")
    if s.incomplete:
        out.append(f"{s.unreadable_count} object(s) or file(s) could not be read:")
        out.extend(f"    {x}" for x in s.unreadable_lines(20))
        summary += "\n" + s.incomplete_note()
    if result.findings:
        out.append("")
        out.append(PLAYBOOK)
    out.append(summary)
    return "\n".join(out) + "\n"
