"""Sub-account keys deleted through the master account, for OKX, HTX, MEXC and KuCoin, through `cexguard revoke
--exchange` against the local fakes (which check each exchange's signatures and keep the keys'
state): dry run first, then the delete, then nothing to do; the sub-account found from the leaked
key's own read or, without its secret, by the master's listing; a master-account key
`not_revocable`; another master's key left alone; an unanswered delete judged by the check after
it; every run audited and no key or secret in any output."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest

from tests.remote.conftest import RunCli
from tests.remote.fakeexchanges import FakeExchanges, FKey

PREFIX = {"okx": "OKX", "htx": "HTX", "mexc": "MEXC", "kucoin": "KUCOIN"}
DELETE = {"okx": ("POST", "/api/v5/users/subaccount/delete-apikey"), "htx": ("POST", "/v2/sub-user/api-key-deletion"),
          "mexc": ("DELETE", "/api/v3/sub-account/apiKey"), "kucoin": ("DELETE", "/api/v1/sub/api-key")}
# what the master key needs for the delete (OKX: Trade and bound IPs; the others: nothing the fakes check)
MASTER: dict[str, dict[str, Any]] = {"okx": {"permissions": {"perm": "read_only,trade"}, "ips": ["127.0.0.1"]},
                                     "htx": {}, "mexc": {}, "kucoin": {}}
EXCHANGES = ["okx", "htx", "mexc", "kucoin"]
OWNER_TOLD = ["okx", "htx", "kucoin"]  # MEXC's own answer never names the key's account


@pytest.fixture
def fx() -> Iterator[FakeExchanges]:
    f = FakeExchanges().start()
    yield f
    f.stop()


def world(fx: FakeExchanges, exchange: str, *, subs: int = 2, **leaked: Any) -> tuple[FKey, list[FKey], FKey]:
    """A master, `subs` sub-accounts with a key each (never touched) and the leaked key in one more."""
    master = fx.add(exchange, **MASTER[exchange])
    others = [fx.add(exchange, is_master=False, parent=master) for _ in range(subs)]
    return master, others, fx.add(exchange, is_master=False, parent=master, **leaked)


def deletes(fx: FakeExchanges) -> list[Any]:
    return [r for r in fx.requests if r.method in ("POST", "DELETE")]


def revoke(run: RunCli, fx: FakeExchanges, key: FKey, audit: Path, *args: str, master: FKey | None = None,
           with_secret: bool = True, with_passphrase: bool | None = None, master_passphrase: str | None = None,
           leaked_passphrase: str | None = None) -> tuple[int, dict[str, Any]]:
    """`with_passphrase` (default: with the secret) gives the leaked key's passphrase (or `leaked_passphrase`)."""
    p = PREFIX[key.exchange]
    env = {f"{p}_API_KEY": key.api_key, "CEXGUARD_API_URL": fx.url}
    if with_secret:
        env[f"{p}_API_SECRET"] = key.secret
    if key.passphrase and (with_secret if with_passphrase is None else with_passphrase):
        env[f"{p}_API_PASSPHRASE"] = leaked_passphrase or key.passphrase
    if master is not None:
        env.update({"CEXGUARD_MASTER_API_KEY": master.api_key, "CEXGUARD_MASTER_API_SECRET": master.secret})
        if master.passphrase:
            env["CEXGUARD_MASTER_API_PASSPHRASE"] = master_passphrase or master.passphrase
    r = run("revoke", "--exchange", key.exchange, "--format", "json", "--audit-log", str(audit), *args, env=env)
    assert "Traceback" not in r.err
    texts = r.out + r.err + (audit.read_text() if audit.exists() else "")
    for k in (key, master):
        for s in ((k.secret, k.api_key, k.passphrase) if k else ()):
            if s:
                assert s not in texts
    return r.code, json.loads(r.out)


