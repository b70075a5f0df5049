"""One leaked key's incident record: `cexguard incident`.

Joins, for one key (by fingerprint), what cexguard already wrote down: where it leaked (a history
audit report), what Binance said about it (verify reports, oldest to newest), what the account did
while it was exposed (an activity report), how the revocation went (the revoke audit log), and the
playbook with what is done and what is left. Nothing is sent anywhere; nothing secret is copied:
fields are picked one by one from the inputs (a report written with --show-secrets still gives
only redacted values here).

`build_incident` returns the JSON record; `sections` turns it into titled paragraphs, lists and
tables that the Markdown renderer here and the HTML one (scanner/report/incident_html.py) draw.
"""
from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scanner.errors import CexguardError
from scanner.safetext import safe

FINGERPRINT = re.compile(r"sha256:[0-9a-f]{40}")
LEAK_FIELDS = ("path", "kind", "redacted", "confidence", "commit", "author", "date", "refs", "reachable",
               "present_at_head", "first_seen", "removed_in", "removed_at", "exposure", "exposure_days", "blob",
               "occurrences", "line")
VERDICT_FIELDS = ("status", "dead", "checked_at", "api_url", "endpoint", "risk", "risk_reasons", "causes", "reasons",
                  "created_at", "age_days", "trading_authority_expires_at", "settled")
DONE_STATUSES = frozenset({"revoked", "already_revoked"})
STATES = ("done", "left", "unknown")
REVIEW_GAP_MS = 86_400_000


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _ms(value: Any) -> int | None:
    from scanner.remote.exposure import parse_iso

    return parse_iso(value) if isinstance(value, str) else None


# -------------------------------------------------------------------------------------------- inputs

def _read_json(path: str | Path, option: str) -> Any:
    from scanner.remote.exposure import read_json

    return read_json(path, option)


def load_verification(path: str | Path) -> dict[str, Any]:
    data = _read_json(path, "--verification")
    if not (isinstance(data, dict) and isinstance(data.get("status"), str) and isinstance(data.get("key"), dict)):
        raise CexguardError(f"--verification: {path} is not the JSON of `cexguard verify --format json`")
    return data


def load_activity(path: str | Path) -> dict[str, Any]:
    data = _read_json(path, "--activity")
    if not (isinstance(data, dict) and data.get("command") == "activity" and isinstance(data.get("key"), dict)):
        raise CexguardError(f"--activity: {path} is not the JSON of `cexguard activity --format json`")
    return data


def resolve_fingerprint(given: str | None, api_key: str | None, docs: Iterable[Mapping[str, Any]]) -> str:
    """--key, else BINANCE_API_KEY's fingerprint, else the one every given verify/activity report names."""
    if given:
        if not FINGERPRINT.fullmatch(given.strip()):
            raise CexguardError(f"--key: expected a fingerprint like sha256:<40 hex digits>, got {safe(given)[:80]!r}")
        return given.strip()
    if api_key:
        from scanner.models import fingerprint_of

        return fingerprint_of(api_key.strip())
    fps = {str(d["key"].get("fingerprint")) for d in docs if isinstance(d.get("key"), dict)}
    if len(fps) == 1:
        return fps.pop()
    if not fps:
        raise CexguardError("which key? pass --key sha256:..., or set BINANCE_API_KEY, or give --verification FILE")
    raise CexguardError("the reports given are about different keys: pass --key sha256:... to choose one")


# ----------------------------------------------------------------------------------------------- join

@dataclass
class Inputs:
    fingerprint: str
    report: dict[str, Any] | None = None
    report_name: str | None = None
    verifications: list[dict[str, Any]] = field(default_factory=list)
    activity: dict[str, Any] | None = None
    audit: list[dict[str, Any]] = field(default_factory=list)
    audit_path: str | None = None
    replacement: dict[str, Any] | None = None


