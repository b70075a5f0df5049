"""When and where a key was exposed: from a history audit report (`cexguard history --format json`),
or from a date or commit the user names. Shared by `activity` and `incident`."""
from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any

from scanner.errors import CexguardError

MAX_REPORT = 256 * 1024 * 1024
KEY_KIND = "binance_api_key"


def read_json(path: str | Path, what: str) -> Any:
    """A JSON file cexguard wrote (a report, a verification, an activity record); one-line errors."""
    p = Path(path)
    try:
        if p.stat().st_size > MAX_REPORT:
            raise CexguardError(f"{what}: {p} is too large for a report")
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise CexguardError(f"{what}: cannot read {p}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise CexguardError(f"{what}: {p} is not UTF-8 JSON") from None
    try:
        return json.loads(text)
    except ValueError:
        raise CexguardError(f"{what}: {p} is not JSON (write it with --format json)") from None


def load_report(path: str | Path, *, what: str = "--from-report") -> dict[str, Any]:
    """A cexguard JSON report ({"findings": [...]}); a clear error for anything else."""
    p = Path(path)
    data = read_json(p, what)
    if not isinstance(data, dict) or not isinstance(data.get("findings"), list):
        raise CexguardError(f"{what}: {p} is not a cexguard JSON report (no \"findings\" list)")
    return data


def key_findings(report: dict[str, Any], fingerprint: str) -> list[dict[str, Any]]:
    """The report's findings of this API key, and of the secrets or private keys paired with it."""
    out = []
    for f in report.get("findings", []):
        if isinstance(f, dict) and (f.get("fingerprint") == fingerprint or f.get("paired_with") == fingerprint):
            out.append(f)
    return out


def parse_iso(value: str) -> int | None:
    """Milliseconds since the epoch of an ISO 8601 date or date-time (a date is 00:00 UTC; a time
    without a zone is UTC); None when `value` is neither."""
    v = value.strip()
    if not v or not v[:4].isdigit():
        return None
    try:
        if len(v) == 10:
            when = _dt.datetime.strptime(v, "%Y-%m-%d")
        else:
            when = _dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.timezone.utc)
    return int(when.timestamp() * 1000)


def iso(ms: int) -> str:
    return _dt.datetime.fromtimestamp(ms / 1000, _dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def exposure_from_findings(findings: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The earliest commit date among the findings: when the key was first exposed."""
    best: tuple[int, dict[str, Any]] | None = None
    for f in findings:
        date = f.get("first_seen") or f.get("date")
        ms = parse_iso(date) if isinstance(date, str) else None
        if ms is not None and (best is None or ms < best[0]):
            best = (ms, f)
    if best is None:
        return None
    ms, f = best
    return {"first_exposed_ms": ms, "first_exposed_at": iso(ms), "source": "report", "commit": f.get("commit"),
            "path": f.get("path"), "kind": f.get("kind")}


def exposure_from_report(path: str | Path, fingerprint: str) -> dict[str, Any]:
    report = load_report(path)
    found = key_findings(report, fingerprint)
    if not found:
        raise CexguardError(f"--from-report: {path} has no finding of this key ({fingerprint}); is it the audit of "
                            "the repository that leaked it?")
    exp = exposure_from_findings(found)
    if exp is None:
        raise CexguardError(f"--from-report: the findings of this key in {path} carry no commit date "
                            "(write the report with `cexguard history --format json`)")
    return exp


def commit_time(rev: str, repo: str | Path) -> tuple[int, str]:
    """(author time in ms, full commit id) of `rev` in `repo`, through the hardened git wrapper."""
    from scanner.sources import git

    if not rev or rev.startswith("-") or any(c.isspace() for c in rev):
        raise CexguardError(f"{rev!r} is not a date (YYYY-MM-DD) or a commit")
    try:
        r = git.open_repo(repo)
    except CexguardError as e:
        raise CexguardError(f"{rev!r} is not a date (YYYY-MM-DD or ISO 8601), and no commit can be looked up: "
                            f"{e}") from None
    p = git.run(r.cwd, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}", check=False)
    oid = p.stdout.decode("ascii", "replace").strip()
    if p.returncode != 0 or not oid:
        raise CexguardError(f"{rev!r} is neither a date (YYYY-MM-DD or ISO 8601) nor a commit of {r.cwd}")
    out = git.out(r.cwd, "show", "-s", "--format=%aI", oid).decode("utf-8", "replace").strip()
    ms = parse_iso(out)
    if ms is None:
        raise CexguardError(f"commit {oid[:12]} has no readable date")
    return ms, oid


def parse_when(value: str, *, repo: str | Path, option: str) -> tuple[int, dict[str, Any] | None]:
    """A date or a commit: (ms, exposure) where exposure is set when a commit was named."""
    ms = parse_iso(value)
    if ms is not None:
        return ms, None
    try:
        ms, oid = commit_time(value, repo)
    except CexguardError as e:
        raise CexguardError(f"{option}: {e}") from None
    return ms, {"first_exposed_ms": ms, "first_exposed_at": iso(ms), "source": option, "commit": oid, "path": None}
