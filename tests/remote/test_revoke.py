"""`cexguard revoke` against the fake Binance: dry run, delete, quarantine, idempotency, the master's
own key, Binance Link, failures, and the audit log."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scanner.models import fingerprint_of
from tests.remote.conftest import RunCli, World
from tests.remote.fakebinance import random_alnum

DELETE = "/sapi/v1/sub-account/subAccountApi"
IP_POST = "/sapi/v2/sub-account/subAccountApi/ipRestriction"


def audit_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines()]


def assert_clean(w: World, *texts: str) -> None:
    for t in texts:
        for s in (w.leaked.secret, w.leaked.api_key, w.master_key.secret, w.master_key.api_key):
            assert s and s not in t


@pytest.fixture
def audit(tmp_path: Path) -> Path:
    return tmp_path / "audit" / "revoke.jsonl"


def test_dry_run_finds_the_sub_account_from_the_uid_and_changes_nothing(world: World, run: RunCli, audit: Path) -> None:
    r = run("revoke", "--format", "json", "--audit-log", str(audit), env=world.env())
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert data["status"] == "dry_run" and data["dry_run"] is True
    assert data["owner"] == {"type": "sub_account", "email": "bot@example.com", "source": "uid"}
    planned = [s["action"] for s in data["steps"] if s["outcome"] == "planned"]
    assert planned == ["delete", "confirm"]
    assert world.fake.mutating_calls() == []
    assert world.fake.alive(world.leaked.api_key)
    (rec,) = audit_lines(audit)
    assert rec["mode"] == "dry_run" and rec["status"] == "dry_run"
    assert_clean(world, r.out, r.err, audit.read_text())


def test_dry_run_text_says_nothing_changed(world: World, run: RunCli, audit: Path) -> None:
    r = run("revoke", "--audit-log", str(audit), env=world.env())
    assert r.code == 0
    assert "sub-account bot@example.com" in r.out and "nothing was changed" in r.out and "--yes" in r.out
    assert "DELETE /sapi/v1/sub-account/subAccountApi" in r.out
    assert_clean(world, r.out, r.err)


def test_yes_deletes_the_key_and_confirms_it_is_dead(world: World, run: RunCli, audit: Path) -> None:
    r = run("revoke", "--yes", "--format", "json", "--audit-log", str(audit), env=world.env())
    assert r.code == 0, r.out + r.err
    data = json.loads(r.out)
    assert data["status"] == "revoked" and data["confirmed"] is True
    assert not world.fake.alive(world.leaked.api_key)
    (delete,) = world.fake.mutating_calls()
    assert (delete.method, delete.path) == ("DELETE", DELETE)
    assert delete.params["email"] == "bot@example.com"
    assert delete.params["subAccountApiKey"] == world.leaked.api_key
    assert delete.headers["X-MBX-APIKEY"] == world.master_key.api_key  # signed with the master key
    assert [s["outcome"] for s in data["steps"]][-2:] == ["ok", "ok"]
    (rec,) = audit_lines(audit)
    assert rec["status"] == "revoked" and rec["mode"] == "execute"
    assert rec["key_fingerprint"] == fingerprint_of(world.leaked.api_key)
    assert rec["master_key_fingerprint"] == fingerprint_of(world.master_key.api_key)
    assert {"time", "actions", "owner"} <= set(rec)
    assert_clean(world, r.out, r.err, audit.read_text())


def test_running_twice_is_safe_and_says_already_revoked(world: World, run: RunCli, audit: Path) -> None:
    first = run("revoke", "--yes", "--format", "json", "--audit-log", str(audit), env=world.env())
    assert json.loads(first.out)["status"] == "revoked"
    n = len(world.fake.mutating_calls())
    second = run("revoke", "--yes", "--format", "json", "--audit-log", str(audit), env=world.env())
    data = json.loads(second.out)
    assert (second.code, data["status"]) == (0, "already_revoked")
    assert data["owner"]["source"] == "audit-log"  # the dead key cannot tell its uid any more
    assert len(world.fake.mutating_calls()) == n  # nothing sent that changes anything
    assert [r["status"] for r in audit_lines(audit)] == ["revoked", "already_revoked"]


def test_with_email_and_no_leaked_secret(world: World, run: RunCli, audit: Path) -> None:
    env = world.env(leaked_secret=False)
    r = run("revoke", "--yes", "--email", "bot@example.com", "--format", "json", "--audit-log", str(audit), env=env)
    data = json.loads(r.out)
    assert (r.code, data["status"], data["owner"]["source"]) == (0, "revoked", "--email")
    assert not world.fake.alive(world.leaked.api_key)
    again = run("revoke", "--yes", "--email", "bot@example.com", "--format", "json", "--audit-log", str(audit),
                env=env)
    assert json.loads(again.out)["status"] == "already_revoked" and again.code == 0


def test_without_email_or_secret_it_cannot_find_the_owner(world: World, run: RunCli, audit: Path) -> None:
    r = run("revoke", "--yes", "--format", "json", "--audit-log", str(audit), env=world.env(leaked_secret=False))
    data = json.loads(r.out)
    assert (r.code, data["status"]) == (1, "failed")
    assert "--email" in data["message"]
    assert world.fake.mutating_calls() == [] and world.fake.alive(world.leaked.api_key)


def test_quarantine_comes_before_delete(world: World, run: RunCli, audit: Path) -> None:
    r = run("revoke", "--yes", "--quarantine-ip", "10.9.8.7", "--format", "json", "--audit-log", str(audit),
            env=world.env())
    data = json.loads(r.out)
    assert (r.code, data["status"]) == (0, "revoked")
    calls = world.fake.mutating_calls()
    assert [(c.method, c.path) for c in calls] == [("POST", IP_POST), ("DELETE", DELETE)]
    assert calls[0].params["status"] == "2" and calls[0].params["ipAddress"] == "10.9.8.7"


def test_quarantine_holds_when_the_delete_fails(world: World, run: RunCli, audit: Path) -> None:
    world.fake.inject(500, path=DELETE, times=100)
    r = run("revoke", "--yes", "--quarantine-ip", "10.9.8.7,10.9.8.8", "--format", "json", "--audit-log", str(audit),
            env=world.env())
    data = json.loads(r.out)
    assert (r.code, data["status"]) == (1, "failed")
    assert "still exists" in data["message"] and "10.9.8.7" in data["message"]
    assert world.fake.alive(world.leaked.api_key)
    assert world.fake.keys[world.leaked.api_key].ip_list == ["10.9.8.7", "10.9.8.8"]


def test_lost_answer_after_a_real_delete_is_still_revoked(world: World, run: RunCli, audit: Path) -> None:
    # The server deletes the key, then every answer to the DELETE is a 502: outcome unknown, so the
    # check afterwards decides.
    world.fake.inject(502, path=DELETE, times=100, after=True)
    r = run("revoke", "--yes", "--format", "json", "--audit-log", str(audit), env=world.env())
    data = json.loads(r.out)
    assert (r.code, data["status"], data["confirmed"]) == (0, "revoked", True)
    delete = next(s for s in data["steps"] if s["action"] == "delete")
    assert delete["outcome"] in ("unknown", "ok")


def test_master_own_key_is_not_revocable_and_prints_the_playbook(world: World, run: RunCli, audit: Path) -> None:
    env = world.env()
    env["BINANCE_API_KEY"], env["BINANCE_API_SECRET"] = world.master_key.api_key, world.master_key.secret or ""
    r = run("revoke", "--yes", "--audit-log", str(audit), env=env)
    assert r.code == 1
    assert "not_revocable" in r.out
    for phrase in ("API Management", "Delete, not Disable", "withdrawals disabled", "IP whitelist",
                   "environment variable", "30 days", "open orders", "API logs"):
        assert phrase in r.out, phrase
    assert world.fake.calls() == []  # nothing at all was sent
    assert_clean(world, r.out, r.err, audit.read_text())


def test_another_key_of_the_master_account_is_not_revocable(world: World, run: RunCli, audit: Path) -> None:
    own = world.fake.add_key(world.master, enableWithdrawals=True)
    env = world.env()
    env["BINANCE_API_KEY"], env["BINANCE_API_SECRET"] = own.api_key, own.secret or ""
    r = run("revoke", "--yes", "--format", "json", "--audit-log", str(audit), env=env)
    data = json.loads(r.out)
    assert (r.code, data["status"]) == (1, "not_revocable")
    assert data["playbook"] and any("Delete, not Disable" in p for p in data["playbook"])
    assert world.fake.mutating_calls() == [] and world.fake.alive(own.api_key)


def test_key_of_an_unrelated_account_fails_with_the_playbook(world: World, run: RunCli, audit: Path) -> None:
    stranger = world.fake.add_account("stranger@example.com")
    k = world.fake.add_key(stranger)
    env = world.env()
    env["BINANCE_API_KEY"], env["BINANCE_API_SECRET"] = k.api_key, k.secret or ""
    r = run("revoke", "--yes", "--format", "json", "--audit-log", str(audit), env=env)
    data = json.loads(r.out)
    assert (r.code, data["status"]) == (1, "failed")
    assert "not a sub-account of this master" in data["message"] and data["playbook"]
    assert world.fake.mutating_calls() == []


def test_wrong_email_is_caught_before_anything_changes(world: World, run: RunCli, audit: Path) -> None:
    r = run("revoke", "--yes", "--email", "other@example.com", "--format", "json", "--audit-log", str(audit),
            env=world.env())
    data = json.loads(r.out)
    assert (r.code, data["status"]) == (1, "failed")
    assert "not under sub-account other@example.com" in data["message"]
    assert world.fake.mutating_calls() == [] and world.fake.alive(world.leaked.api_key)
    r = run("revoke", "--yes", "--email", "nobody@example.com", "--format", "json", "--audit-log", str(audit),
            env=world.env())
    assert json.loads(r.out)["status"] == "failed" and "not a sub-account" in json.loads(r.out)["message"]


def test_wrong_master_secret_fails_cleanly(world: World, run: RunCli, audit: Path) -> None:
    env = world.env()
    env["CEXGUARD_MASTER_API_SECRET"] = random_alnum()
    r = run("revoke", "--yes", "--email", "bot@example.com", "--format", "json", "--audit-log", str(audit), env=env)
    data = json.loads(r.out)
    assert (r.code, data["status"]) == (1, "failed")
    assert "-1022" in data["message"] and "nothing was changed" in data["message"]
    assert world.fake.mutating_calls() == [] and world.fake.alive(world.leaked.api_key)
    assert env["CEXGUARD_MASTER_API_SECRET"] not in r.out + r.err + audit.read_text()


def test_broker_sub_account(world: World, run: RunCli, audit: Path) -> None:
    link = world.fake.add_account("link@example.com", broker=world.master)
    k = world.fake.add_key(link, enableSpotAndMarginTrading=True)
    env = world.env()
    env["BINANCE_API_KEY"], env["BINANCE_API_SECRET"] = k.api_key, k.secret or ""
    args = ("revoke", "--broker", "--sub-account-id", str(link.sub_account_id), "--format", "json",
            "--audit-log", str(audit))
    dry = json.loads(run(*args, env=env).out)
    assert dry["status"] == "dry_run" and world.fake.alive(k.api_key)
    r = run(*args, "--yes", env=env)
    data = json.loads(r.out)
    assert (r.code, data["status"], data["confirmed"]) == (0, "revoked", True)
    (call,) = world.fake.mutating_calls()
    assert (call.method, call.path) == ("DELETE", "/sapi/v1/broker/subAccountApi")
    assert call.params["subAccountId"] == link.sub_account_id
    assert not world.fake.alive(k.api_key)
    again = json.loads(run(*args, "--yes", env=env).out)
    assert again["status"] == "already_revoked"


@pytest.mark.parametrize("args,msg", [
    (("--broker",), "--broker needs --sub-account-id"),
    (("--sub-account-id", "5"), "add --broker"),
    (("--broker", "--sub-account-id", "5", "--email", "a@b.c"), "Binance Link sub-accounts use --sub-account-id"),
    (("--broker", "--sub-account-id", "5", "--quarantine-ip", "1.2.3.4"), "not supported with --broker"),
    (("--quarantine-ip", "1.2.3.999"), "not an IP address"),
    (("--email", "not-an-email"), "not an email address"),
])
def test_bad_options_are_exit_2(world: World, run: RunCli, args: tuple[str, ...], msg: str) -> None:
    r = run("revoke", *args, env=world.env())
    assert r.code == 2 and msg in r.err and r.out == ""
    assert world.fake.calls() == []


def test_missing_master_credentials_is_exit_2_and_mentions_the_playbook(world: World, run: RunCli) -> None:
    r = run("revoke", env=world.env(master=False))
    assert r.code == 2 and "CEXGUARD_MASTER_API_KEY is not set" in r.err and "--playbook" in r.err
    assert len(r.err.strip().splitlines()) == 1
    env = world.env(master=False)
    env["CEXGUARD_MASTER_API_KEY"] = world.master_key.api_key
    r = run("revoke", env=env)
    assert r.code == 2 and "CEXGUARD_MASTER_API_SECRET or CEXGUARD_MASTER_PRIVATE_KEY_FILE" in r.err


def test_playbook_flag_needs_nothing(run: RunCli) -> None:
    r = run("revoke", "--playbook")
    assert r.code == 0 and "Delete, not Disable" in r.out and "30 days" in r.out


def test_unreachable_server_is_exit_2_and_audited(world: World, run: RunCli, audit: Path) -> None:
    env = world.env()
    env["CEXGUARD_API_URL"] = "http://127.0.0.1:9"
    r = run("revoke", "--yes", "--audit-log", str(audit), env=env)
    assert r.code == 2 and "cannot connect" in r.err
    (rec,) = audit_lines(audit)
    assert rec["status"] == "failed"


def test_unwritable_audit_log_is_exit_2_before_anything_is_sent(world: World, run: RunCli, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    r = run("revoke", "--yes", "--audit-log", str(blocker / "audit.jsonl"), env=world.env())
    assert r.code == 2 and "audit log" in r.err
    assert world.fake.calls() == []


def test_default_audit_log_location(world: World, run: RunCli, tmp_path: Path) -> None:
    r = run("revoke", env=world.env())
    assert r.code == 0
    path = tmp_path / "state" / "cexguard" / "revoke-audit.jsonl"
    assert path.exists() and len(audit_lines(path)) == 1
    assert oct(path.stat().st_mode & 0o777) == "0o600"
