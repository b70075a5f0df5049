"""Bybit, OKX, KuCoin, Kraken, Coinbase, Bitget, Gate, MEXC and HTX through `cexguard verify/revoke --exchange` against a local
fake that checks each exchange's signatures: every status, the normalised permissions, hostile
answers, Bybit's revocation (dry run, self-delete, through the master, quarantine, idempotent,
audited), the exchanges without a verifier or a delete API, and scan --verify's dispatch."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scanner.models import Finding, fingerprint_of
from tests.remote.conftest import RunCli
from tests.remote.fakeexchanges import FakeExchanges, FKey

PREFIX = {"bybit": "BYBIT", "okx": "OKX", "kucoin": "KUCOIN", "kraken": "KRAKEN", "coinbase": "COINBASE",
          "bitget": "BITGET", "gate": "GATE", "mexc": "MEXC", "htx": "HTX"}
LIVE_PERMS: dict[str, dict[str, Any]] = {
    "bybit": {"permissions": {"Spot": ["SpotTrade"], "Wallet": ["AccountTransfer", "Withdraw"], "ContractTrade": []}},
    "okx": {"permissions": {"perm": "read_only,trade,withdraw"}},
    "kucoin": {"permissions": {"permission": "General,Spot,Withdrawal"}},
    "kraken": {"permissions": {"permissions": ["query-funds", "withdraw-funds", "modify-trades"]}},
    "coinbase": {"permissions": {"can_view": True, "can_trade": True, "can_transfer": True}},
    "bitget": {"permissions": {"authorities": ["stow", "wtow", "wwow", "coor"]}},
    "gate": {},
    "mexc": {},
    "htx": {"permissions": {"permission": "readOnly,trade,withdraw"}},
}
REPORTS_WITHDRAW = ["bybit", "okx", "kucoin", "kraken", "coinbase", "bitget", "htx"]  # Gate, MEXC: not the key's


@pytest.fixture
def fx() -> Iterator[FakeExchanges]:
    f = FakeExchanges().start()
    yield f
    f.stop()


def env_for(fx: FakeExchanges, key: FKey, *, secret: str | None = None, passphrase: str | None = None,
            with_secret: bool = True) -> dict[str, str]:
    p = PREFIX[key.exchange]
    e = {f"{p}_API_KEY": key.api_key, "CEXGUARD_API_URL": fx.url}
    if with_secret:
        e[f"{p}_API_SECRET"] = secret if secret is not None else key.secret
    if key.passphrase:
        e[f"{p}_API_PASSPHRASE"] = passphrase if passphrase is not None else key.passphrase
    return e


def verify(run: RunCli, fx: FakeExchanges, key: FKey, **kw: Any) -> tuple[int, dict[str, Any], str]:
    r = run("verify", "--exchange", key.exchange, "--format", "json", env=env_for(fx, key, **kw))
    assert "Traceback" not in r.err
    for s in (key.secret, key.passphrase, key.api_key):  # the key itself is shown only redacted
        if s:
            assert s not in r.out + r.err
    return r.code, (json.loads(r.out) if r.out.strip() else {}), r.err


# ------------------------------------------------------------------------------------------ verify

@pytest.mark.parametrize("exchange", REPORTS_WITHDRAW)
def test_live_key_with_withdrawals_is_critical(run: RunCli, fx: FakeExchanges, exchange: str) -> None:
    key = fx.add(exchange, **LIVE_PERMS[exchange])
    code, data, err = verify(run, fx, key)
    assert (code, data["status"]) == (1, "live"), err
    assert data["exchange"] == exchange and data["dead"] is False
    norm = data["normalized_permissions"]
    assert norm["withdraw"] is True and norm["trade"] is True
    assert data["risk"] == "critical"
    assert data["permissions"]  # the exchange's own fields, beside the model
    assert fx.violations == []


@pytest.mark.parametrize("exchange", ["bybit", "okx", "kucoin", "kraken", "bitget", "htx"])
def test_read_only_key_behind_a_whitelist_is_low(run: RunCli, fx: FakeExchanges, exchange: str) -> None:
    perms = {"bybit": {"read_only": 1, "permissions": {"Spot": [], "Wallet": []}},
             "okx": {"permissions": {"perm": "read_only"}}, "kucoin": {"permissions": {"permission": "General"}},
             "kraken": {"permissions": {"permissions": ["query-funds"]}},
             "bitget": {"permissions": {"authorities": ["stor", "coor"]}},
             "htx": {"permissions": {"permission": "readOnly"}}}[exchange]
    key = fx.add(exchange, ips=["127.0.0.1"], **perms)
    code, data, _ = verify(run, fx, key)
    assert (code, data["status"], data["risk"]) == (1, "live", "low")
    assert data["normalized_permissions"]["ip_restricted"] is True


@pytest.mark.parametrize("form", ["ed25519", "ed25519_pem"])
def test_coinbase_ed25519_key_signs_an_eddsa_jwt(run: RunCli, fx: FakeExchanges, form: str) -> None:
    """Both forms Coinbase hands out: 64 bytes in base64, and the PKCS#8 PEM a CDP key file may hold."""
    key = fx.add("coinbase", **{form: True}, permissions={"can_view": True, "can_trade": False, "can_transfer": False})
    code, data, err = verify(run, fx, key)
    assert (code, data["status"], data["risk"]) == (1, "live", "medium"), err
    assert fx.violations == []


