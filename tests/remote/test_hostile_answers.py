"""Answers an attacker (or a broken proxy) can give, through the real command line: no answer may
hold a call open past its timeout, loop, or earn a verdict (`live`, `invalid`, `already_revoked`)
without the shape Binance gives that verdict; server words never reach a terminal as escapes."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT
from tests.remote.conftest import RunCli, World
from tests.remote.fakebinance import E_KEY_ID

RESTRICTIONS = "/sapi/v1/account/apiRestrictions"
IP_GET = "/sapi/v1/sub-account/subAccountApi/ipRestriction"


def cli(*args: str, env: dict[str, str], hang_guard: float = 120) -> subprocess.CompletedProcess[str]:
    """The real command in a subprocess; `hang_guard` only stops a run that would never end."""
    import os

    e = {k: v for k, v in os.environ.items() if not k.startswith(("BINANCE_", "CEXGUARD_"))}
    e.update(env, PYTHONPATH=str(REPO_ROOT))
    return subprocess.run([sys.executable, "-m", "scanner", *args], env=e, capture_output=True, text=True,
                          timeout=hang_guard)


# ------------------------------------------------------------------------------ time and retries

def test_drip_fed_answer_is_unknown_exit_3_within_the_timeout(world: World) -> None:
    world.fake.inject(None, drip=0.5, times=100)  # the real answer, half a second per byte: 5 minutes
    p = cli("verify", "--timeout", "1", "--format", "json", env=world.env(master=False))
    data = json.loads(p.stdout)
    assert (p.returncode, data["status"]) == (3, "unknown"), p.stderr
    assert "timed out" in data["error"]["message"]
    assert len(world.fake.calls()) == 3  # one attempt and the two retries, each cut at 1 s
    assert "Traceback" not in p.stderr


@pytest.mark.parametrize("value", ["0", "nan"])
def test_retry_after_zero_or_nan_is_bounded_exit_3(world: World, value: str) -> None:
    world.fake.inject(429, retry_after=value, times=10_000)
    p = cli("verify", "--format", "json", env=world.env(master=False))
    data = json.loads(p.stdout)
    assert (p.returncode, data["status"]) == (3, "unknown"), p.stderr
    assert len(world.fake.calls()) == 5  # not ~800 a second, forever


# ---------------------------------------------------------------------------------- verify shapes

@pytest.mark.parametrize("status,body", [
    (200, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}),
    (200, {"code": -2014, "msg": "API-key format invalid."}),
    (200, {"ipRestrict": False}),                     # lacks the permission fields
    (200, {"status": "ok"}),
    (200, []),
    (403, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}),
    (451, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."}),
    (401, {"code": -2015}),                           # no msg: not Binance's error shape
    (401, {"code": "-2015", "msg": "x"}),
    (401, {"code": True, "msg": "x"}),
    (400, {"code": -1100, "msg": "Illegal characters found in a parameter."}),
])
def test_verdict_needs_the_documented_shape(world: World, run: RunCli, status: int, body: Any) -> None:
    world.fake.inject(status, body=json.dumps(body), times=10)
    r = run("verify", "--format", "json", env=world.env(master=False))
    data = json.loads(r.out)
    assert (r.code, data["status"]) == (3, "unknown"), r.out
    assert data["permissions"] is None and data["causes"] == []


@pytest.mark.parametrize("status", [400, 401])
def test_documented_rejection_is_still_a_verdict(world: World, run: RunCli, status: int) -> None:
    world.fake.inject(status, body=json.dumps(E_KEY_ID))
    r = run("verify", "--format", "json", env=world.env(master=False))
    data = json.loads(r.out)
    assert (r.code, data["status"], data["causes"]) == (0, "deleted", ["deleted"])


def test_account_fallback_needs_the_account_fields(run: RunCli) -> None:
    from tests.remote.fakebinance import FakeBinance

    fake = FakeBinance(sapi=False).start()
    try:
        acct = fake.add_account("t@example.com")
        k = fake.add_key(acct)
        fake.inject(200, path="/api/v3/account", body=json.dumps({"uid": 1}))
        r = run("verify", "--format", "json", env={"BINANCE_API_KEY": k.api_key, "BINANCE_API_SECRET": k.secret or "",
                                                   "CEXGUARD_API_URL": fake.url})
        assert (r.code, json.loads(r.out)["status"]) == (3, "unknown")
    finally:
        fake.stop()


# ---------------------------------------------------------------------------------- revoke shapes

@pytest.fixture
def audit(tmp_path: Path) -> Path:
    return tmp_path / "audit.jsonl"


@pytest.mark.parametrize("status,body", [
    (400, {"code": -9000, "msg": "Sub-account API key not found."}),
    (404, {"code": -2008, "msg": "Invalid Api-Key ID."}),
    (200, {"code": -2008, "msg": "Invalid Api-Key ID."}),
    (400, {"msg": "not found"}),
    (500, {"code": -2008, "msg": "not exist"}),
])
def test_a_not_found_message_is_not_already_revoked(world: World, run: RunCli, audit: Path, status: int,
                                                     body: Any) -> None:
    """It said `already_revoked, confirmed: true` from any 4xx whose message said "not found"."""
    world.fake.inject(status, path=IP_GET, body=json.dumps(body), times=10)
    r = run("revoke", "--email", world.sub.email, "--format", "json", "--audit-log", str(audit),
            env=world.env(leaked_secret=False))
    data = json.loads(r.out)
    assert data["status"] == "failed" and data["confirmed"] is None and r.code == 1, r.out
    assert world.fake.alive(world.leaked.api_key)


def test_check_answer_about_another_key_proves_nothing(world: World, run: RunCli, audit: Path) -> None:
    other = world.fake.add_key(world.sub)
    world.fake.inject(200, path=IP_GET, body=json.dumps({"ipRestrict": "false", "ipList": [], "apiKey": other.api_key}),
                      times=10)
    r = run("revoke", "--email", world.sub.email, "--format", "json", "--audit-log", str(audit),
            env=world.env(leaked_secret=False))
    data = json.loads(r.out)
    assert (r.code, data["status"]) == (1, "failed")
    assert world.fake.mutating_calls() == []


def test_documented_unknown_key_is_already_revoked(world: World, run: RunCli, audit: Path) -> None:
    world.fake.keys[world.leaked.api_key].deleted = True
    r = run("revoke", "--email", world.sub.email, "--format", "json", "--audit-log", str(audit),
            env=world.env(leaked_secret=False))
    data = json.loads(r.out)
    assert (r.code, data["status"], data["confirmed"]) == (0, "already_revoked", True)


def test_uid_missing_from_the_account_answer_changes_nothing(world: World, run: RunCli, audit: Path) -> None:
    acct = {"canTrade": True, "canWithdraw": True, "balances": []}  # the account shape, but no uid
    world.fake.inject(200, path="/api/v3/account", body=json.dumps(acct), times=10)
    r = run("revoke", "--yes", "--format", "json", "--audit-log", str(audit), env=world.env())
    data = json.loads(r.out)
    assert (r.code, data["status"]) == (1, "failed") and "uid" in data["message"]
    assert world.fake.mutating_calls() == [] and world.fake.alive(world.leaked.api_key)


# ---------------------------------------------------------------------------- server words on a TTY

ESCAPES = "\x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J\x9b31m\u202e"


def test_server_message_escapes_never_reach_the_terminal(world: World, run: RunCli) -> None:
    world.fake.inject(400, body=json.dumps({"code": -1100, "msg": "bad " + ESCAPES}))
    r = run("verify", env=world.env(master=False))
    assert r.code == 3
    for ch in ("\x1b", "\x07", "\x9b", "\u202e"):
        assert ch not in r.out + r.err


def test_server_values_escaped_in_verify_text(world: World, run: RunCli) -> None:
    perms = {"ipRestrict": False, "enableReading": True, "enableWithdrawals": False, "createTime": 1,
             "enable" + ESCAPES: True, "note": ESCAPES}
    world.fake.inject(200, path=RESTRICTIONS, body=json.dumps(perms))
    r = run("verify", env=world.env(master=False))
    assert r.code == 1
    assert "\\x1b]52" in r.out and "\\u202e" in r.out
    for ch in ("\x1b", "\x07", "\x9b", "\u202e"):
        assert ch not in r.out + r.err
    j = run("verify", "--format", "json", env=world.env(master=False))
    assert j.out.isascii()  # JSON escapes (\u001b), never the raw bytes


def test_server_values_escaped_in_revoke_text(world: World, run: RunCli, audit: Path) -> None:
    world.fake.accounts[world.sub.uid].email = "bot" + ESCAPES + "@example.com"
    r = run("revoke", "--audit-log", str(audit), env=world.env())
    assert r.code == 0, r.out + r.err
    for ch in ("\x1b", "\x07", "\x9b", "\u202e"):
        assert ch not in r.out + r.err
    assert "\\x1b" in r.out
