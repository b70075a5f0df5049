"""Text for people.

- A history audit (findings with provenance): a summary block, then one incident per secret,
  most urgent first (verified live, present at HEAD, reachable from a ref, reflog only,
  unreachable), each with one line saying where / since / until / who / refs and one saying what
  to do; every other place that holds the secret underneath; the rules' remediation once.
- `staged` (what a commit adds, never committed yet): each finding, then what to do about a key
  that was only staged (unstage it, move it to an environment variable), and also delete it in
  Binance when it may have been exposed elsewhere (found in a branch, tag or remote).
- `scan`: each finding (file:line, kind, confidence, git status, redacted value), then what to do.
"""
from __future__ import annotations

from scanner.models import FileProvenance
from scanner.safetext import safe

TYPE_CHECKING = False
if TYPE_CHECKING:
    from scanner.models import Finding, ScanResult

VERIFY_HINT = "`cexguard verify` tells whether a key is live; `cexguard revoke` deletes sub-account keys."
STAGED_PLAYBOOK = (
    "What to do now (the key is staged, not committed yet):\n"
    "  1. Unstage it: git restore --staged FILE (or edit the file and git add it again).\n"
    "  2. Move it to an environment variable (or a secret manager) and read it from there.\n"
    "  3. Commit again; the hook passes once the commit no longer adds the key."
)
EXPOSED = "  The key may have been exposed elsewhere (see `also in` above): also {revoke} and create a new one."
_COLORS = {"high": "\033[1;31m", "medium": "\033[33m", "low": "\033[36m"}
_SEV_COLORS = {"live": "\033[1;41;97m", "head": "\033[1;31m", "refs": "\033[31m", "reflog": "\033[33m",
               "unreachable": "\033[36m"}
_RESET = "\033[0m"
_BOLD = "\033[1m"


def _remediations(result: ScanResult, rule_ids: list[str]) -> list[str]:
    """The matched rules' remediation text (the rules the scan ran: a user's own included), once each."""
    out = []
    for rid in rule_ids:
        r = result.rule(rid)
        if r is not None and r.remediation:
            out.append(f"  {rid}: {' '.join(r.remediation.split())}")
    return out


def revoke_hint(result: ScanResult, rule_id: str) -> str:
    from scanner.report.audit import revoke_hint as hint  # (datetime: not on the hook's clean path)

    return hint(result, rule_id)


def what_to_do(result: ScanResult) -> list[str]:
    """The matched rules' remediation, once each (or their revoke step when they have none)."""
    out = ["What to do now (from the rules that matched):"]
    out += _remediations(result, [r.id for r in result.matched_rules()]) or sorted(
        {f"  {revoke_hint(result, f.rule)}" for f in result.findings})
    if _verifiable(result):
        out.append("  " + VERIFY_HINT)
    return out


def _verifiable(result: ScanResult) -> bool:
    return any(r.verify for r in result.matched_rules())


def _value(f: Finding, show_secrets: bool) -> str:
    value = f.secret if show_secrets else f.redacted
    return value.splitlines()[0] + " ..." if "\n" in value else value


def _finding_lines(f: Finding, result: ScanResult, show_secrets: bool, color: bool) -> list[str]:
    c = _COLORS.get(f.confidence, "") if color else ""
    r = _RESET if color else ""
    b = _BOLD if color else ""
    where = f"{safe(f.path)}:{f.line}" + (f"-{f.end_line}" if f.end_line != f.line else "") + f":{f.column}"
    tags = [f"{c}{f.confidence}{r}"]
    if f.staged:
        tags.append("staged, never committed")
    elif f.git_status:
        tags.append(f.git_status)
    if f.example:
        tags.append("documentation example")
    if f.environment:
        tags.append(f.environment)
    out = [f"{b}{where}{r}  {result.title(f)} ({f.kind})  [{', '.join(tags)}]",
           f"    value: {safe(_value(f, show_secrets))}    fingerprint: {f.fingerprint}"]
    if f.paired_with:
        out.append(f"    paired with: {f.paired_with}")
    if f.reason:
        out.append(f"    no word of its exchange nearby; reported because: {f.reason}")
    if f.count > 1:
        out.append(f"    occurs {f.count} times in this file (first shown)")
    git = f.git
    if git is not None and git.commit:
        out.append(safe(f"    commit: {git.commit[:12]} {git.author or ''} {git.date or ''}".rstrip()))
    p = f.provenance
    if isinstance(p, FileProvenance) and p.also_in:
        out.append(safe("    also in: " + ", ".join(p.also_in)))
    if f.verification:
        v = f.verification
        out.append(safe(f"    verification: {v.get('status')}" + (f" (risk: {v['risk']})" if v.get("risk") else "")))
    return out


