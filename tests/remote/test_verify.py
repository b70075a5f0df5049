"""`cexguard verify` and `verify_findings` against the fake Binance."""
from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from scanner.models import Finding, fingerprint_of
from scanner.remote.binance import Transport
from scanner.remote.verify import assess_risk, verify_findings
from tests.remote.conftest import RunCli, World
from tests.remote.fakebinance import FakeBinance, random_alnum

RESTRICTIONS = "/sapi/v1/account/apiRestrictions"


def no_secret_in(w: World, *texts: str) -> None:
    for t in texts:
        for s in (w.leaked.secret, w.leaked.api_key, w.master_key.secret):
            assert s and s not in t


# ------------------------------------------------------------------------------------- command

def test_live_key_with_withdrawals_is_critical_and_exits_1(world: World, run: RunCli) -> None:
    r = run("verify", "--format", "json", env=world.env(master=False))
    assert r.code == 1, r.err
    data = json.loads(r.out)
    assert data["status"] == "live"
    assert data["permissions"]["enableWithdrawals"] is True
    assert data["permissions"]["ipRestrict"] is False
    assert data["permissions"]["enableSpotAndMarginTrading"] is True
    assert data["permissions"]["enableSomethingNew"] is False  # unknown fields are kept, not fatal
    assert data["risk"] == "critical"
    assert data["key"]["fingerprint"] == fingerprint_of(world.leaked.api_key)
    assert data["signature"] == "hmac"
    no_secret_in(world, r.out, r.err)
    assert world.fake.mutating_calls() == []


BINANCE_KEYS = {"status", "dead", "key", "signature", "api_url", "endpoint", "checked_at", "permissions", "account",
                "risk", "risk_reasons", "causes", "reasons", "error", "created_at", "age_days",
                "trading_authority_expires_at", "settled", "tell_apart"}


def test_binance_verdict_has_the_shared_permission_model_beside_its_own_fields(world: World, run: RunCli) -> None:
    """One verdict shape for every exchange: Binance's keeps all its keys and gains `exchange` and
    `normalized_permissions`, read from apiRestrictions."""
    r = run("verify", "--format", "json", env=world.env(master=False))
    data = json.loads(r.out)
    assert set(data) >= BINANCE_KEYS and set(data) - BINANCE_KEYS == {"exchange", "normalized_permissions"}
    assert data["exchange"] == "binance"
    assert data["normalized_permissions"] == {"read": True, "trade": True, "withdraw": True, "transfer": False,
                                              "ip_restricted": False, "expires": None}


@pytest.mark.parametrize("perms,normalized", [
    ({"enableReading": True, "ipRestrict": True}, {"trade": False, "withdraw": False, "transfer": False,
                                                  "ip_restricted": True}),
    ({"enableFutures": True}, {"trade": True, "withdraw": False, "transfer": False, "ip_restricted": False}),
    ({"permitsUniversalTransfer": True}, {"trade": False, "withdraw": False, "transfer": True,
                                          "ip_restricted": False}),
])
def test_binance_normalized_permissions(fake: FakeBinance, run: RunCli, perms: dict[str, bool],
                                        normalized: dict[str, bool]) -> None:
    acct = fake.add_account("a@example.com")
    ips = ["127.0.0.1"] if perms.pop("ipRestrict", False) else None
    k = fake.add_key(acct, ip_list=ips, **perms)
    data = json.loads(run("verify", "--format", "json", env={**k.env(), "CEXGUARD_API_URL": fake.url}).out)
    got = data["normalized_permissions"]
    assert {x: got[x] for x in normalized} == normalized and got["read"] is True


def test_rejected_binance_key_has_no_normalized_permissions(world: World, run: RunCli) -> None:
    world.fake.keys[world.leaked.api_key].deleted = True
    data = json.loads(run("verify", "--format", "json", env=world.env(master=False)).out)
    assert (data["status"], data["exchange"], data["normalized_permissions"]) == ("rejected", "binance", None)


