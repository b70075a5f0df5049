"""From "a key leaked" to a closed incident, through the real command line: audit a repository whose
history leaked a sub-account key, verify it (live, withdrawals on, 120 days old), read its activity
(a withdrawal after the leak is flagged), revoke it, verify again (deleted), and write the incident
report in every format with every part in it. Only the local fake Binance is reached."""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from pathlib import Path

from tests.conftest import run_cli
from tests.remote.conftest import World
from tests.remote.fakebinance import DAY_MS

GIT_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_AUTHOR_NAME": "Dev",
           "GIT_AUTHOR_EMAIL": "dev@example.com", "GIT_COMMITTER_NAME": "Dev", "GIT_COMMITTER_EMAIL": "dev@example.com"}


def git(repo: Path, *args: str, when: dt.datetime | None = None) -> str:
    env = dict(os.environ, **GIT_ENV)
    if when is not None:
        stamp = when.strftime("%Y-%m-%dT%H:%M:%S+00:00")
        env.update(GIT_AUTHOR_DATE=stamp, GIT_COMMITTER_DATE=stamp)
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout


def days_ago(n: float) -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=n)


def leaky_repo(tmp_path: Path, key: str, secret: str) -> Path:
    repo = tmp_path / "trading-bot"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "bot.py").write_text("import os\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "start", when=days_ago(60))
    (repo / ".env").write_text(f"BINANCE_API_KEY={key}\nBINANCE_API_SECRET={secret}\n")
    git(repo, "add", ".")
    git(repo, "commit", "-qm", "config", when=days_ago(40))  # the leak
    (repo / ".env").unlink()
    (repo / "bot.py").write_text("import os\nKEY = os.environ['BINANCE_API_KEY']\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "secrets from the environment", when=days_ago(39))
    return repo


def test_from_leak_to_closed_incident(world: World, tmp_path: Path) -> None:
    fake, sub = world.fake, world.sub
    key = fake.keys[world.leaked.api_key]
    key.created = fake.server_ms() - 120 * DAY_MS
    now = fake.server_ms()
    sub.balances = {"BTC": "0.25", "USDT": "120"}
    fake.add_deposit(sub, "USDT", "5000", now - 70 * DAY_MS)  # before the leak: not flagged
    fake.add_order(sub, "BTCUSDT", "BUY", "0.5", "40000", now - 50 * DAY_MS)  # before the leak
    fake.add_withdrawal(sub, "BTC", "0.2", now - 10 * DAY_MS, fee="0.0002", address="bc1qattackerattackerattacker0000")
    fake.add_order(sub, "BTCUSDT", "SELL", "0.05", "41000", now - 5 * DAY_MS)  # after the leak

    repo = leaky_repo(tmp_path, world.leaked.api_key, world.leaked.secret or "")
    url = {"CEXGUARD_API_URL": fake.url}
    env = {**url, "BINANCE_API_KEY": world.leaked.api_key, "BINANCE_API_SECRET": world.leaked.secret or ""}
    master = world.master_key.env(prefix="MASTER")
    audit_log = tmp_path / "revoke-audit.jsonl"
    files = {n: tmp_path / n for n in ("audit.json", "v1.json", "act.json", "v2.json", "new.json")}

    # 1. the history audit finds the leaked pair in a commit 40 days old, gone from HEAD
    h = run_cli("history", str(repo), "--format", "json", "-o", str(files["audit.json"]), "-q")
    assert h.code == 1, h.err
    audit = json.loads(files["audit.json"].read_text())
    env_findings = [f for f in audit["findings"] if f["path"] == ".env"]
    assert {f["kind"] for f in env_findings} == {"binance_api_key", "binance_secret_key"}
    assert all(f["present_at_head"] is False for f in env_findings)
    assert fake.calls() == []

    # 2. verify: live, withdrawals on, 120 days old (past the 90-day rotation)
    v1 = run_cli("verify", "--format", "json", env=env)
    assert v1.code == 1, v1.err
    files["v1.json"].write_text(v1.out)
    d1 = json.loads(v1.out)
    assert d1["status"] == "live" and d1["permissions"]["enableWithdrawals"] is True and d1["risk"] == "critical"
    assert d1["age_days"] == 120 and d1["created_at"]
    assert any("120 days old" in r and "90 days" in r for r in d1["risk_reasons"])

    # 3. activity: from 90 days ago; the first exposure comes from the audit report
    since = days_ago(90).strftime("%Y-%m-%d")
    a = run_cli("activity", "--from-report", str(files["audit.json"]), "--since", since, "--format", "json",
                "-o", str(files["act.json"]), env=env)
    assert a.code == 1, a.err  # events after the first exposure
    act = json.loads(files["act.json"].read_text())
    assert act["exposure"]["commit"] == env_findings[0]["commit"] and act["exposure"]["path"] == ".env"
    by_kind = {(e["kind"], e["after_exposure"]) for e in act["timeline"]}
    assert ("withdrawal", True) in by_kind and ("deposit", False) in by_kind
    assert ("fill", False) in by_kind and ("fill", True) in by_kind
    w = next(e for e in act["timeline"] if e["kind"] == "withdrawal")
    assert (w["asset"], w["amount"], w["address"]) == ("BTC", "0.2", "bc1qattackerattackerattacker0000")
    assert act["totals_after_exposure"]["BTC"]["withdrawn"] == "0.2"
    assert act["complete"] is True and act["not_read"] == []
    assert act["weight"]["spent"] <= act["weight"]["budget"]
    assert "BTCUSDT" in act["symbols"]
    assert "reading withdrawals" in a.err  # progress on stderr
    assert {r.method for r in fake.calls()} == {"GET"}  # read-only
    assert fake.violations == []  # no Binance parameter rule or weight limit broken

    # 4. revoke through the master account
    r = run_cli("revoke", "--yes", "--format", "json", "--audit-log", str(audit_log), env={**env, **master})
    assert r.code == 0 and json.loads(r.out)["status"] == "revoked", r.out + r.err
    assert not fake.alive(world.leaked.api_key)

    # 5. verify again: rejected alone, deleted once the master account settles it (from the audit log)
    v2 = run_cli("verify", "--format", "json", "--audit-log", str(audit_log), env={**env, **master})
    assert v2.code == 0, v2.out + v2.err
    files["v2.json"].write_text(v2.out)
    assert json.loads(v2.out)["status"] == "deleted"

    # a replacement key: no withdrawals, whitelisted to this machine
    new = fake.add_key(sub, ip_list=["127.0.0.1"], enableSpotAndMarginTrading=True)
    vn = run_cli("verify", "--format", "json", env={**url, **new.env()})
    files["new.json"].write_text(vn.out)

    # 6. the incident record, every part of it
    base = ["incident", "--history-report", str(files["audit.json"]), "--verification", str(files["v1.json"]),
            "--verification", str(files["v2.json"]), "--activity", str(files["act.json"]),
            "--audit-log", str(audit_log)]
    j = run_cli(*base, "--format", "json", env=env)
    inc = json.loads(j.out)
    assert j.code == 1  # the replacement step cannot be confirmed without its report
    assert {s["step"]: s["state"] for s in inc["playbook"]} == {
        "delete": "done", "replace": "unknown", "move_secret": "done", "review": "done"}
    full = run_cli(*base, "--replacement", str(files["new.json"]), "--format", "json", env=env)
    assert full.code == 0, full.out + full.err
    inc = json.loads(full.out)
    assert inc["status"] == "closed" and inc["steps_left"] == 0 and inc["missing"] == []
    assert {f["path"] for f in inc["leak"]["findings"]} == {".env"}
    assert inc["leak"]["first_commit"] == env_findings[0]["commit"] and inc["leak"]["exposure_days"] == 1
    assert [h["status"] for h in inc["verdict"]["history"]] == ["live", "deleted"]
    assert inc["verdict"]["risk"] == "critical" and inc["verdict"]["permissions"]["enableWithdrawals"] is True
    assert [e["kind"] for e in inc["activity"]["flagged"]] == ["withdrawal", "order", "fill"]
    assert inc["revoke"]["outcome"] == "revoked" and inc["revoke"]["confirmed"] is True
    assert inc["revoke"]["owner"]["email"] == "bot@example.com"

    md = run_cli(*base, "--replacement", str(files["new.json"]), env=env)
    html_file = tmp_path / "incident.html"
    ht = run_cli(*base, "--replacement", str(files["new.json"]), "--format", "html", "-o", str(html_file), env=env)
    assert md.code == ht.code == 0
    html = html_file.read_text()
    for text in (md.out, html):
        for part in ("Where it leaked", "Verdict and permissions", "Activity in the exposure window", "Revocation",
                     "Playbook", "bc1qattackerattackerattacker0000", env_findings[0]["commit"][:12], "CLOSED"):
            assert part in text, part
    assert "<script" not in html and "src=" not in html and "href=" not in html and "@import" not in html
    assert "Content-Security-Policy" in html and "<style>" in html

    # no secret anywhere: outputs, files and the audit log
    texts = [v1.out, a.out, a.err, r.out, v2.out, j.out, full.out, md.out, html, audit_log.read_text(),
             files["act.json"].read_text()]
    for t in texts:
        for s in (world.leaked.secret, world.master_key.secret, new.secret, world.master_key.api_key):
            assert s and s not in t
    for t in (md.out, html, full.out, files["act.json"].read_text()):
        assert world.leaked.api_key not in t