def _audit_lines(result: ScanResult, show_secrets: bool, color: bool) -> list[str]:
    from scanner.report.audit import LABELS, incidents, summary

    incs = incidents(result)
    b = _BOLD if color else ""
    r = _RESET if color else ""
    out = [f"{b}cexguard audit{r}: " + summary(result, incs)[0], *summary(result, incs)[1:], ""]
    number = {i.fingerprint: i.number for i in incs}
    for i in incs:
        sc = _SEV_COLORS.get(i.severity, "") if color else ""
        example = "  (documentation example)" if i.example else ""
        value = safe(_value(i.findings[0], show_secrets))
        out.append(f"{b}#{i.number}{r} {sc}[{LABELS[i.severity]}]{r}  {i.kind}  {value}  {i.confidence}  "
                   f"{i.fingerprint}{example}")
        first = i.findings[0]
        more = f" (+{len(i.findings) - 1} more)" if len(i.findings) > 1 else ""
        days = f" ({i.exposure_days} days)" if i.exposure_days is not None else ""
        refs = ", ".join(x.removeprefix("refs/heads/") for x in i.refs[:5]) + (
            f" +{len(i.refs) - 5}" if len(i.refs) > 5 else "") if i.refs else "none"
        pair = ""
        if i.paired:
            pair = " · paired with " + ", ".join(f"#{number[p]}" if p in number else p[:19] for p in i.paired)
        out.append(safe(f"    where {first.path}:{first.line}{more} · since {i.since} · until {i.until}{days} · "
                        f"who {i.who} · refs {refs}{pair}"))
        if i.verification:
            out.append(f"    verified: {i.verification}")
        out.append(f"    do: {i.advice}")
        if len(i.findings) > 1:
            for f in i.findings:
                at = [LABELS[_sev(f)]]
                blob = f.provenance.blob if f.provenance is not None else None
                if f.git is not None and f.git.commit:
                    at.append(f"{f.git.commit[:10]} {(f.git.date or '')[:10]}")
                elif blob:
                    at.append(f"blob {blob[:10]}")
                out.append(safe(f"      {f.path}:{f.line}  " + "  ".join(at)))
        out.append("")
    rules = sorted({i.rule for i in incs})
    fixes = _remediations(result, rules)
    if fixes:
        out.append("How to fix (from the rules that matched):")
        out += fixes
        out.append("  Removing a key from the files or from history does not un-leak it."
                   + (" " + VERIFY_HINT if _verifiable(result) else ""))
    return out


def _sev(f: Finding) -> str:
    from scanner.report.audit import severity_of

    return severity_of(f)


def render(result: ScanResult, *, show_secrets: bool = False, color: bool = False) -> str:
    out: list[str] = []
    audit = False
    if result.findings:
        from scanner.report.audit import is_audit

        audit = is_audit(result)
    if audit:
        out += _audit_lines(result, show_secrets, color)
    else:
        for f in result.findings:
            out += _finding_lines(f, result, show_secrets, color)
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
    if result.findings and not audit:
        out.append("")
        if all(f.staged for f in result.findings):
            out.append(STAGED_PLAYBOOK)
            exposed = sorted({revoke_hint(result, f.rule) for f in result.findings
                              if isinstance(f.provenance, FileProvenance) and f.provenance.also_in})
            if exposed:
                out.append(EXPOSED.format(revoke=" and ".join(exposed)))
        else:
            out += what_to_do(result)
    out.append(summary)
    return "\n".join(out) + "\n"