def test_text_output(world: World, run: RunCli) -> None:
    r = run("verify", env=world.env(master=False))
    assert r.code == 1
    assert "LIVE" in r.out and "critical" in r.out and "enableWithdrawals" in r.out
    assert world.leaked.api_key[:4] + "..." + world.leaked.api_key[-4:] in r.out
    no_secret_in(world, r.out, r.err)


@pytest.mark.parametrize("perms,risk", [
    ({"enableWithdrawals": True}, "critical"),
    ({"enableWithdrawals": True, "ipRestrict": True}, "high"),
    ({"enableSpotAndMarginTrading": True, "ipRestrict": True}, "high"),
    ({"enableFutures": True}, "high"),
    ({"enableInternalTransfer": True}, "high"),
    ({"permitsUniversalTransfer": True}, "high"),
    ({"enableReading": True}, "medium"),
    ({"enableReading": True, "ipRestrict": True}, "low"),
])
def test_risk(perms: dict[str, bool], risk: str) -> None:
    full = {"ipRestrict": False, "enableReading": True, "enableWithdrawals": False, "enableFutures": False,
            "enableSpotAndMarginTrading": False, "enableInternalTransfer": False, "permitsUniversalTransfer": False}
    full.update(perms)
    level, reasons = assess_risk(full)
    assert level == risk and reasons


def test_ip_restricted_key_that_works_from_here_says_so(fake: FakeBinance, run: RunCli) -> None:
    acct = fake.add_account("a@example.com")
    k = fake.add_key(acct, ip_list=["127.0.0.1"], enableSpotAndMarginTrading=True)
    r = run("verify", "--format", "json", env={**k.env(), "CEXGUARD_API_URL": fake.url})
    data = json.loads(r.out)
    assert (r.code, data["status"], data["risk"]) == (1, "live", "high")
    assert any("whitelist" in x for x in data["risk_reasons"])


def test_deleted_key_without_master_is_rejected_exit_5_not_dead(world: World, run: RunCli) -> None:
    world.fake.keys[world.leaked.api_key].deleted = True
    r = run("verify", "--format", "json", env=world.env(master=False))
    data = json.loads(r.out)
    assert (r.code, data["status"], data["dead"]) == (5, "rejected", None)
    assert data["error"]["code"] == -2015
    assert data["causes"] == ["deleted", "ip_restricted_elsewhere", "no_permission"]
    assert data["permissions"] is None and data["risk"] is None and data["settled"] is None
    assert any("CEXGUARD_MASTER_API_KEY" in t for t in data["tell_apart"])
    no_secret_in(world, r.out, r.err)


def test_ip_restricted_elsewhere_is_rejected_and_says_how_to_tell(fake: FakeBinance, run: RunCli) -> None:
    acct = fake.add_account("a@example.com")
    k = fake.add_key(acct, ip_list=["203.0.113.7"], enableWithdrawals=True)
    r = run("verify", env={**k.env(), "CEXGUARD_API_URL": fake.url})
    assert r.code == 5
    assert "REJECTED" in r.out and "IP-restricted" in r.out and "whitelisted addresses" in r.out
    assert "to tell a deleted key from a live IP-restricted one" in r.out and "CEXGUARD_MASTER_API_KEY" in r.out


def test_wrong_secret_is_its_own_status_exit_5(world: World, run: RunCli) -> None:
    env = world.env(master=False)
    env["BINANCE_API_SECRET"] = random_alnum()
    r = run("verify", "--format", "json", env=env)
    data = json.loads(r.out)
    assert (r.code, data["status"], data["causes"], data["error"]["code"]) == (5, "wrong_secret", ["wrong_secret"], -1022)
    assert data["dead"] is None and data["tell_apart"] == []
    assert env["BINANCE_API_SECRET"] not in r.out + r.err


def test_malformed_key_is_dead_2014(fake: FakeBinance, run: RunCli) -> None:
    r = run("verify", "--format", "json",
            env={"BINANCE_API_KEY": "short", "BINANCE_API_SECRET": random_alnum(), "CEXGUARD_API_URL": fake.url})
    data = json.loads(r.out)
    assert (r.code, data["status"], data["causes"], data["dead"]) == (0, "malformed", ["malformed"], True)


