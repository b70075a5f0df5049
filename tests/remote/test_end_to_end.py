"""End to end through the real command line (subprocesses): scan a repository holding a leaked
sub-account pair, verify it (live, withdrawals on), revoke it, verify again (rejected; deleted once the
master account is asked). Plus the
import-cost promise: a plain scan loads no HTTP or crypto library."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import REPO_ROOT, run_cli
from tests.remote.conftest import World


def findings_of(out: str) -> list[dict[str, Any]]:
    data = json.loads(out)
    return list(data["findings"] if isinstance(data, dict) else data)


def test_scan_verify_revoke_verify(world: World, tmp_path: Path) -> None:
    repo = tmp_path / "leaky-bot"
    repo.mkdir()
    (repo / ".env").write_text(f"BINANCE_API_KEY={world.leaked.api_key}\nBINANCE_API_SECRET={world.leaked.secret}\n")
    (repo / "bot.py").write_text("import os\nKEY = os.environ['BINANCE_API_KEY']\n")
    url = {"CEXGUARD_API_URL": world.fake.url}
    audit = str(tmp_path / "audit.jsonl")

    # 1. scan finds the pair
    scan = run_cli("scan", str(repo), "--format", "json", "--show-secrets", env=url)
    assert scan.code == 1, scan.err
    found = {f["kind"]: f for f in findings_of(scan.out)}
    key, secret = found["binance_api_key"]["secret"], found["binance_secret_key"]["secret"]
    assert (key, secret) == (world.leaked.api_key, world.leaked.secret)
    assert world.fake.calls() == []  # scanning never touches the network

    # 2. verify the found pair: live, withdrawals on, critical
    env = {**url, "BINANCE_API_KEY": key, "BINANCE_API_SECRET": secret}
    v = run_cli("verify", "--format", "json", env=env)
    assert v.code == 1, v.err
    data = json.loads(v.out)
    assert data["status"] == "live" and data["permissions"]["enableWithdrawals"] is True and data["risk"] == "critical"

    # 2b. the same, in process, through scan --verify (no secrets shown)
    sv = run_cli("scan", str(repo), "--format", "json", "--verify", env=url)
    assert sv.code == 1, sv.err
    verdicts = {f["kind"]: f["verification"] for f in findings_of(sv.out)}
    assert verdicts["binance_api_key"]["status"] == verdicts["binance_secret_key"]["status"] == "live"
    assert verdicts["binance_api_key"]["risk"] == "critical"
    assert secret not in sv.out + sv.err and key not in sv.out + sv.err

    # 3. revoke through the master account
    master = world.master_key.env(prefix="MASTER")
    dry = run_cli("revoke", "--format", "json", "--audit-log", audit, env={**env, **master})
    assert dry.code == 0 and json.loads(dry.out)["status"] == "dry_run"
    assert world.fake.alive(key)
    r = run_cli("revoke", "--yes", "--format", "json", "--audit-log", audit, env={**env, **master})
    assert r.code == 0, r.out + r.err
    assert json.loads(r.out)["status"] == "revoked"
    assert not world.fake.alive(key)

    # 4. verify again: -2015 alone is not proof of death (rejected, exit 5); the master account
    #    settles it through the sub-account the audit log recorded: deleted, exit 0
    v2 = run_cli("verify", "--format", "json", env=env)
    assert v2.code == 5 and json.loads(v2.out)["status"] == "rejected"
    v3 = run_cli("verify", "--format", "json", "--audit-log", audit, env={**env, **master})
    assert v3.code == 0, v3.out + v3.err
    assert json.loads(v3.out)["status"] == "deleted" and json.loads(v3.out)["settled"]["source"] == "audit-log"
    sv2 = run_cli("scan", str(repo), "--format", "json", "--verify", env=url)
    assert {f["verification"]["status"] for f in findings_of(sv2.out)} == {"rejected"}

    # no secret anywhere: outputs and the audit log
    for text in (v.out, v.err, dry.out, r.out, r.err, v2.out, v3.out, sv2.out, Path(audit).read_text()):
        for s in (secret, world.master_key.secret, key, world.master_key.api_key):
            assert s and s not in text


PROBE = """
import sys
from scanner.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
heavy = [m for m in ("cryptography", "http.client", "ssl", "urllib.request", "requests", "urllib3")
         if m in sys.modules]
print("HEAVY=" + ",".join(heavy), file=sys.stderr)
"""


def _loaded(*args: str) -> set[str]:
    p = subprocess.run([sys.executable, "-c", PROBE, *args], check=False, capture_output=True, text=True, cwd=REPO_ROOT,
                       env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"}, timeout=120)
    (line,) = [ln for ln in p.stderr.splitlines() if ln.startswith("HEAVY=")]
    return set(filter(None, line[len("HEAVY="):].split(",")))


def test_plain_scan_loads_no_http_or_crypto_library(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("nothing here\n")
    assert _loaded("scan", str(tmp_path), "-q") == set()
    assert _loaded("verify", "--help") == set()
    assert _loaded("revoke", "--help") == set()
    assert _loaded("activity", "--help") == set()
    assert _loaded("incident", "--help") == set()


def test_scan_with_verify_does_load_the_client(tmp_path: Path) -> None:
    """The probe above can fail: with --verify and a pair to check, the HTTP client is loaded."""
    from tests.conftest import new_key

    (tmp_path / ".env").write_text(f"BINANCE_API_KEY={new_key()}\nBINANCE_API_SECRET={new_key()}\n")
    assert "http.client" in _loaded("scan", str(tmp_path), "-q", "--verify", "--api-url", "http://127.0.0.1:9")


def test_nothing_in_the_scanned_repository_changes_where_requests_go(world: World, tmp_path: Path) -> None:
    from tests.remote.fakebinance import FakeBinance

    decoy = FakeBinance().start()
    try:
        repo = tmp_path / "repo"
        repo.mkdir()
        (repo / ".env").write_text(f"CEXGUARD_API_URL={decoy.url}\nBINANCE_API_KEY={world.leaked.api_key}\n"
                                   f"BINANCE_API_SECRET={world.leaked.secret}\n")
        r = run_cli("scan", str(repo), "--format", "json", "--verify", env={"CEXGUARD_API_URL": world.fake.url})
        assert r.code == 1, r.err
        assert {f["verification"]["status"] for f in findings_of(r.out)} == {"live"}
        (repo / ".cexguard.toml").write_text(f'api_url = "{decoy.url}"\n')
        r = run_cli("scan", str(repo), "--format", "json", "--verify", env={"CEXGUARD_API_URL": world.fake.url})
        assert r.code == 2 and "api_url" in r.err
        assert decoy.calls() == []
    finally:
        decoy.stop()
