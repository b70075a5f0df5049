"""`cexguard incident`: the join, the playbook's done/left, and what never gets into the record."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scanner.models import fingerprint_of, redact
from tests.conftest import new_key
from tests.remote.conftest import RunCli

KEY, SECRET = new_key(), new_key()
FP = fingerprint_of(KEY)


def write(path: Path, data: Any) -> str:
    path.write_text(json.dumps(data))
    return str(path)


def report(path: str = ".env", *, present: bool = False, with_secret: bool = True) -> dict[str, Any]:
    f = {"path": path, "kind": "binance_api_key", "fingerprint": FP, "redacted": redact(KEY), "commit": "a" * 40,
         "author": "Dev <dev@example.com>", "date": "2024-01-10T10:00:00+00:00", "first_seen": "2024-01-10T10:00:00+00:00",
         "refs": ["refs/heads/main"], "reachable": "refs", "present_at_head": present, "exposure_days": 12,
         "exposure": "2024-01-10 -> 2024-01-22", "paired_with": fingerprint_of(SECRET)}
    s = dict(f, kind="binance_secret_key", fingerprint=fingerprint_of(SECRET), redacted=redact(SECRET), paired_with=FP)
    if with_secret:  # a report written with --show-secrets
        f["secret"], s["secret"] = KEY, SECRET
    other = dict(f, fingerprint="sha256:" + "1" * 40, path="unrelated.txt", secret=new_key())
    return {"tool": {"name": "cexguard"}, "findings": [f, s, other], "stats": {}}


def verification(status: str, at: str, **extra: Any) -> dict[str, Any]:
    d = {"status": status, "key": {"fingerprint": FP, "redacted": redact(KEY)}, "checked_at": at, "permissions": None,
         "risk": None, "risk_reasons": [], "reasons": [], "causes": []}
    d.update(extra)
    return d


def test_secrets_from_a_show_secrets_report_never_reach_the_record(run: RunCli, tmp_path: Path) -> None:
    h = write(tmp_path / "audit.json", report())
    for fmt in ("json", "md", "html"):
        r = run("incident", "--key", FP, "--history-report", h, "--format", fmt,
                "--audit-log", str(tmp_path / "none.jsonl"))
        assert r.code == 1, r.err
        assert KEY not in r.out and SECRET not in r.out and "unrelated.txt" not in r.out
        assert redact(KEY) in r.out


def test_hostile_values_are_escaped_in_html_and_markdown(run: RunCli, tmp_path: Path) -> None:
    evil = "<script>alert(1)</script>|`x`\x1b]52;c;AAAA\x07.env"
    h = write(tmp_path / "audit.json", report(evil))
    html = run("incident", "--key", FP, "--history-report", h, "--format", "html").out
    assert "<script>" not in html and "&lt;script&gt;" in html and "\x1b" not in html and "\\x1b" in html
    md = run("incident", "--key", FP, "--history-report", h).out
    assert "<script>" not in md and "\x1b" not in md and "\\|" in md


def test_playbook_states_follow_the_evidence(run: RunCli, tmp_path: Path) -> None:
    h = write(tmp_path / "audit.json", report(present=True))
    live = write(tmp_path / "v1.json", verification("live", "2024-02-01T00:00:00Z", risk="critical",
                                                    permissions={"enableWithdrawals": True, "ipRestrict": False}))
    r = run("incident", "--history-report", h, "--verification", live, "--format", "json",
            env={"BINANCE_API_KEY": KEY})
    inc = json.loads(r.out)
    steps = {s["step"]: (s["state"], s["evidence"]) for s in inc["playbook"]}
    assert r.code == 1 and inc["status"] == "open"
    assert steps["delete"][0] == "left" and "still works" in steps["delete"][1]
    assert steps["move_secret"] == ("left", "still in the files at HEAD: .env")
    assert steps["review"][0] == "left" and steps["replace"][0] == "unknown"
    assert any("--activity" in m for m in inc["missing"])

    rejected = write(tmp_path / "v2.json", verification("rejected", "2024-03-01T00:00:00Z"))
    inc = json.loads(run("incident", "--history-report", h, "--verification", live, "--verification", rejected,
                         "--format", "json").out)
    delete = next(s for s in inc["playbook"] if s["step"] == "delete")
    assert delete["state"] == "unknown" and "master" in delete["evidence"]  # -2015 is not proof of death


def test_replacement_key_with_withdrawals_is_not_done(run: RunCli, tmp_path: Path) -> None:
    other = new_key()
    bad = {"status": "live", "key": {"fingerprint": fingerprint_of(other), "redacted": redact(other)},
           "permissions": {"enableWithdrawals": True, "ipRestrict": False}, "checked_at": "2024-03-01T00:00:00Z"}
    r = run("incident", "--key", FP, "--replacement", write(tmp_path / "new.json", bad), "--format", "json")
    step = next(s for s in json.loads(r.out)["playbook"] if s["step"] == "replace")
    assert step["state"] == "left" and "withdrawals are enabled" in step["evidence"] and "no IP whitelist" in step["evidence"]


@pytest.mark.parametrize("case", ["other_key", "not_json", "not_verify", "bad_fp", "no_key", "same_key_as_new"])
def test_bad_inputs_are_one_line_exit_2(run: RunCli, tmp_path: Path, case: str) -> None:
    v = verification("live", "2024-02-01T00:00:00Z")
    args: list[str] = []
    if case == "other_key":
        args = ["--key", "sha256:" + "2" * 40, "--verification", write(tmp_path / "v.json", v)]
    elif case == "not_json":
        (tmp_path / "v.json").write_text("status: live\n")
        args = ["--verification", str(tmp_path / "v.json")]
    elif case == "not_verify":
        args = ["--verification", write(tmp_path / "v.json", {"findings": []})]
    elif case == "bad_fp":
        args = ["--key", "abc"]
    elif case == "same_key_as_new":
        args = ["--key", FP, "--replacement", write(tmp_path / "v.json", v)]
    r = run("incident", *args)
    assert r.code == 2 and r.out == "" and len(r.err.strip().splitlines()) == 1, r.err


@pytest.mark.parametrize("revoked_at,state", [("2024-03-01T00:05:00Z", "done"), ("2024-03-03T00:00:00Z", "left")])
def test_review_covers_the_window_up_to_the_revocation(run: RunCli, tmp_path: Path, revoked_at: str,
                                                       state: str) -> None:
    h = write(tmp_path / "audit.json", report())
    act = {"command": "activity", "key": {"fingerprint": FP, "redacted": redact(KEY)}, "complete": True,
           "window": {"since": "2024-01-01T00:00:00Z", "until": "2024-03-01T00:00:00Z", "source": "--since"},
           "timeline": [], "not_read": [], "summary": {"events": 0, "after_exposure": 0}}
    log = tmp_path / "audit.jsonl"
    log.write_text(json.dumps({"key_fingerprint": FP, "time": revoked_at, "mode": "execute", "status": "revoked",
                               "confirmed": True, "owner": {"type": "sub_account", "email": "b@example.com"}}) + "\n"
                   + json.dumps({"key_fingerprint": "sha256:" + "3" * 40, "status": "failed"}) + "\n")
    r = run("incident", "--key", FP, "--history-report", h, "--activity", write(tmp_path / "a.json", act),
            "--audit-log", str(log), "--format", "json")
    inc = json.loads(r.out)
    review = next(s for s in inc["playbook"] if s["step"] == "review")
    assert review["state"] == state, review
    assert [x["status"] for x in inc["revoke"]["records"]] == ["revoked"]  # only this key's records
    assert next(s for s in inc["playbook"] if s["step"] == "delete")["state"] == "done"
    if state == "done":
        assert "300s between the window's end and the revocation" in review["evidence"]