@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
def test_private_key_file(fake: FakeBinance, run: RunCli, tmp_path: Path, kind: str) -> None:
    acct = fake.add_account("a@example.com")
    k = fake.add_key(acct, kind=kind, enableFutures=True)
    pem = tmp_path / "key.pem"
    pem.write_bytes(k.private_key_pem or b"")
    r = run("verify", "--format", "json", env={**k.env(key_file=str(pem)), "CEXGUARD_API_URL": fake.url})
    data = json.loads(r.out)
    assert (r.code, data["status"], data["signature"], data["risk"]) == (1, "live", kind, "high")


def test_encrypted_private_key_with_passphrase(fake: FakeBinance, run: RunCli, tmp_path: Path) -> None:
    pw = secrets.token_urlsafe(16)
    acct = fake.add_account("a@example.com")
    k = fake.add_key(acct, kind="ed25519", passphrase=pw.encode())
    pem = tmp_path / "key.pem"
    pem.write_bytes(k.private_key_pem or b"")
    env = {**k.env(key_file=str(pem)), "CEXGUARD_API_URL": fake.url}
    r = run("verify", env=env)
    assert r.code == 2 and "BINANCE_PRIVATE_KEY_PASSPHRASE" in r.err and r.out == ""
    r = run("verify", env={**env, "BINANCE_PRIVATE_KEY_PASSPHRASE": pw + "x"})
    assert r.code == 2 and "wrong passphrase" in r.err and pw not in r.err
    assert "Traceback" not in r.err and len(r.err.strip().splitlines()) == 1
    r = run("verify", "--format", "json", env={**env, "BINANCE_PRIVATE_KEY_PASSPHRASE": pw})
    assert r.code == 1 and json.loads(r.out)["status"] == "live"
    assert fake.calls(RESTRICTIONS)  # only the last run reached the server
    assert len(fake.calls()) == 1


def test_persistent_5xx_is_unknown_exit_3(world: World, run: RunCli) -> None:
    world.fake.inject(502, times=100)
    r = run("verify", "--format", "json", env=world.env(master=False))
    data = json.loads(r.out)
    assert (r.code, data["status"]) == (3, "unknown")
    assert data["permissions"] is None and data["risk"] is None
    assert len(world.fake.calls()) == 3


def test_waf_is_unknown(world: World, run: RunCli) -> None:
    world.fake.inject(403)
    r = run("verify", env=world.env(master=False))
    assert r.code == 3 and "UNKNOWN" in r.out and "firewall" in r.out


def test_ban_longer_than_the_wait_budget_is_unknown_without_waiting(world: World, run: RunCli) -> None:
    world.fake.inject(418, retry_after=7200)
    r = run("verify", "--format", "json", env=world.env(master=False))
    assert r.code == 3 and json.loads(r.out)["status"] == "unknown"


def test_testnet_without_sapi_falls_back_to_account(run: RunCli) -> None:
    fake = FakeBinance(sapi=False).start()
    try:
        acct = fake.add_account("a@example.com")
        k = fake.add_key(acct, enableSpotAndMarginTrading=True)
        r = run("verify", "--format", "json", env={**k.env(), "CEXGUARD_API_URL": fake.url})
        data = json.loads(r.out)
        assert (r.code, data["status"], data["risk"], data["permissions"]) == (1, "live", "unknown", None)
        assert data["account"]["canTrade"] is True and data["endpoint"] == "GET /api/v3/account"
        # the account's flags cap the key's but never prove them: only read is known
        assert data["normalized_permissions"]["read"] is True
        assert data["normalized_permissions"]["withdraw"] in (None, False)
        assert data["normalized_permissions"]["trade"] is None
    finally:
        fake.stop()


def test_api_url_option_beats_env(world: World, run: RunCli) -> None:
    env = world.env(master=False)
    env["CEXGUARD_API_URL"] = "http://127.0.0.1:9"  # nothing listens there
    r = run("verify", "--api-url", world.fake.url, env=env)
    assert r.code == 1


# --------------------------------------------------------------------------------- usage errors