@pytest.mark.parametrize("exchange,status,code", [
    ("bybit", "deleted", 0), ("okx", "deleted", 0), ("kucoin", "deleted", 0),
    ("kraken", "rejected", 5), ("coinbase", "rejected", 5),
    ("bitget", "deleted", 0), ("gate", "deleted", 0), ("mexc", "deleted", 0), ("htx", "deleted", 0),
])
def test_deleted_key(run: RunCli, fx: FakeExchanges, exchange: str, status: str, code: int) -> None:
    key = fx.add(exchange)
    key.deleted = True
    got, data, _ = verify(run, fx, key)
    assert (got, data["status"]) == (code, status)
    assert data["permissions"] is None and data["error"]


@pytest.mark.parametrize("exchange", list(PREFIX))
def test_wrong_secret(run: RunCli, fx: FakeExchanges, exchange: str) -> None:
    key = fx.add(exchange)
    other = fx.add(exchange)
    code, data, _ = verify(run, fx, key, secret=other.secret)
    want = "rejected" if exchange in ("coinbase", "htx") else "wrong_secret"  # their refusals do not say why
    assert data["status"] == want and code == 5


@pytest.mark.parametrize("exchange", ["okx", "kucoin", "bitget"])
def test_wrong_passphrase_is_wrong_secret_with_its_cause(run: RunCli, fx: FakeExchanges, exchange: str) -> None:
    key = fx.add(exchange)
    code, data, _ = verify(run, fx, key, passphrase="not-the-passphrase")
    assert (code, data["status"], data["causes"]) == (5, "wrong_secret", ["wrong_passphrase"])


@pytest.mark.parametrize("exchange", ["bybit", "okx", "kucoin", "bitget", "gate", "mexc"])
def test_ip_restricted_elsewhere_is_told_from_dead(run: RunCli, fx: FakeExchanges, exchange: str) -> None:
    key = fx.add(exchange, ips=["203.0.113.7"])
    code, data, _ = verify(run, fx, key)
    assert (code, data["status"], data["causes"]) == (1, "live_ip_restricted", ["ip_restricted_elsewhere"])


@pytest.mark.parametrize("exchange", ["bybit", "okx", "kucoin", "bitget", "gate", "mexc"])
def test_a_clock_off_by_minutes_is_corrected_from_the_server(run: RunCli, fx: FakeExchanges, exchange: str) -> None:
    fx.clock_offset_ms = 10 * 60 * 1000
    key = fx.add(exchange)
    code, data, _ = verify(run, fx, key)
    assert (code, data["status"]) == (1, "live")


def test_missing_passphrase_and_bad_secret_are_one_line_errors(run: RunCli, fx: FakeExchanges) -> None:
    key = fx.add("okx")
    env = env_for(fx, key)
    del env["OKX_API_PASSPHRASE"]
    r = run("verify", "--exchange", "okx", env=env)
    assert r.code == 2 and "OKX_API_PASSPHRASE" in r.err and len(r.err.strip().splitlines()) == 1
    kr = fx.add("kraken")
    r = run("verify", "--exchange", "kraken", env=env_for(fx, kr, secret="not base64 at all!"))
    assert r.code == 2 and "base64" in r.err and kr.secret not in r.err
    assert fx.requests == []


