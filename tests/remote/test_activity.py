"""`cexguard activity` against the fake Binance: Binance's parameter rules kept (symbol, 24-hour and
90-day windows), weight paced from the headers and capped by the budget, -1003 honoured, what was not
read listed with its reason, read-only calls only."""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from scanner.remote import activity as act_mod
from scanner.remote.activity import read_activity
from scanner.remote.binance import Credentials, HmacSigner, Transport
from tests.remote.conftest import RunCli, World
from tests.remote.fakebinance import DAY_MS, FakeBinance, Issued

WITHDRAW = "/sapi/v1/capital/withdraw/history"


def creds(k: Issued) -> Credentials:
    return Credentials(k.api_key, HmacSigner(k.secret or ""))


class VirtualClock:
    """Waiting moves the fake's clock and the client's together (no test sleeps for real)."""

    def __init__(self, fake: FakeBinance) -> None:
        self.fake = fake
        self.shift = 0.0
        self.waits: list[float] = []

    def time(self) -> float:
        return time.time() + self.shift

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.shift += seconds
        self.fake.advance(seconds)

    def transport(self) -> Transport:
        return Transport(self.fake.url, sleep=self.sleep, clock=self.time)


def read(fake: FakeBinance, k: Issued, *, days: float, exposed_days_ago: float | None = None,
         transport: Transport | None = None, **kw: Any) -> act_mod.ActivityResult:
    now = fake.server_ms()
    exposure = None
    if exposed_days_ago is not None:
        ms = now - int(exposed_days_ago * DAY_MS)
        exposure = {"first_exposed_ms": ms, "first_exposed_at": act_mod.iso(ms)}
    return read_activity(creds(k), transport=transport or Transport(fake.url), since_ms=now - int(days * DAY_MS),
                         until_ms=now, window_source="test", exposure=exposure, **kw)


def windows(fake: FakeBinance, path: str) -> list[tuple[int, int]]:
    return [(int(r.params["startTime"]), int(r.params["endTime"])) for r in fake.calls(path)
            if "startTime" in r.params and "endTime" in r.params]


def test_withdrawals_and_deposits_in_windows_under_90_days(world: World) -> None:
    fake, sub = world.fake, world.sub
    now = fake.server_ms()
    for d in (5, 95, 185):
        fake.add_withdrawal(sub, "BTC", "0.1", now - d * DAY_MS)
        fake.add_deposit(sub, "USDT", "10", now - d * DAY_MS)
    r = read(fake, world.leaked, days=200, exposed_days_ago=100)
    assert [e["kind"] for e in r.timeline if e["kind"] in ("withdrawal", "deposit")].count("withdrawal") == 3
    assert [e["after_exposure"] for e in r.timeline if e["kind"] == "withdrawal"] == [False, True, True]
    for path in (WITHDRAW, "/sapi/v1/capital/deposit/hisrec"):
        spans = windows(fake, path)
        assert len(spans) == 3 and all(0 <= b - a < 90 * DAY_MS for a, b in spans)
        assert spans[0][1] == r.until_ms and spans[-1][0] == r.since_ms  # the whole window, newest first
    assert fake.violations == []
    # Binance answers universal transfers for 6 months only: the rest is listed as not read
    assert [(n["what"], n["reason"]) for n in r.not_read] == [("universal transfers", "not_kept")]