@pytest.mark.parametrize("exchange", EXCHANGES)
def test_master_deletes_the_sub_key_dry_run_first_then_nothing_to_do(run: RunCli, fx: FakeExchanges, tmp_path: Path,
                                                                     exchange: str) -> None:
    audit = tmp_path / "audit.jsonl"
    master, others, key = world(fx, exchange)
    code, data = revoke(run, fx, key, audit, master=master)
    assert (code, data["status"], data["dry_run"]) == (0, "dry_run", True)
    assert data["owner"]["type"] == "sub_account" and data["owner"]["source"] == "master"
    assert [s["request"] for s in data["steps"] if s["outcome"] == "planned"][0] == " ".join(DELETE[exchange])
    assert deletes(fx) == [] and fx.alive(key.api_key)

    code, data = revoke(run, fx, key, audit, "--yes", master=master)
    assert (code, data["status"], data["confirmed"]) == (0, "revoked", True), data
    (call,) = deletes(fx)
    assert (call.method, call.path) == DELETE[exchange]
    if exchange == "okx":
        assert call.headers["ok-access-key"] == master.api_key and call.headers["content-type"] == "application/json"
        assert json.loads(call.body) == {"subAcct": f"sub{key.uid}", "apiKey": key.api_key}
    elif exchange == "htx":  # the fake deletes only for the parent whose AccessKeyId signed the call
        assert dict(parse_qsl(call.query))["AccessKeyId"] == master.api_key
        assert json.loads(call.body) == {"subUid": key.uid, "accessKey": key.api_key}
    elif exchange == "mexc":
        assert call.headers["x-mexc-apikey"] == master.api_key
        params = dict(parse_qsl(call.query))
        assert (params["subAccount"], params["apiKey"]) == (f"sub{key.uid}", key.api_key)
    else:  # the leaked key's own passphrase goes with the master's delete
        assert call.headers["kc-api-key"] == master.api_key and call.body == ""
        assert dict(parse_qsl(call.query)) == {"apiKey": key.api_key, "subName": f"sub{key.uid}",
                                               "passphrase": key.passphrase}
    assert not fx.alive(key.api_key)
    assert all(fx.alive(k.api_key) for k in [master, *others])
    assert fx.violations == []

    code, data = revoke(run, fx, key, audit, "--yes", master=master)
    assert (code, data["status"]) == (0, "already_revoked")
    assert len(deletes(fx)) == 1
    records = [json.loads(x) for x in audit.read_text().splitlines()]
    assert [(r["exchange"], r["status"]) for r in records] == [(exchange, "dry_run"), (exchange, "revoked"),
                                                               (exchange, "already_revoked")]


@pytest.mark.parametrize("exchange", EXCHANGES)
def test_without_the_leaked_secret_the_master_lists_its_sub_accounts(run: RunCli, fx: FakeExchanges, tmp_path: Path,
                                                                    exchange: str) -> None:
    master, others, key = world(fx, exchange, subs=3)  # HTX's fake pages two sub users at a time
    pp = exchange == "kucoin"  # KuCoin's delete needs the leaked passphrase, which may leak without the secret
    code, data = revoke(run, fx, key, tmp_path / "a.jsonl", "--yes", master=master, with_secret=False,
                        with_passphrase=pp)
    assert (code, data["status"], data["confirmed"]) == (0, "revoked", True), data
    assert not any(s["action"] == "check_key" for s in data["steps"])
    assert not fx.alive(key.api_key) and all(fx.alive(k.api_key) for k in [master, *others])
    code, data = revoke(run, fx, key, tmp_path / "a.jsonl", "--yes", master=master, with_secret=False,
                        with_passphrase=pp)
    assert (code, data["status"]) == (0, "already_revoked")
    assert len(deletes(fx)) == 1


@pytest.mark.parametrize("exchange", OWNER_TOLD)
def test_a_key_of_the_master_account_itself_is_not_revocable(run: RunCli, fx: FakeExchanges, tmp_path: Path,
                                                             exchange: str) -> None:
    master, _, _ = world(fx, exchange)
    own = fx.add(exchange, **MASTER[exchange])
    own.uid = master.uid  # a second key of the master account itself
    code, data = revoke(run, fx, own, tmp_path / "a.jsonl", "--yes", master=master)
    assert (code, data["status"]) == (1, "not_revocable"), data
    assert data["owner"]["type"] == "master_account"
    assert any("Delete the key" in s for s in data["playbook"]) and deletes(fx) == []
    assert fx.alive(own.api_key)