@pytest.mark.parametrize("exchange", ["gate", "mexc"])
def test_without_the_keys_own_permissions_the_risk_is_unknown_not_read_only(run: RunCli, fx: FakeExchanges,
                                                                             exchange: str) -> None:
    """Gate's account detail and MEXC's account say nothing about what the key may do: never "medium"."""
    key = fx.add(exchange)
    code, data, _ = verify(run, fx, key)
    assert (code, data["status"], data["risk"]) == (1, "live", "unknown")
    assert data["normalized_permissions"]["withdraw"] is None
    assert any("treat it as able" in r for r in data["risk_reasons"])


def test_mexc_account_that_cannot_withdraw_caps_the_key(run: RunCli, fx: FakeExchanges) -> None:
    key = fx.add("mexc", permissions={"canTrade": False, "canWithdraw": False})
    code, data, _ = verify(run, fx, key)
    assert (data["status"], data["risk"]) == ("live", "medium")
    assert data["normalized_permissions"]["withdraw"] is False


def test_gate_reports_the_keys_ip_whitelist_and_owner(run: RunCli, fx: FakeExchanges) -> None:
    key = fx.add("gate", ips=["127.0.0.1"])
    code, data, _ = verify(run, fx, key)
    assert data["normalized_permissions"]["ip_restricted"] is True
    assert data["account"] == {"user_id": key.uid} and data["signature"] == "hmac-sha512"


def test_bitget_unified_account_key_is_live_with_unknown_permissions(run: RunCli, fx: FakeExchanges) -> None:
    key = fx.add("bitget", permissions={"unified": True})
    code, data, _ = verify(run, fx, key)
    assert (code, data["status"], data["risk"]) == (1, "live", "unknown")
    assert data["normalized_permissions"] is None


def test_htx_key_whose_own_info_cannot_be_read_is_still_live(run: RunCli, fx: FakeExchanges) -> None:
    key = fx.add("htx", permissions={"permission": "readOnly,trade"})
    fx.inject(200, '{"code": 1003, "message": "invalid signature", "data": null}', path="/v2/user/uid")
    code, data, _ = verify(run, fx, key)
    assert (code, data["status"], data["risk"]) == (1, "live", "unknown")
    fx.faults.clear()
    code, data, _ = verify(run, fx, key)
    assert (data["risk"], data["normalized_permissions"]["trade"]) == ("high", True)
    assert key.api_key not in json.dumps(data)


def test_htx_signature_refused_for_another_reason_is_not_called_dead(run: RunCli, fx: FakeExchanges) -> None:
    key = fx.add("htx", ips=["203.0.113.7"])
    code, data, _ = verify(run, fx, key)
    assert (code, data["status"]) == (5, "rejected")  # HTX's answer does not tell IP from secret


# --------------------------------------------------------------------------------- hostile answers

HOSTILE: list[tuple[int, str, str]] = [
    (200, "{}", "application/json"),
    (200, "[]", "application/json"),
    (200, "<html>captive portal</html>", "text/html"),
    (200, '{"retCode": 0, "retMsg": "OK", "result": {"apiKey": "x"}}', "application/json"),
    (200, '{"code": "0", "data": [{"uid": "1"}]}', "application/json"),
    (200, '{"code": "200000", "data": {}}', "application/json"),
    (200, '{"error": [], "result": {}}', "application/json"),
    (200, '{"can_view": "yes"}', "application/json"),
    (401, '{"detail": "no"}', "application/json"),
    (401, "Go away", "text/plain"),
    (403, '{"retCode": 10003, "retMsg": "API key is invalid."}', "application/json"),
    (500, '{"code": "50111", "msg": "Invalid OK-ACCESS-KEY"}', "application/json"),
]


@pytest.mark.parametrize("exchange", list(PREFIX))
@pytest.mark.parametrize("status,body,ctype", HOSTILE)
def test_no_verdict_without_the_documented_shape(run: RunCli, fx: FakeExchanges, exchange: str, status: int,
                                                  body: str, ctype: str) -> None:
    key = fx.add(exchange, **LIVE_PERMS[exchange])
    fx.inject(status, body, times=10, content_type=ctype)
    code, data, err = verify(run, fx, key)
    assert (code, data["status"]) == (3, "unknown"), (data, err)
    assert data["normalized_permissions"] is None


def test_another_exchanges_error_code_proves_nothing(run: RunCli, fx: FakeExchanges) -> None:
    key = fx.add("okx")
    fx.inject(401, '{"retCode": 10003, "retMsg": "API key is invalid."}')  # Bybit's words at OKX's door
    code, data, _ = verify(run, fx, key)
    assert (code, data["status"]) == (3, "unknown")


# ------------------------------------------------------------------------------------ Bybit revoke