@pytest.mark.parametrize("env,msg", [
    ({}, "BINANCE_API_KEY is not set"),
    ({"BINANCE_API_KEY": "k" * 64}, "BINANCE_API_SECRET or BINANCE_PRIVATE_KEY_FILE must be set"),
    ({"BINANCE_API_KEY": "k" * 64, "BINANCE_API_SECRET": "s" * 64, "BINANCE_PRIVATE_KEY_FILE": "/x"},
     "only one of"),
    ({"BINANCE_API_KEY": "k" * 64, "BINANCE_PRIVATE_KEY_FILE": "/nonexistent/key.pem"}, "cannot read"),
    ({"BINANCE_API_KEY": "k" * 64, "BINANCE_API_SECRET": "s" * 64, "CEXGUARD_API_URL": "http://example.com"},
     "plain http is allowed only to a loopback"),
])
def test_usage_errors_are_one_line_exit_2(run: RunCli, env: dict[str, str], msg: str) -> None:
    r = run("verify", env=env)
    assert r.code == 2 and r.out == ""
    assert msg in r.err and len(r.err.strip().splitlines()) == 1 and r.err.startswith("cexguard: error:")


def test_bad_url_from_the_environment_names_the_variable(run: RunCli) -> None:
    r = run("verify", env={"BINANCE_API_KEY": random_alnum(), "BINANCE_API_SECRET": random_alnum(),
                           "CEXGUARD_API_URL": "http://203.0.113.9:8080"})
    assert r.code == 2 and r.err.startswith("cexguard: error: CEXGUARD_API_URL: plain http")
    r = run("verify", "--api-url", "http://203.0.113.9", env={"BINANCE_API_KEY": random_alnum(),
                                                              "BINANCE_API_SECRET": random_alnum()})
    assert r.code == 2 and r.err.startswith("cexguard: error: --api-url: plain http")


def test_bad_pem_is_exit_2(run: RunCli, tmp_path: Path) -> None:
    p = tmp_path / "k.pem"
    p.write_text("-----BEGIN PRIVATE KEY-----\nnot base64 at all\n-----END PRIVATE KEY-----\n")
    r = run("verify", env={"BINANCE_API_KEY": random_alnum(), "BINANCE_PRIVATE_KEY_FILE": str(p)})
    assert r.code == 2 and "not a valid PEM private key" in r.err


def test_unreachable_server_is_exit_2(run: RunCli) -> None:
    env = {"BINANCE_API_KEY": random_alnum(), "BINANCE_API_SECRET": random_alnum(),
           "CEXGUARD_API_URL": "http://127.0.0.1:9"}
    r = run("verify", env=env)
    assert r.code == 2 and "cannot connect to http://127.0.0.1:9" in r.err
    assert env["BINANCE_API_SECRET"] not in r.err and env["BINANCE_API_KEY"] not in r.err


def test_secret_is_not_accepted_on_the_command_line(run: RunCli) -> None:
    r = run("verify", "--secret", random_alnum())
    assert r.code == 2


# ----------------------------------------------------------------------------- verify_findings

def ver(f: Finding) -> Mapping[str, Any]:
    assert f.verification is not None
    return f.verification


def finding(kind: str, secret: str, *, path: str = "a.env", line: int = 1, paired: str | None = None,
            example: bool = False) -> Finding:
    return Finding(rule=kind.replace("_", "-"), kind=kind, path=path, line=line, end_line=line, column=1,
                   secret=secret, fingerprint=fingerprint_of(secret), paired_with=paired, example=example)


def pair(key: str, secret: str, *, path: str = "a.env", kind: str = "binance_secret_key") -> list[Finding]:
    return [finding("binance_api_key", key, path=path, paired=fingerprint_of(secret)),
            finding(kind, secret, path=path, line=2, paired=fingerprint_of(key))]