def build_incident(inp: Inputs) -> dict[str, Any]:
    fp = inp.fingerprint
    for v in inp.verifications:
        if v["key"].get("fingerprint") != fp:
            raise CexguardError(f"--verification: a report is about another key ({v['key'].get('fingerprint')}), "
                                f"not {fp}")
    if inp.activity is not None and inp.activity["key"].get("fingerprint") != fp:
        raise CexguardError(f"--activity: the report is about another key ({inp.activity['key'].get('fingerprint')})")
    if inp.replacement is not None and inp.replacement["key"].get("fingerprint") == fp:
        raise CexguardError("--replacement: that is the leaked key itself; give the verify report of the new key")

    leak = _leak(inp)
    verdict = _verdict(inp.verifications)
    activity = _activity(inp.activity)
    revoke = _revoke(inp.audit, inp.audit_path)
    redacted = (inp.verifications[-1]["key"].get("redacted") if inp.verifications else None) \
        or (inp.activity["key"].get("redacted") if inp.activity else None) \
        or next((f.get("redacted") for f in (leak or {}).get("findings", []) if f.get("kind") == "binance_api_key"),
                None) or (revoke["records"][-1].get("key_redacted") if revoke else None)
    playbook = _playbook(leak, verdict, activity, revoke, inp.replacement)
    left = [s for s in playbook if s["state"] != "done"]
    missing = []
    if leak is None:
        missing.append("where it leaked: give --history-report FILE (cexguard history --format json)")
    if verdict is None:
        missing.append("the verdict: give --verification FILE (cexguard verify --format json), before and after "
                       "revoking")
    if activity is None:
        missing.append("what the key did: give --activity FILE (cexguard activity --from-report ... --format json)")
    if revoke is None:
        missing.append("the revocation: no record of this key in the revoke audit log"
                       + (f" ({inp.audit_path})" if inp.audit_path else ""))
    return {
        "tool": "cexguard", "command": "incident", "generated_at": _now(),
        "key": {"fingerprint": fp, "redacted": redacted},
        "status": "closed" if not left else "open",
        "steps_left": len(left),
        "leak": leak, "verdict": verdict, "activity": activity, "revoke": revoke,
        "replacement": _verdict([inp.replacement]) if inp.replacement else None,
        "playbook": playbook,
        "missing": missing,
    }


def _leak(inp: Inputs) -> dict[str, Any] | None:
    if inp.report is None:
        return None
    from scanner.remote.exposure import exposure_from_findings, key_findings

    found = key_findings(inp.report, inp.fingerprint)
    rows = [{k: f.get(k) for k in LEAK_FIELDS if k in f} for f in found]  # picked: never `secret`
    exp = exposure_from_findings(found)
    days: list[int] = [f["exposure_days"] for f in found if isinstance(f.get("exposure_days"), int)]
    raw_stats = inp.report.get("stats")
    stats: dict[str, Any] = raw_stats if isinstance(raw_stats, dict) else {}
    return {
        "report": inp.report_name,
        "findings": rows,
        "places": len(rows),
        "first_exposed_at": exp["first_exposed_at"] if exp else None,
        "first_commit": exp.get("commit") if exp else None,
        "exposure_days": max(days) if days else None,
        "present_at_head": list(dict.fromkeys(r.get("path") for r in rows if r.get("present_at_head"))),
        "reachable": sorted({str(r.get("reachable")) for r in rows if r.get("reachable")}),
        "history_truncated": bool(stats.get("history_truncated")),
    }