def test_orders_and_fills_walk_24_hour_windows_when_a_call_is_full(world: World,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(act_mod, "PAGE_LIMIT", 3)  # a full page after 3 rows: forces windows and halving
    fake, sub = world.fake, world.sub
    sub.balances = {"ETH": "2"}
    now = fake.server_ms()
    placed = [fake.add_order(sub, "ETHUSDT", "BUY", "1", "2000", now - int(h * 3_600_000))["orderId"]
              for h in (1, 2, 3, 4, 30, 31, 50, 70, 71, 72, 73, 100)]
    r = read(fake, world.leaked, days=4, exposed_days_ago=2)
    orders = [e for e in r.timeline if e["kind"] == "order"]
    assert sorted(int(e["id"]) for e in orders) == sorted(placed[:-1])  # the 100-hour-old one is outside
    assert len([e for e in r.timeline if e["kind"] == "fill"]) == 11
    assert r.symbols == ["ETHBTC", "ETHUSDT"]  # what Binance lists for ETH against the quote assets
    for path in ("/api/v3/allOrders", "/api/v3/myTrades"):
        calls = [c for c in fake.calls(path) if c.params["symbol"] == "ETHUSDT"]
        assert all(b - a <= DAY_MS for a, b in windows(fake, path))
        assert len(calls) > 4
    assert fake.violations == [] and r.complete


def test_symbols_come_from_balances_deposits_and_the_user(world: World) -> None:
    fake, sub = world.fake, world.sub
    now = fake.server_ms()
    sub.balances = {"BNB": "1"}
    fake.add_deposit(sub, "SOL", "3", now - DAY_MS)
    r = read(fake, world.leaked, days=3, symbols=["XRPUSDT"])
    assert r.symbols == ["BNBBTC", "BNBUSDT", "SOLUSDT", "XRPUSDT"]
    asked = {c.params["symbol"] for c in fake.calls("/api/v3/allOrders")}
    assert asked == set(r.symbols)


def test_weight_budget_stops_reads_and_lists_them(world: World) -> None:
    fake, sub = world.fake, world.sub
    sub.balances = {"BTC": "1", "ETH": "1"}
    r = read(fake, world.leaked, days=10, max_weight=60)
    assert not r.complete
    missing = {(n["what"], n["reason"]) for n in r.not_read}
    assert ("fills BTCUSDT", "budget") in missing or ("fills BTCFDUSD", "budget") in missing
    assert all("--max-weight" in n["detail"] for n in r.not_read if n["reason"] == "budget")
    assert r.weight["spent"] <= 60 and r.weight["reached"]


def test_per_minute_weight_from_the_headers_is_never_exceeded(world: World) -> None:
    fake, sub = world.fake, world.sub
    sub.balances = {"BTC": "1"}
    clock = VirtualClock(fake)
    minute = fake.server_ms() // 60000
    fake.weight_used[("api", "127.0.0.1")] = (minute, 5380)  # another program on this IP used most of it
    r = read(fake, world.leaked, days=2, transport=clock.transport(), sleep=clock.sleep)
    assert r.complete and fake.violations == []  # waited for the next minute instead of a 429
    assert r.weight["pauses"] >= 1 and clock.waits and all(w <= 61 for w in clock.waits)
    assert r.weight["peak_reported_per_minute"]["api"] >= 5400


def test_minus_1003_is_honoured(world: World) -> None:
    fake, sub = world.fake, world.sub
    sub.balances = {"BTC": "1"}
    fake.weight_limits["api"] = 50  # lower than Binance's: the fake answers 429 -1003 with Retry-After
    clock = VirtualClock(fake)
    r = read(fake, world.leaked, days=2, transport=clock.transport(), sleep=clock.sleep)
    assert any(v.startswith("weight: api") for v in fake.violations)
    assert any(c.status == 429 for c in fake.calls())
    assert r.complete  # after Retry-After the calls went through
    assert clock.waits and r.weight["pauses"] >= 1


def test_a_key_without_reading_permission_reads_nothing_and_says_so(fake: FakeBinance) -> None:
    acct = fake.add_account("r@example.com")
    k = fake.add_key(acct, enableReading=False)
    r = read(fake, k, days=5)
    assert [(n["what"], n["reason"]) for n in r.not_read] == [("everything", "permission")]
    assert len(fake.calls()) == 1


def test_command_json_text_and_exit_codes(world: World, run: RunCli, tmp_path: Path) -> None:
    fake, sub = world.fake, world.sub
    fake.add_withdrawal(sub, "BTC", "0.3", fake.server_ms() - 2 * DAY_MS, address="bc1qdest")
    r = run("activity", "--format", "json", env=world.env(master=False))
    data = json.loads(r.out)
    assert r.code == 0  # no exposure known: nothing is flagged
    assert data["window"]["source"].startswith("default") and data["read_only"] is True
    assert [e["kind"] for e in data["timeline"]] == ["withdrawal"]
    assert "cexguard: activity:" in r.err
    since = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 5 * 86400))
    t = run("activity", "--since", since, "-q", env=world.env(master=False))
    assert t.code == 0 and "withdrawal  BTC 0.3" in t.out and "bc1qdest" in t.out and t.err == ""
    for text in (r.out, r.err, t.out):
        assert world.leaked.secret and world.leaked.secret not in text and world.leaked.api_key not in text
    assert {c.method for c in fake.calls()} == {"GET"}