def test_verify_findings_verifies_each_distinct_pair_once(world: World) -> None:
    dead = world.fake.add_key(world.sub)
    world.fake.keys[dead.api_key].deleted = True
    lone_key = random_alnum()
    findings = (pair(world.leaked.api_key, world.leaked.secret or "", path="a.env")
                + pair(world.leaked.api_key, world.leaked.secret or "", path="b/config.py")
                + pair(dead.api_key, dead.secret or "", path="c.env")
                + [finding("binance_api_key", lone_key, path="d.txt")])
    out = verify_findings(findings, api_url=world.fake.url)
    assert [f.path for f in out] == [f.path for f in findings]
    assert [ver(f)["status"] for f in out] == ["live"] * 4 + ["rejected"] * 2 + ["unverifiable"]
    assert ver(out[0])["risk"] == "critical"
    assert ver(out[0])["permissions"]["enableWithdrawals"] is True
    assert "paired" in ver(out[6])["reason"]
    assert len(world.fake.calls(RESTRICTIONS)) == 2  # one per distinct pair
    assert lone_key not in json.dumps([f.verification for f in out])


def test_verify_findings_pairs_through_either_side(world: World) -> None:
    key = finding("binance_api_key", world.leaked.api_key)  # no paired_with on the key
    sec = finding("binance_secret_key", world.leaked.secret or "", paired=fingerprint_of(world.leaked.api_key))
    out = verify_findings([key, sec], api_url=world.fake.url)
    assert [ver(f)["status"] for f in out] == ["live", "live"]


def test_examples_are_never_sent(fake: FakeBinance) -> None:
    key, secret = random_alnum(), random_alnum()
    fs = [finding("binance_api_key", key, paired=fingerprint_of(secret), example=True),
          finding("binance_secret_key", secret, paired=fingerprint_of(key), example=True)]
    out = verify_findings(fs, api_url=fake.url)
    assert {ver(f)["status"] for f in out} == {"unverifiable"}
    assert "example" in ver(out[0])["reason"]
    assert fake.calls() == []


def test_private_key_findings(fake: FakeBinance) -> None:
    acct = fake.add_account("a@example.com")
    ed = fake.add_key(acct, kind="ed25519")
    enc = fake.add_key(acct, kind="rsa", passphrase=b"pw")
    fs = (pair(ed.api_key, (ed.private_key_pem or b"").decode(), kind="binance_private_key")
          + pair(enc.api_key, (enc.private_key_pem or b"").decode(), kind="binance_private_key", path="x"))
    out = verify_findings(fs, transport=Transport(fake.url))
    assert [ver(f)["status"] for f in out] == ["live", "live", "unverifiable", "unverifiable"]
    assert ver(out[0])["signature"] == "ed25519"
    assert "encrypted" in ver(out[2])["reason"]
    assert len(fake.calls()) == 1


def test_verify_findings_without_relevant_findings_sends_nothing_and_needs_no_url() -> None:
    assert verify_findings([], api_url="http://example.com") == []


def test_verify_findings_refuses_a_bad_url_before_sending(fake: FakeBinance) -> None:
    from scanner.errors import CexguardError

    with pytest.raises(CexguardError, match="loopback"):
        verify_findings(pair(random_alnum(), random_alnum()), api_url="http://example.com")


# ------------------------------------------------------------- -2015 settled, key age (issue 12)

def test_ip_restricted_live_key_is_settled_through_the_master(world: World, run: RunCli) -> None:
    """Called from outside its whitelist the key answers -2015; the master account sees it exists."""
    key = world.fake.keys[world.leaked.api_key]
    key.ip_restrict, key.ip_list = True, ["203.0.113.7", "198.51.100.2"]
    r = run("verify", "--format", "json", env=world.env())  # no --email, no audit log: searched
    data = json.loads(r.out)
    assert (r.code, data["status"], data["dead"]) == (1, "live_ip_restricted", False), r.out
    st = data["settled"]
    assert st["outcome"] == "exists" and st["email"] == "bot@example.com" and st["source"] == "sub-account search"
    assert st["ip_list"] == ["203.0.113.7", "198.51.100.2"]
    assert world.fake.mutating_calls() == []
    no_secret_in(world, r.out, r.err)
    t = run("verify", "--email", "bot@example.com", env=world.env())
    assert t.code == 1 and "LIVE_IP_RESTRICTED" in t.out and "203.0.113.7" in t.out