@pytest.mark.parametrize("exchange", EXCHANGES)
def test_a_live_key_of_another_master_is_left_alone(run: RunCli, fx: FakeExchanges, tmp_path: Path,
                                                    exchange: str) -> None:
    master, _, _ = world(fx, exchange)
    _, _, stranger = world(fx, exchange)
    code, data = revoke(run, fx, stranger, tmp_path / "a.jsonl", "--yes", master=master)
    assert (code, data["status"]) == (1, "failed")
    assert "another" in data["message"] and data["playbook"]
    assert fx.alive(stranger.api_key) and deletes(fx) == []


@pytest.mark.parametrize("exchange", EXCHANGES)
def test_without_a_master_it_fails_with_the_playbook(run: RunCli, fx: FakeExchanges, tmp_path: Path,
                                                     exchange: str) -> None:
    _, _, key = world(fx, exchange)
    code, data = revoke(run, fx, key, tmp_path / "a.jsonl", "--yes")
    assert (code, data["status"]) == (1, "failed") and "CEXGUARD_MASTER_API_KEY" in data["message"]
    assert ("CEXGUARD_MASTER_API_PASSPHRASE" in data["message"]) == (exchange in ("okx", "kucoin"))
    assert data["playbook"] and fx.alive(key.api_key) and deletes(fx) == []


@pytest.mark.parametrize("exchange", EXCHANGES)
def test_an_unanswered_delete_is_judged_by_the_check_after_it(run: RunCli, fx: FakeExchanges, tmp_path: Path,
                                                              exchange: str) -> None:
    master, _, key = world(fx, exchange)
    method, path = DELETE[exchange]
    fx.inject(502, "bad gateway", path=path, method=method, times=3)  # never deleted: the answers are lost
    code, data = revoke(run, fx, key, tmp_path / "a.jsonl", "--yes", master=master)
    assert (code, data["status"], data["confirmed"]) == (1, "failed", False)
    assert [s["outcome"] for s in data["steps"] if s["action"] == "delete"] == ["unknown"]
    assert fx.alive(key.api_key)


def test_okx_refuses_the_delete_to_a_master_key_without_bound_ips(run: RunCli, fx: FakeExchanges,
                                                                   tmp_path: Path) -> None:
    """OKX's sub-account key endpoints want a master key with Trade and bound IPs: the refusal is
    shown, the key is still there, and the run says to delete it by hand."""
    master, _, key = world(fx, "okx")
    master.ips = []
    code, data = revoke(run, fx, key, tmp_path / "a.jsonl", "--yes", master=master)
    assert (code, data["status"], data["confirmed"]) == (1, "failed", False)
    (delete,) = [s for s in data["steps"] if s["action"] == "delete"]
    assert delete["outcome"] == "error" and "OKX code" in delete["detail"]
    assert data["playbook"] and fx.alive(key.api_key)


def test_okx_master_with_a_wrong_passphrase_changes_nothing(run: RunCli, fx: FakeExchanges, tmp_path: Path) -> None:
    master, _, key = world(fx, "okx")
    code, data = revoke(run, fx, key, tmp_path / "a.jsonl", "--yes", master=master,
                        master_passphrase="Another-Passphrase-1")
    assert (code, data["status"]) == (1, "failed") and "nothing was changed" in data["message"]
    assert fx.alive(key.api_key) and deletes(fx) == []