CAN_DELETE = {"permissions": {"Spot": ["SpotTrade"], "Wallet": ["AccountTransfer"]}}


def revoke(run: RunCli, fx: FakeExchanges, key: FKey, audit: Path, *args: str, master: FKey | None = None,
           with_secret: bool = True) -> tuple[int, dict[str, Any], str]:
    env = env_for(fx, key, with_secret=with_secret)
    if master is not None:
        env.update({"CEXGUARD_MASTER_API_KEY": master.api_key, "CEXGUARD_MASTER_API_SECRET": master.secret})
    r = run("revoke", "--exchange", key.exchange, "--format", "json", "--audit-log", str(audit), *args, env=env)
    assert "Traceback" not in r.err
    texts = r.out + r.err + (audit.read_text() if audit.exists() else "")
    for s in (key.secret, key.api_key, master.secret if master else None, master.api_key if master else None):
        if s:
            assert s not in texts
    return r.code, json.loads(r.out), r.err


def test_bybit_dry_run_then_the_key_deletes_itself_then_nothing_to_do(run: RunCli, fx: FakeExchanges,
                                                                      tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    key = fx.add("bybit", **CAN_DELETE)
    code, data, _ = revoke(run, fx, key, audit)
    assert (code, data["status"], data["dry_run"]) == (0, "dry_run", True)
    assert [s["request"] for s in data["steps"] if s["outcome"] == "planned"][0] == "POST /v5/user/delete-api"
    assert fx.mutating() == [] and fx.alive(key.api_key)

    code, data, _ = revoke(run, fx, key, audit, "--yes")
    assert (code, data["status"], data["confirmed"]) == (0, "revoked", True)
    assert not fx.alive(key.api_key)
    assert data["owner"]["type"] == "master_account"

    code, data, _ = revoke(run, fx, key, audit, "--yes")
    assert (code, data["status"]) == (0, "already_revoked")
    records = [json.loads(x) for x in audit.read_text().splitlines()]
    assert [r["status"] for r in records] == ["dry_run", "revoked", "already_revoked"]
    assert {r["exchange"] for r in records} == {"bybit"}


def test_bybit_master_quarantines_the_sub_key_then_deletes_it(run: RunCli, fx: FakeExchanges,
                                                              tmp_path: Path) -> None:
    master = fx.add("bybit", **CAN_DELETE)
    key = fx.add("bybit", is_master=False, parent=master, permissions={"Spot": ["SpotTrade"]})
    code, data, _ = revoke(run, fx, key, tmp_path / "a.jsonl", "--yes", "--quarantine-ip", "192.0.2.1",
                           master=master)
    assert (code, data["status"]) == (0, "revoked")
    assert [r.path for r in fx.mutating()] == ["/v5/user/update-sub-api", "/v5/user/delete-sub-api"]
    assert key.ips == ["192.0.2.1"] and key.read_only == 1 and fx.violations == []


def test_bybit_key_deleting_itself_is_not_quarantined_first(run: RunCli, fx: FakeExchanges, tmp_path: Path) -> None:
    key = fx.add("bybit", **CAN_DELETE)
    code, data, _ = revoke(run, fx, key, tmp_path / "a.jsonl", "--yes", "--quarantine-ip", "192.0.2.1")
    assert (code, data["status"]) == (0, "revoked")
    assert [s["outcome"] for s in data["steps"] if s["action"] == "quarantine"] == ["skipped"]
    assert [r.path for r in fx.mutating()] == ["/v5/user/delete-api"]


def test_bybit_sub_key_that_may_not_delete_itself_is_deleted_through_the_master(run: RunCli, fx: FakeExchanges,
                                                                                 tmp_path: Path) -> None:
    master = fx.add("bybit", **CAN_DELETE)
    key = fx.add("bybit", is_master=False, parent=master, read_only=1, permissions={"Spot": []})
    code, data, _ = revoke(run, fx, key, tmp_path / "a.jsonl", "--yes", master=master)
    assert (code, data["status"], data["confirmed"]) == (0, "revoked", True)
    (call,) = fx.mutating()
    assert call.path == "/v5/user/delete-sub-api" and call.headers["x-bapi-api-key"] == master.api_key
    assert json.loads(call.body) == {"apikey": key.api_key}


def test_bybit_read_only_master_key_is_not_revocable_with_the_playbook(run: RunCli, fx: FakeExchanges,
                                                                        tmp_path: Path) -> None:
    key = fx.add("bybit", read_only=1, permissions={"Spot": []})
    code, data, _ = revoke(run, fx, key, tmp_path / "a.jsonl", "--yes")
    assert (code, data["status"]) == (1, "not_revocable")
    assert any("Delete the key" in s for s in data["playbook"]) and fx.mutating() == []
    assert fx.alive(key.api_key)


def test_bybit_lost_delete_answer_is_judged_by_the_check_after_it(run: RunCli, fx: FakeExchanges,
                                                                   tmp_path: Path) -> None:
    key = fx.add("bybit", **CAN_DELETE)
    fx.inject(502, "bad gateway", path="/v5/user/delete-api", times=3)  # never deleted: the answers are lost
    code, data, _ = revoke(run, fx, key, tmp_path / "a.jsonl", "--yes")
    assert (code, data["status"], data["confirmed"]) == (1, "failed", False)
    assert fx.alive(key.api_key)


@pytest.mark.parametrize("exchange", ["kraken", "coinbase"])
def test_other_exchanges_are_not_revocable_with_their_own_playbook(run: RunCli, fx: FakeExchanges, tmp_path: Path,
                                                                   exchange: str) -> None:
    env = env_for(fx, fx.add(exchange))
    r = run("revoke", "--exchange", exchange, "--yes", "--format", "json", "--audit-log",
            str(tmp_path / "a.jsonl"), env=env)
    data = json.loads(r.out)
    assert (r.code, data["status"]) == (1, "not_revocable")
    title = {"kraken": "Kraken", "coinbase": "Coinbase"}[exchange]
    assert title in data["playbook"][0] and fx.requests == []
    pb = run("revoke", "--exchange", exchange, "--playbook", env={})
    assert pb.code == 0 and title in pb.out


# -------------------------------------------------------------------- scan --verify, end to end

def finding(kind: str, secret: str, path: str = ".env", paired: str | None = None) -> Finding:
    return Finding(rule=kind, kind=kind, path=path, line=1, end_line=1, column=1, secret=secret,
                   fingerprint=fingerprint_of(secret), paired_with=paired)


def test_found_bybit_pair_is_verified_revoked_and_verified_again(run: RunCli, fx: FakeExchanges,
                                                                  tmp_path: Path) -> None:
    """What `scan --verify` does with findings of the kinds the Bybit rules report, then revoke."""
    from scanner.remote.verify import verify_findings

    key = fx.add("bybit", **CAN_DELETE)
    found = [finding("bybit_api_key", key.api_key, paired=fingerprint_of(key.secret)),
             finding("bybit_secret_key", key.secret, paired=fingerprint_of(key.api_key)),
             finding("bybit_api_key", "A" * 18)]  # no secret with it: never sent
    out = verify_findings(found, api_url=fx.url)
    assert [f.verification["status"] for f in out] == ["live", "live", "unverifiable"]  # type: ignore[index]
    assert out[0].verification["risk"] == "high"  # type: ignore[index]
    assert len(fx.requests) == 1  # one call for the pair, however many findings hold it

    code, data, _ = revoke(run, fx, key, tmp_path / "a.jsonl", "--yes")
    assert (code, data["status"]) == (0, "revoked")
    again = verify_findings(found[:2], api_url=fx.url)
    assert {f.verification["status"] for f in again} == {"deleted"}  # type: ignore[index]


def test_found_okx_triple_pairs_the_passphrase_and_dispatches_by_the_rules_verify_name(fx: FakeExchanges) -> None:
    from scanner.remote.verify import verify_findings

    key = fx.add("okx", permissions={"perm": "read_only,trade"})
    found = [finding("okx_api_key", key.api_key, paired=fingerprint_of(key.secret)),
             finding("okx_secret_key", key.secret, paired=fingerprint_of(key.api_key)),
             finding("okx_passphrase", key.passphrase or "")]
    out = verify_findings(found, api_url=fx.url)
    assert [f.verification["status"] for f in out] == ["live"] * 3  # type: ignore[index]
    assert out[0].verification["normalized_permissions"]["trade"] is True  # type: ignore[index]
    lone = verify_findings([finding("okx_api_key", key.api_key, path="other.py")], api_url=fx.url)
    assert lone[0].verification["status"] == "unverifiable"  # type: ignore[index]


def test_verifier_name_comes_from_the_rule_first() -> None:
    from scanner.remote.exchanges import split_kind, verifier_for

    assert verifier_for("bybit_api_key") == "bybit"
    assert verifier_for("okx_passphrase") == "okx"
    assert verifier_for("exchange_key", "kucoin") == "kucoin"
    assert verifier_for("private_key") is None
    assert split_kind("coinbase_private_key") == ("coinbase", "private_key")


# ---------------------------------------------------------------- Gate: sub-account keys via the master

def gate_world(fx: FakeExchanges) -> tuple[FKey, FKey]:
    master = fx.add("gate")
    fx.add("gate", is_master=False, parent=master)  # another sub-account's key: never touched
    return master, fx.add("gate", is_master=False, parent=master)


def test_gate_master_deletes_the_sub_key_dry_run_first_then_nothing_to_do(run: RunCli, fx: FakeExchanges,
                                                                         tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    master, key = gate_world(fx)
    code, data, _ = revoke(run, fx, key, audit, master=master)
    assert (code, data["status"], data["dry_run"]) == (0, "dry_run", True)
    assert data["owner"] == {"type": "sub_account", "sub_account": str(key.uid), "source": "master"}
    assert [r.method for r in fx.requests if r.method == "DELETE"] == [] and fx.alive(key.api_key)

    code, data, _ = revoke(run, fx, key, audit, "--yes", master=master)
    assert (code, data["status"], data["confirmed"]) == (0, "revoked", True)
    deletes = [r for r in fx.requests if r.method == "DELETE"]
    assert len(deletes) == 1 and deletes[0].headers["key"] == master.api_key
    assert not fx.alive(key.api_key) and sum(fx.alive(k) for k in fx.keys) == 2

    code, data, _ = revoke(run, fx, key, audit, "--yes", master=master)
    assert (code, data["status"]) == (0, "already_revoked")
    assert [json.loads(x)["status"] for x in audit.read_text().splitlines()] == ["dry_run", "revoked",
                                                                                 "already_revoked"]


def test_gate_without_the_leaked_secret_the_master_finds_the_sub_account(run: RunCli, fx: FakeExchanges,
                                                                         tmp_path: Path) -> None:
    master, key = gate_world(fx)
    code, data, _ = revoke(run, fx, key, tmp_path / "a.jsonl", "--yes", master=master, with_secret=False)
    assert (code, data["status"], data["confirmed"]) == (0, "revoked", True)
    assert not fx.alive(key.api_key)
    code, data, _ = revoke(run, fx, key, tmp_path / "a.jsonl", "--yes", master=master, with_secret=False)
    assert (code, data["status"]) == (0, "already_revoked")


def test_gate_master_account_key_is_not_revocable(run: RunCli, fx: FakeExchanges, tmp_path: Path) -> None:
    master, _ = gate_world(fx)
    own = fx.add("gate")
    own.uid = master.uid  # a second key of the master account itself
    code, data, _ = revoke(run, fx, own, tmp_path / "a.jsonl", "--yes", master=master)
    assert (code, data["status"]) == (1, "not_revocable")
    assert data["playbook"] and [r for r in fx.requests if r.method == "DELETE"] == []


def test_gate_live_key_of_another_master_is_left_alone(run: RunCli, fx: FakeExchanges, tmp_path: Path) -> None:
    master, _ = gate_world(fx)
    other_master, stranger = gate_world(fx)
    code, data, _ = revoke(run, fx, stranger, tmp_path / "a.jsonl", "--yes", master=master)
    assert (code, data["status"]) == (1, "failed")
    assert fx.alive(stranger.api_key) and [r for r in fx.requests if r.method == "DELETE"] == []


def test_gate_without_a_master_fails_with_the_playbook(run: RunCli, fx: FakeExchanges, tmp_path: Path) -> None:
    _, key = gate_world(fx)
    code, data, _ = revoke(run, fx, key, tmp_path / "a.jsonl", "--yes")
    assert (code, data["status"]) == (1, "failed") and "CEXGUARD_MASTER_API_KEY" in data["message"]
    assert data["playbook"] and fx.alive(key.api_key)


def test_gate_lost_delete_answer_is_judged_by_the_check_after_it(run: RunCli, fx: FakeExchanges,
                                                                  tmp_path: Path) -> None:
    master, key = gate_world(fx)
    fx.inject(502, "bad gateway", path=f"/api/v4/sub_accounts/{key.uid}/keys/{key.api_key}", times=3)
    code, data, _ = revoke(run, fx, key, tmp_path / "a.jsonl", "--yes", master=master)
    assert (code, data["status"], data["confirmed"]) == (1, "failed", False)
    assert fx.alive(key.api_key)