def test_the_same_key_called_from_a_whitelisted_address_is_live(world: World, run: RunCli) -> None:
    key = world.fake.keys[world.leaked.api_key]
    key.ip_restrict, key.ip_list = True, ["203.0.113.7"]
    world.fake.client_ip = "203.0.113.7"  # the fake now sees the caller at the whitelisted address
    r = run("verify", "--format", "json", env=world.env(master=False))
    assert r.code == 1 and json.loads(r.out)["status"] == "live"


def test_deleted_key_is_settled_deleted_with_email(world: World, run: RunCli) -> None:
    world.fake.keys[world.leaked.api_key].deleted = True
    r = run("verify", "--format", "json", "--email", "bot@example.com", env=world.env())
    data = json.loads(r.out)
    assert (r.code, data["status"], data["dead"]) == (0, "deleted", True)
    assert data["settled"]["source"] == "--email" and data["tell_apart"] == []


def test_deleted_key_not_found_by_search_stays_rejected(world: World, run: RunCli) -> None:
    """A search that finds the key nowhere cannot tell deleted from someone else's key: not settled."""
    world.fake.keys[world.leaked.api_key].deleted = True
    r = run("verify", "--format", "json", env=world.env())
    data = json.loads(r.out)
    assert (r.code, data["status"]) == (5, "rejected")
    assert data["settled"]["outcome"] == "not_found" and data["settled"]["searched"] == 2
    assert len(world.fake.calls("/sapi/v1/sub-account/subAccountApi/ipRestriction")) == 2


def test_search_stops_at_the_uid_weight_budget(world: World) -> None:
    from scanner.remote.binance import Credentials, HmacSigner
    from scanner.remote.verify import settle_rejected, verify_credentials

    for i in range(5):
        world.fake.add_account(f"extra{i}@example.com", master=world.master)
    world.fake.keys[world.leaked.api_key].deleted = True
    t = Transport(world.fake.url)
    leaked = Credentials(world.leaked.api_key, HmacSigner(world.leaked.secret or ""))
    master = Credentials(world.master_key.api_key, HmacSigner(world.master_key.secret or ""))
    v = settle_rejected(verify_credentials(leaked, transport=t), leaked=leaked, master=master, transport=t,
                        uid_budget=6000)
    assert v.status == "rejected" and v.settled is not None
    assert v.settled["outcome"] == "not_settled" and "budget" in v.settled["detail"] and v.settled["searched"] == 2
    assert len(world.fake.calls("/sapi/v1/sub-account/subAccountApi/ipRestriction")) == 2


def test_wrong_secret_is_not_settled_as_deleted(world: World, run: RunCli) -> None:
    env = world.env()
    env["BINANCE_API_SECRET"] = random_alnum()
    r = run("verify", "--format", "json", env=env)
    data = json.loads(r.out)
    assert (r.code, data["status"], data["settled"]) == (5, "wrong_secret", None)
    assert world.fake.calls("/sapi/v1/sub-account/subAccountApi/ipRestriction") == []


def test_key_age_and_rotation(fake: FakeBinance, run: RunCli) -> None:
    acct = fake.add_account("a@example.com")
    expires = fake.server_ms() + 30 * 86_400_000
    k = fake.add_key(acct, created_days_ago=120.5, trading_authority_expires=expires)
    env = {**k.env(), "CEXGUARD_API_URL": fake.url}
    data = json.loads(run("verify", "--format", "json", env=env).out)
    assert data["age_days"] == 120 and data["created_at"].endswith("Z")
    assert any("120 days old" in r and "rotation period of 90 days" in r for r in data["risk_reasons"])
    assert data["trading_authority_expires_at"] and any("trading authority expires" in r for r in data["risk_reasons"])
    relaxed = json.loads(run("verify", "--format", "json", "--rotate-after", "200", env=env).out)
    assert not any("days old" in r for r in relaxed["risk_reasons"])
    young = fake.add_key(acct, created_days_ago=3)
    d = json.loads(run("verify", "--format", "json", env={**young.env(), "CEXGUARD_API_URL": fake.url}).out)
    assert d["age_days"] == 3 and not any("days old" in r for r in d["risk_reasons"])
    t = run("verify", env=env)
    assert "created" in t.out and "120 days ago" in t.out