def test_htx_key_whose_uid_cannot_be_read_is_found_by_the_master(run: RunCli, fx: FakeExchanges,
                                                                  tmp_path: Path) -> None:
    master, _, key = world(fx, "htx")
    fx.inject(200, '{"code": 1003, "message": "invalid signature", "data": null}', path="/v2/user/uid")
    code, data = revoke(run, fx, key, tmp_path / "a.jsonl", "--yes", master=master)
    assert (code, data["status"], data["confirmed"]) == (0, "revoked", True), data
    check = [s for s in data["steps"] if s["action"] == "check_key"][0]
    assert "does not say" in check["detail"]
    assert data["owner"] == {"type": "sub_account", "sub_account": str(key.uid), "source": "master"}


def test_okx_hostile_sub_account_list_changes_nothing(run: RunCli, fx: FakeExchanges, tmp_path: Path) -> None:
    master, _, key = world(fx, "okx")
    fx.inject(200, '{"code": "0", "msg": "", "data": {"not": "a list"}}', path="/api/v5/users/subaccount/list")
    code, data = revoke(run, fx, key, tmp_path / "a.jsonl", "--yes", master=master)
    assert (code, data["status"]) == (1, "failed") and "nothing was changed" in data["message"]
    assert fx.alive(key.api_key) and deletes(fx) == []


def test_htx_live_key_whose_owner_is_not_told_and_no_sub_holds_is_not_called_revoked(run: RunCli, fx: FakeExchanges,
                                                                                     tmp_path: Path) -> None:
    """A key that works but that no sub-account holds is the master's own or another master's:
    never `already_revoked`."""
    master, _, _ = world(fx, "htx")
    own = fx.add("htx")
    own.uid = master.uid
    fx.inject(200, '{"code": 1003, "message": "invalid signature", "data": null}', path="/v2/user/uid")
    code, data = revoke(run, fx, own, tmp_path / "a.jsonl", "--yes", master=master)
    assert (code, data["status"]) == (1, "failed") and "delete it by hand" in data["message"]
    assert data["playbook"] and fx.alive(own.api_key) and deletes(fx) == []


def test_mexc_master_account_key_that_works_is_left_alone(run: RunCli, fx: FakeExchanges, tmp_path: Path) -> None:
    """MEXC does not say whose a key is: a working key that no sub-account holds is the master's own
    (or another master's), so it is left alone, with the playbook."""
    master, _, _ = world(fx, "mexc")
    own = fx.add("mexc")
    own.uid = master.uid
    code, data = revoke(run, fx, own, tmp_path / "a.jsonl", "--yes", master=master)
    assert (code, data["status"]) == (1, "failed") and "master account itself" in data["message"]
    assert data["playbook"] and fx.alive(own.api_key) and deletes(fx) == []


# ------------------------------------------------------------------------------------------ KuCoin

def test_kucoin_without_the_leaked_passphrase_is_not_revocable(run: RunCli, fx: FakeExchanges, tmp_path: Path) -> None:
    """KuCoin's delete wants the sub-account key's own passphrase: without it the master finds the
    sub-account (so the message names it) and nothing is deleted; without a master either, no call
    at all (a master would not help)."""
    audit = tmp_path / "a.jsonl"
    master, _, key = world(fx, "kucoin")
    code, data = revoke(run, fx, key, audit, "--yes", master=master, with_secret=False)
    assert (code, data["status"]) == (1, "not_revocable"), data
    assert "passphrase" in data["message"] and f"sub{key.uid}" in data["message"]
    assert data["owner"] == {"type": "sub_account", "sub_account": f"sub{key.uid}", "source": "master"}
    assert any("Delete the key" in s for s in data["playbook"])
    assert deletes(fx) == [] and fx.alive(key.api_key)

    seen = len(fx.requests)
    code, data = revoke(run, fx, key, audit, "--yes", with_secret=False)
    assert (code, data["status"]) == (1, "not_revocable") and "KUCOIN_API_PASSPHRASE" in data["message"]
    assert data["playbook"] and len(fx.requests) == seen
    assert [json.loads(x)["status"] for x in audit.read_text().splitlines()] == ["not_revocable", "not_revocable"]


