"""End to end through the real command line (subprocesses) against the local fake exchanges: a
working tree leaks a Bybit pair and a Gate sub-account pair (generated at run time); `scan` finds
both pairs, `scan --verify` calls each exchange once (live), `revoke --exchange` deletes them (Bybit:
the key deletes itself; Gate: through the master account, dry run first), and `scan --verify` then
reports both dead. No secret in any output or in the audit log."""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli
from tests.remote.fakeexchanges import FakeExchanges


@pytest.fixture
def fx() -> Iterator[FakeExchanges]:
    f = FakeExchanges().start()
    yield f
    f.stop()


def findings_of(out: str) -> list[dict[str, Any]]:
    data = json.loads(out)
    return list(data["findings"] if isinstance(data, dict) else data)


def test_scan_verify_revoke_verify_for_bybit_and_a_gate_sub_account(fx: FakeExchanges, tmp_path: Path) -> None:
    bybit = fx.add("bybit", permissions={"Spot": ["SpotTrade"], "Wallet": ["AccountTransfer", "Withdraw"]})
    master = fx.add("gate")
    gate = fx.add("gate", is_master=False, parent=master)
    repo = tmp_path / "leaky-bot"
    repo.mkdir()
    (repo / ".env").write_text(f"# gate.io and bybit bot\nGATEIO_API_KEY={gate.api_key}\nGATEIO_API_SECRET={gate.secret}\n"
                               f"BYBIT_API_KEY={bybit.api_key}\nBYBIT_API_SECRET={bybit.secret}\n")
    url = {"CEXGUARD_API_URL": fx.url}
    audit = str(tmp_path / "audit.jsonl")

    # 1. scan finds both pairs, and never touches the network
    scan = run_cli("scan", str(repo), "--format", "json", "--show-secrets", env=url)
    assert scan.code == 1, scan.err
    found = {f["kind"]: f["secret"] for f in findings_of(scan.out)}
    assert found == {"bybit_api_key": bybit.api_key, "bybit_secret_key": bybit.secret,
                     "gate_api_key": gate.api_key, "gate_secret_key": gate.secret}
    assert fx.requests == []

    # 2. scan --verify: one signed call per pair, both live; Bybit's withdrawals make it critical
    sv = run_cli("scan", str(repo), "--format", "json", "--verify", env=url)
    assert sv.code == 1, sv.err
    verdicts = {f["kind"]: f["verification"] for f in findings_of(sv.out)}
    assert {v["status"] for v in verdicts.values()} == {"live"}
    assert verdicts["bybit_api_key"]["risk"] == "critical"
    assert verdicts["gate_api_key"]["account"] == {"user_id": gate.uid}
    assert len(fx.requests) == 2

    # 3. revoke: Bybit's key deletes itself; Gate's sub-account key through the master, dry run first
    by_env = {**url, "BYBIT_API_KEY": found["bybit_api_key"], "BYBIT_API_SECRET": found["bybit_secret_key"]}
    r1 = run_cli("revoke", "--exchange", "bybit", "--yes", "--format", "json", "--audit-log", audit, env=by_env)
    assert (r1.code, json.loads(r1.out)["status"]) == (0, "revoked"), r1.out + r1.err
    gate_env = {**url, "GATE_API_KEY": found["gate_api_key"], "GATE_API_SECRET": found["gate_secret_key"],
                "CEXGUARD_MASTER_API_KEY": master.api_key, "CEXGUARD_MASTER_API_SECRET": master.secret}
    dry = run_cli("revoke", "--exchange", "gate", "--format", "json", "--audit-log", audit, env=gate_env)
    assert (dry.code, json.loads(dry.out)["status"]) == (0, "dry_run") and fx.alive(gate.api_key)
    r2 = run_cli("revoke", "--exchange", "gate", "--yes", "--format", "json", "--audit-log", audit, env=gate_env)
    assert (r2.code, json.loads(r2.out)["status"]) == (0, "revoked"), r2.out + r2.err
    assert not fx.alive(bybit.api_key) and not fx.alive(gate.api_key) and fx.alive(master.api_key)

    # 4. scan --verify again: both keys are dead (the exchanges no longer know them), exit 1 (findings)
    sv2 = run_cli("scan", str(repo), "--format", "json", "--verify", env=url)
    assert {f["verification"]["status"] for f in findings_of(sv2.out)} == {"deleted"}

    records = [json.loads(x) for x in Path(audit).read_text().splitlines()]
    assert [(x["exchange"], x["status"]) for x in records] == [("bybit", "revoked"), ("gate", "dry_run"),
                                                              ("gate", "revoked")]
    for text in (scan.err, sv.out, sv.err, r1.out, r1.err, dry.out, r2.out, r2.err, sv2.out, Path(audit).read_text()):
        for s in (bybit.secret, gate.secret, master.secret, bybit.api_key, gate.api_key, master.api_key):
            assert s not in text