def test_since_a_commit_marks_the_exposure(world: World, run: RunCli, tmp_path: Path) -> None:
    import subprocess

    repo = tmp_path / "r"
    repo.mkdir()
    genv = {"GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@x", "GIT_COMMITTER_NAME": "a", "GIT_COMMITTER_EMAIL": "a@x",
            "GIT_AUTHOR_DATE": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() - 3 * 86400)),
            "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1", "PATH": "/usr/bin:/bin"}
    subprocess.run(["git", "init", "-q", str(repo)], check=True, env=genv)
    subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", "x"], cwd=repo, check=True, env=genv)
    fake, sub = world.fake, world.sub
    fake.add_withdrawal(sub, "BTC", "1", fake.server_ms() - DAY_MS)
    fake.add_deposit(sub, "BTC", "1", fake.server_ms() - 10 * DAY_MS)
    r = run("activity", "--since", "HEAD", "--repo", str(repo), "--format", "json", "-q", env=world.env(master=False))
    data = json.loads(r.out)
    assert r.code == 1 and data["exposure"]["source"] == "--since"
    assert [(e["kind"], e["after_exposure"]) for e in data["timeline"]] == [("withdrawal", True)]


@pytest.mark.parametrize("args,msg", [
    (["--since", "yesterday-ish"], "--since"),
    (["--since", "2024-02-01", "--until", "2024-01-01"], "window is empty"),
    (["--symbol", "BTC/USDT"], "--symbol"),
    (["--from-report", "/nonexistent.json"], "cannot read"),
])
def test_bad_input_is_one_line_exit_2(world: World, run: RunCli, args: list[str], msg: str, tmp_path: Path) -> None:
    r = run("activity", "--repo", str(tmp_path), *args, env=world.env(master=False))
    assert r.code == 2 and msg in r.err and len(r.err.strip().splitlines()) == 1, r.err


def test_a_rejected_key_is_an_error_not_an_empty_timeline(world: World, run: RunCli) -> None:
    world.fake.keys[world.leaked.api_key].deleted = True
    r = run("activity", env=world.env(master=False))
    assert r.code == 2 and "rejects the key (code -2015)" in r.err and r.out == ""


def test_report_without_this_key_is_refused(world: World, run: RunCli, tmp_path: Path) -> None:
    p = tmp_path / "audit.json"
    p.write_text(json.dumps({"findings": [{"fingerprint": "sha256:" + "0" * 40, "date": "2024-01-01T00:00:00Z"}]}))
    r = run("activity", "--from-report", str(p), env=world.env(master=False))
    assert r.code == 2 and "no finding of this key" in r.err


def test_fake_enforces_binance_rules(world: World) -> None:
    """The rules the client is held to are real in the fake: without them the tests above prove nothing."""
    from scanner.remote.binance import ApiError

    t = Transport(world.fake.url)
    c = creds(world.leaked)
    now = world.fake.server_ms()
    with pytest.raises(ApiError) as e:
        t.request("GET", "/api/v3/allOrders", params={}, credentials=c, signed=True)
    assert e.value.code == -1102
    with pytest.raises(ApiError) as e:
        t.request("GET", "/api/v3/myTrades", params={"symbol": "BTCUSDT", "startTime": now - DAY_MS - 1,
                                                     "endTime": now}, credentials=c, signed=True)
    assert e.value.code == -1127
    with pytest.raises(ApiError) as e:
        t.request("GET", WITHDRAW, params={"startTime": now - 90 * DAY_MS, "endTime": now}, credentials=c, signed=True)
    assert e.value.code == -1127
    with pytest.raises(ApiError) as e:
        t.request("GET", "/sapi/v1/asset/transfer", params={}, credentials=c, signed=True)
    assert e.value.code == -1102
    assert t.minute_weight("api") >= 20 and t.minute_weight("sapi_uid") == 18000