def test_kucoin_passphrase_with_url_special_characters_is_signed_before_encoding(run: RunCli, fx: FakeExchanges,
                                                                                tmp_path: Path) -> None:
    """KuCoin signs the query as it reads before URL-encoding; the fake checks that signature, so
    a passphrase with &, =, %, +, # and a space still deletes the key, sent encoded."""
    import secrets

    odd = "a&b=c%d+e#f g!" + secrets.token_hex(4)
    master, others, key = world(fx, "kucoin", passphrase=odd)
    code, data = revoke(run, fx, key, tmp_path / "a.jsonl", "--yes", master=master)
    assert (code, data["status"], data["confirmed"]) == (0, "revoked", True), data
    (call,) = deletes(fx)
    assert dict(parse_qsl(call.query))["passphrase"] == odd and odd not in call.query
    assert not fx.alive(key.api_key) and all(fx.alive(k.api_key) for k in [master, *others])
    assert fx.violations == []


def test_kucoin_wrong_leaked_passphrase_the_delete_is_refused_and_the_key_kept(run: RunCli, fx: FakeExchanges,
                                                                             tmp_path: Path) -> None:
    """A passphrase that is not the key's: its own check is refused (400004), the master still finds
    the key, KuCoin refuses the delete, and the check after it says the key is still there."""
    master, _, key = world(fx, "kucoin")
    code, data = revoke(run, fx, key, tmp_path / "a.jsonl", "--yes", master=master,
                        leaked_passphrase="Not-The-Passphrase-7")
    assert (code, data["status"], data["confirmed"]) == (1, "failed", False), data
    check = [s for s in data["steps"] if s["action"] == "check_key"][0]
    assert check["outcome"] == "error" and "400004" in check["detail"]
    (delete,) = [s for s in data["steps"] if s["action"] == "delete"]
    assert delete["outcome"] == "error" and data["playbook"]
    assert len(deletes(fx)) == 1 and fx.alive(key.api_key)


def test_kucoin_server_message_echoing_the_passphrase_is_redacted(run: RunCli, fx: FakeExchanges,
                                                                  tmp_path: Path) -> None:
    master, _, key = world(fx, "kucoin")
    fx.inject(200, json.dumps({"code": "400100", "msg": f"passphrase {key.passphrase} is wrong"}),
              path="/api/v1/sub/api-key", method="DELETE")
    code, data = revoke(run, fx, key, tmp_path / "a.jsonl", "--yes", master=master)  # asserts it is nowhere
    assert (code, data["status"]) == (1, "failed") and fx.alive(key.api_key)
    (delete,) = [s for s in data["steps"] if s["action"] == "delete"]
    assert delete["outcome"] == "error" and "400100" in delete["detail"]


def test_kucoin_master_pages_its_sub_accounts(run: RunCli, fx: FakeExchanges, tmp_path: Path) -> None:
    """More sub-accounts than one page (100): the key's sub-account, the newest, is on page two."""
    master, others, key = world(fx, "kucoin", subs=100)
    code, data = revoke(run, fx, key, tmp_path / "a.jsonl", "--yes", master=master)
    assert (code, data["status"], data["confirmed"]) == (0, "revoked", True), data
    pages = [dict(parse_qsl(r.query)) for r in fx.requests if r.path == "/api/v2/sub/user"]
    assert [(p["currentPage"], p["pageSize"]) for p in pages] == [("1", "100"), ("2", "100")]
    assert not fx.alive(key.api_key) and all(fx.alive(k.api_key) for k in others)


def test_kucoin_listing_never_carries_the_leaked_key(run: RunCli, fx: FakeExchanges, tmp_path: Path) -> None:
    """The master's key lists are asked by sub-account name only; the key is matched here."""
    master, _, key = world(fx, "kucoin")
    revoke(run, fx, key, tmp_path / "a.jsonl", master=master, with_secret=False, with_passphrase=True)
    lists = [r for r in fx.requests if r.method == "GET" and r.path == "/api/v1/sub/api-key"]
    assert len(lists) == 3 and all(key.api_key not in r.query for r in lists)