def _verdict(verifications: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not verifications:
        return None
    ordered = sorted(verifications, key=lambda v: str(v.get("checked_at") or ""))

    def pick(v: Mapping[str, Any]) -> dict[str, Any]:
        out = {k: v.get(k) for k in VERDICT_FIELDS if k in v}
        out["permissions"] = v.get("permissions")
        return out

    with_perms = [v for v in ordered if v.get("permissions")]
    return {"first": pick(ordered[0]), "latest": pick(ordered[-1]),
            "permissions": dict(with_perms[-1]["permissions"]) if with_perms else None,
            "risk": next((v.get("risk") for v in reversed(with_perms) if v.get("risk")), None),
            "history": [{"checked_at": v.get("checked_at"), "status": v.get("status")} for v in ordered]}


def _activity(a: dict[str, Any] | None) -> dict[str, Any] | None:
    if a is None:
        return None
    timeline = [e for e in a.get("timeline", []) if isinstance(e, dict)]
    keep = ("time", "kind", "asset", "amount", "fee", "side", "symbol", "price", "status", "address", "network",
            "tx_id", "type", "after_exposure")
    return {"window": a.get("window"), "exposure": a.get("exposure"), "summary": a.get("summary"),
            "complete": a.get("complete"), "not_read": a.get("not_read", []),
            "flagged": [{k: e.get(k) for k in keep if k in e} for e in timeline if e.get("after_exposure")],
            "totals": a.get("totals"), "totals_after_exposure": a.get("totals_after_exposure"),
            "account": a.get("account"), "weight": a.get("weight"), "generated_at": a.get("generated_at")}


def _revoke(records: list[dict[str, Any]], path: str | None) -> dict[str, Any] | None:
    if not records:
        return None
    keep = ("time", "mode", "status", "confirmed", "owner", "message", "actions", "key_redacted")
    rows = [{k: r.get(k) for k in keep if k in r} for r in records]
    executed = [r for r in rows if r.get("mode") == "execute"]
    done = [r for r in rows if r.get("status") in DONE_STATUSES]
    final = done[-1] if done else (executed[-1] if executed else rows[-1])
    return {"audit_log": path, "records": rows, "outcome": final.get("status"), "confirmed": final.get("confirmed"),
            "at": final.get("time"), "owner": final.get("owner")}


def _playbook(leak: dict[str, Any] | None, verdict: dict[str, Any] | None, activity: dict[str, Any] | None,
              revoke: dict[str, Any] | None, replacement: dict[str, Any] | None) -> list[dict[str, Any]]:
    steps = []
    # 1. delete the key
    latest = (verdict or {}).get("latest", {})
    if revoke and revoke["outcome"] in DONE_STATUSES:
        state = "done"
        ev = f"revoke: {revoke['outcome']} at {revoke['at']}" + (" (confirmed gone)" if revoke.get("confirmed") else "")
        if latest.get("status") in ("live", "live_ip_restricted") and str(latest.get("checked_at")) > str(revoke["at"]):
            state, ev = "left", f"revoke said {revoke['outcome']}, but a later verify says {latest.get('status')}"
    elif latest.get("status") in ("deleted", "malformed"):
        state, ev = "done", f"verify: {latest['status']} at {latest.get('checked_at')}"
    elif latest.get("status") in ("live", "live_ip_restricted"):
        state, ev = "left", f"verify: {latest['status']} at {latest.get('checked_at')}: the key still works"
    elif latest.get("status") == "rejected":
        state, ev = "unknown", ("verify: rejected (-2015): deleted, or live and IP-restricted; settle it with the "
                                "master account's credentials")
    else:
        state, ev = "unknown", "no revoke record and no verdict"
    steps.append({"step": "delete", "title": "Delete the key (Delete, not Disable)", "state": state, "evidence": ev})
    # 2. a new key without withdrawals and with an IP whitelist
    if replacement is None:
        state, ev = "unknown", "not checked: give --replacement FILE (the verify report of the new key)"
    else:
        p = replacement.get("permissions") or {}
        problems = []
        if replacement.get("status") not in ("live", "live_ip_restricted"):
            problems.append(f"the new key is {replacement.get('status')}")
        if p.get("enableWithdrawals") is not False:
            problems.append("withdrawals are enabled" if p.get("enableWithdrawals") else "withdrawals unknown")
        if p.get("ipRestrict") is not True and replacement.get("status") != "live_ip_restricted":
            problems.append("no IP whitelist")
        state = "left" if problems else "done"
        ev = "; ".join(problems) or "the new key has withdrawals disabled and an IP whitelist"
    steps.append({"step": "replace", "title": "New key: withdrawals disabled, IP whitelist", "state": state,
                  "evidence": ev})
    # 3. the secret out of the code
    if leak is None:
        state, ev = "unknown", "no history report"
    elif leak["present_at_head"]:
        state, ev = "left", "still in the files at HEAD: " + ", ".join(str(p) for p in leak["present_at_head"])
    else:
        state, ev = "done", "no longer in any file at HEAD (history still holds it: deleting the key is what protects)"
    steps.append({"step": "move_secret", "title": "Secret moved out of the code (environment or secret manager)",
                  "state": state, "evidence": ev})
    # 4. the exposure window reviewed
    steps.append(_review_step(leak, activity, revoke))
    return steps


def _review_step(leak: dict[str, Any] | None, activity: dict[str, Any] | None,
                 revoke: dict[str, Any] | None) -> dict[str, Any]:
    title = "Activity reviewed: the exposure window (at least the last 30 days)"
    if activity is None:
        return {"step": "review", "title": title, "state": "left", "evidence": "no activity report"}
    window = activity.get("window") or {}
    since, until = _ms(window.get("since")), _ms(window.get("until"))
    problems = []
    gap = ""
    exposed = _ms((leak or {}).get("first_exposed_at")) or _ms((activity.get("exposure") or {}).get("first_exposed_at"))
    if since is None or until is None:
        problems.append("the report has no window")
    else:
        if exposed is not None and since > exposed:
            problems.append(f"the window starts after the first exposure ({_iso(exposed)})")
        if exposed is None and until - since < 30 * 86_400_000:
            problems.append("the window is shorter than 30 days and the exposure date is unknown")
        # activity can only be read while the key works, so it is read just before revoking: a gap of
        # up to a day between the window's end and the revocation is accepted (and said)
        revoked_at = _ms((revoke or {}).get("at")) if revoke and revoke.get("outcome") in DONE_STATUSES else None
        if revoked_at is not None and until < revoked_at - REVIEW_GAP_MS:
            problems.append(f"the window ends more than a day before the key was revoked "
                            f"({revoke['at'] if revoke else ''})")
        elif revoked_at is not None and until < revoked_at:
            gap = f"; the {(revoked_at - until) // 1000}s between the window's end and the revocation are not covered"
    if not activity.get("complete"):
        problems.append(f"{len(activity.get('not_read') or [])} read(s) missing (see the activity report)")
    flagged = len(activity.get("flagged") or [])
    if problems:
        return {"step": "review", "title": title, "state": "left", "evidence": "; ".join(problems)}
    return {"step": "review", "title": title, "state": "done",
            "evidence": f"read in full from {window.get('since')} to {window.get('until')}; {flagged} event(s) after "
                        f"the first exposure, listed below: check each one{gap}"}


def _iso(ms: int) -> str:
    from scanner.remote.exposure import iso

    return iso(ms)


# ------------------------------------------------------------------------------------------ sections

@dataclass
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    items: list[str] = field(default_factory=list)
    table: tuple[list[str], list[list[str]]] | None = None
    after: list[str] = field(default_factory=list)  # paragraphs after the table


def _v(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(_v(x) for x in value) or "-"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_v(x)}" for k, x in value.items()) or "-"
    return str(value)


def _time_or(name: str, value: Any) -> str:
    if name.endswith("Time") and isinstance(value, int) and not isinstance(value, bool) and value > 10**11:
        return _iso(value)
    return _v(value)


def sections(inc: Mapping[str, Any]) -> list[Section]:
    out: list[Section] = []
    key = inc["key"]
    steps = inc["playbook"]
    left = [s for s in steps if s["state"] != "done"]
    head = Section("Summary")
    head.paragraphs.append(f"Key {_v(key.get('redacted'))} ({key['fingerprint']}). Status: "
                           f"{inc['status'].upper()}: {len(steps) - len(left)} of {len(steps)} playbook steps done.")
    leak, verdict, act, rev = inc.get("leak"), inc.get("verdict"), inc.get("activity"), inc.get("revoke")
    if leak:
        head.items.append(f"Leaked in {leak['places']} place(s), first exposed {_v(leak['first_exposed_at'])} "
                          f"(commit {_v(leak['first_commit'])[:12]}), exposed for {_v(leak['exposure_days'])} day(s)"
                          + ("; still in the files at HEAD" if leak["present_at_head"] else ""))
    if verdict:
        first, latest = verdict["first"], verdict["latest"]
        text = f"Verdict: {first.get('status')} at {_v(first.get('checked_at'))}"
        if verdict.get("risk"):
            text += f" (risk {verdict['risk']})"
        if latest is not first and latest.get("checked_at") != first.get("checked_at"):
            text += f"; latest: {latest.get('status')} at {_v(latest.get('checked_at'))}"
        head.items.append(text)
    if act:
        s = act.get("summary") or {}
        kinds = s.get("after_exposure_by_kind") or {}
        head.items.append(f"Activity: {_v(s.get('after_exposure'))} event(s) after the first exposure"
                          + (" (" + ", ".join(f"{n} {k}" for k, n in kinds.items()) + ")" if kinds else "")
                          + ("" if act.get("complete") else "; the read is INCOMPLETE"))
    if rev:
        head.items.append(f"Revocation: {rev['outcome']} at {_v(rev['at'])}"
                          + (" (confirmed)" if rev.get("confirmed") else ""))
    out.append(head)

    s = Section("Where it leaked")
    if leak:
        rows = [[_v(f.get("path")), _v(f.get("kind")), _v(str(f.get("commit") or "")[:12] or None), _v(f.get("date")),
                 _v(f.get("refs")), _v(f.get("reachable")), _v(f.get("present_at_head")), _v(f.get("exposure")),
                 _v(f.get("exposure_days"))] for f in leak["findings"]]
        s.table = (["path", "kind", "first commit", "date", "refs", "reachable", "at HEAD", "exposure", "days"], rows)
        if leak.get("history_truncated"):
            s.after.append("The audited clone was shallow: the history is truncated, the key may be older.")
        s.after.append("Removing the key from the files, or from history, does not un-leak it: clones, forks and "
                       "caches keep it. Deleting the key is what protects.")
    else:
        s.paragraphs.append("Not known: no history audit report was given.")
    out.append(s)

    s = Section("Verdict and permissions")
    if verdict:
        latest = verdict["latest"]
        s.items.extend(f"{h['checked_at']}: {h['status']}" for h in verdict["history"])
        for r in (latest.get("reasons") or []):
            s.paragraphs.append(str(r))
        if latest.get("settled"):
            s.paragraphs.append(f"Master account check: {_v(latest['settled'].get('outcome'))}: "
                                f"{_v(latest['settled'].get('detail'))}")
        first = verdict["first"]
        if first.get("created_at"):
            s.paragraphs.append(f"Created {first['created_at']} ({_v(first.get('age_days'))} days old when checked).")
        if first.get("trading_authority_expires_at"):
            s.paragraphs.append(f"Trading authority expires {first['trading_authority_expires_at']}.")
        if verdict.get("risk"):
            s.paragraphs.append(f"Risk while live: {verdict['risk']}.")
            reasons = next((v.get("risk_reasons") for v in (first, latest) if v.get("risk_reasons")), None)
            s.items.extend(str(r) for r in reasons or [])
        perms = verdict.get("permissions")
        if perms:
            s.table = (["permission", "value"], [[k, _time_or(k, v)] for k, v in perms.items()])
    else:
        s.paragraphs.append("Not known: no verify report was given.")
    out.append(s)

    s = Section("Activity in the exposure window")
    if act:
        w = act.get("window") or {}
        s.paragraphs.append(f"Window {_v(w.get('since'))} .. {_v(w.get('until'))} ({_v(w.get('source'))}). Records "
                            "do not say which API key made them: this is the account's activity.")
        flagged = act.get("flagged") or []
        if flagged:
            s.table = (["time", "kind", "asset / symbol", "amount", "side", "status", "to / type", "tx"],
                       [[_v(e.get("time")), _v(e.get("kind")), _v(e.get("symbol") or e.get("asset")), _v(e.get("amount")),
                         _v(e.get("side")), _v(e.get("status")), _v(e.get("address") or e.get("type")),
                         _v(e.get("tx_id"))] for e in flagged])
        else:
            s.paragraphs.append("No event after the first exposure.")
        tot = act.get("totals_after_exposure") or {}
        s.after.extend(f"After the first exposure, {asset}: " + ", ".join(f"{k} {v}" for k, v in row.items() if v != "0")
                       for asset, row in tot.items())
        for n in act.get("not_read") or []:
            s.after.append(f"Not read: {_v(n.get('what'))} {_v(n.get('since'))} .. {_v(n.get('until'))}: "
                           f"{_v(n.get('reason'))}: {_v(n.get('detail'))}")
    else:
        s.paragraphs.append("Not known: no activity report was given.")
    out.append(s)

    s = Section("Revocation")
    if rev:
        s.table = (["time", "mode", "status", "confirmed", "owner", "message"],
                   [[_v(r.get("time")), _v(r.get("mode")), _v(r.get("status")), _v(r.get("confirmed")),
                     _v((r.get("owner") or {}).get("email") or (r.get("owner") or {}).get("sub_account_id")),
                     _v(r.get("message"))] for r in rev["records"]])
    else:
        s.paragraphs.append("No revoke record for this key.")
    out.append(s)

    s = Section("Playbook")
    s.table = (["#", "step", "state", "evidence"],
               [[str(i), st["title"], st["state"], st["evidence"]] for i, st in enumerate(steps, 1)])
    out.append(s)
    if inc.get("missing"):
        out.append(Section("Missing inputs", items=list(inc["missing"])))
    return out


# ------------------------------------------------------------------------------------------ markdown

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def md_escape(value: Any) -> str:
    """Text for a Markdown cell or line: controls escaped, HTML and Markdown syntax neutralised."""
    s = safe(str(value))
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", s)


def render_md(inc: Mapping[str, Any]) -> str:
    lines = [f"# Incident: leaked Binance API key {md_escape(inc['key'].get('redacted') or inc['key']['fingerprint'])}",
             "", f"Generated {md_escape(inc['generated_at'])} by cexguard. Secrets are never included: keys are shown "
             "redacted and by fingerprint.", ""]
    for sec in sections(inc):
        lines += [f"## {md_escape(sec.title)}", ""]
        for p in sec.paragraphs:
            lines += [md_escape(p), ""]
        if sec.items:
            lines += [f"- {md_escape(i)}" for i in sec.items] + [""]
        if sec.table:
            headers, rows = sec.table
            lines.append("| " + " | ".join(md_escape(h) for h in headers) + " |")
            lines.append("|" + "|".join("---" for _ in headers) + "|")
            lines += ["| " + " | ".join(md_escape(c) for c in row) + " |" for row in rows]
            lines.append("")
        for p in sec.after:
            lines += [md_escape(p), ""]
    return "\n".join(lines).rstrip() + "\n"


__all__ = ["Inputs", "Section", "build_incident", "load_activity", "load_verification", "md_escape", "render_md",
           "resolve_fingerprint", "sections"]
