"""The client over real HTTP against the fake Binance: signatures, clock skew, rate limits, retries,
timeouts, WAF pages, redirects, TLS verification. Waits are recorded instead of slept where noted."""
from __future__ import annotations

import json
import socket
import time

import pytest

from scanner.errors import CexguardError
from scanner.remote.binance import (
    ApiError,
    AuthError,
    BinanceClient,
    Credentials,
    HmacSigner,
    Transport,
    Unavailable,
    Unreachable,
    load_private_key,
)
from tests.remote.conftest import World
from tests.remote.fakebinance import FakeBinance, self_signed_tls_context

RESTRICTIONS = "/sapi/v1/account/apiRestrictions"


def creds(issued) -> Credentials:  # type: ignore[no-untyped-def]
    signer = HmacSigner(issued.secret) if issued.secret else load_private_key(issued.private_key_pem)
    return Credentials(issued.api_key, signer)


def transport(fake: FakeBinance, waits: list[float] | None = None, **kw) -> Transport:  # type: ignore[no-untyped-def]
    if waits is not None:
        kw["sleep"] = waits.append
    return Transport(fake.url, **kw)


@pytest.mark.parametrize("kind", ["hmac", "rsa", "ed25519"])
def test_signed_call_accepted_for_every_key_type(fake: FakeBinance, kind: str) -> None:
    acct = fake.add_account("a@example.com")
    issued = fake.add_key(acct, kind=kind, enableFutures=True)
    data = BinanceClient(transport(fake), creds(issued)).api_restrictions()
    assert data["enableFutures"] is True
    (rec,) = fake.calls(RESTRICTIONS)
    assert rec.headers["X-MBX-APIKEY"] == issued.api_key
    assert rec.query.split("&")[-1].startswith("signature=")
    assert {"recvWindow", "timestamp"} <= set(rec.params)
    assert rec.status == 200


def test_post_puts_params_in_the_body_and_signs_query_plus_body(world: World) -> None:
    c = BinanceClient(transport(world.fake), creds(world.master_key))
    c.restrict_sub_account_api(world.sub.email, world.leaked.api_key, ["10.1.2.3", "10.1.2.4"])
    (rec,) = world.fake.calls("/sapi/v2/sub-account/subAccountApi/ipRestriction")
    assert rec.query == ""
    assert rec.body.startswith("email=bot%40example.com&subAccountApiKey=")
    assert rec.body.split("&")[-1].startswith("signature=") and rec.body.count("signature=") == 1
    assert rec.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert rec.status == 200
    assert world.fake.keys[world.leaked.api_key].ip_list == ["10.1.2.3", "10.1.2.4"]


def test_secret_and_private_key_never_sent(fake: FakeBinance) -> None:
    acct = fake.add_account("a@example.com")
    hm = fake.add_key(acct)
    ed = fake.add_key(acct, kind="ed25519")
    t = transport(fake)
    BinanceClient(t, creds(hm)).api_restrictions()
    BinanceClient(t, creds(ed)).account()
    assert hm.secret and ed.private_key_pem
    body_lines = [ln for ln in ed.private_key_pem.decode().splitlines() if "-----" not in ln]
    for rec in fake.calls():
        assert hm.secret not in rec.raw
        assert all(line not in rec.raw for line in body_lines)


def test_wrong_secret_is_minus_1022(fake: FakeBinance) -> None:
    acct = fake.add_account("a@example.com")
    issued = fake.add_key(acct)
    from tests.remote.fakebinance import random_alnum

    with pytest.raises(AuthError) as ei:
        BinanceClient(transport(fake), Credentials(issued.api_key, HmacSigner(random_alnum()))).api_restrictions()
    assert ei.value.code == -1022 and ei.value.http_status == 400


@pytest.mark.parametrize("offset_ms", [45_000, -45_000])
def test_clock_skew_is_corrected_from_server_time_and_retried_once(fake: FakeBinance, offset_ms: int) -> None:
    acct = fake.add_account("a@example.com")
    issued = fake.add_key(acct)
    fake.clock_offset_ms = offset_ms
    t = transport(fake)
    BinanceClient(t, creds(issued)).api_restrictions()
    assert [(r.path, r.code) for r in fake.calls()] == [
        (RESTRICTIONS, -1021), ("/api/v3/time", None), (RESTRICTIONS, None)]
    assert abs(t.clock_offset_ms - offset_ms) < 2000
    BinanceClient(t, creds(issued)).api_restrictions()  # the offset is kept: no second resync
    assert len(fake.calls("/api/v3/time")) == 1


def test_minus_1021_retried_only_once(fake: FakeBinance) -> None:
    acct = fake.add_account("a@example.com")
    issued = fake.add_key(acct)
    fake.always_stale = True
    with pytest.raises(ApiError) as ei:
        BinanceClient(transport(fake), creds(issued)).api_restrictions()
    assert ei.value.code == -1021
    assert len(fake.calls(RESTRICTIONS)) == 2 and len(fake.calls("/api/v3/time")) == 1


def test_429_retry_after_is_honoured(fake: FakeBinance) -> None:
    acct = fake.add_account("a@example.com")
    issued = fake.add_key(acct)
    fake.inject(429, retry_after=2, times=2)
    waits: list[float] = []
    BinanceClient(transport(fake, waits), creds(issued)).api_restrictions()
    assert waits == [2.0, 2.0]
    assert [r.status for r in fake.calls()] == [429, 429, 200]


def test_429_real_wait(fake: FakeBinance) -> None:
    acct = fake.add_account("a@example.com")
    issued = fake.add_key(acct)
    fake.inject(429, retry_after=1)
    t0 = time.monotonic()
    BinanceClient(transport(fake), creds(issued)).api_restrictions()
    assert time.monotonic() - t0 >= 0.95


def test_retry_after_beyond_budget_gives_up_at_once_and_blocks_further_calls(fake: FakeBinance) -> None:
    acct = fake.add_account("a@example.com")
    issued = fake.add_key(acct)
    fake.inject(418, retry_after=300)
    waits: list[float] = []
    t = transport(fake, waits, max_wait=30)
    with pytest.raises(Unavailable, match="IP banned.*418.*300s"):
        BinanceClient(t, creds(issued)).api_restrictions()
    assert waits == []
    with pytest.raises(Unavailable, match="not sent: Binance banned this IP"):
        BinanceClient(t, creds(issued)).account()
    assert len(fake.calls()) == 1  # the ban is honoured: nothing else was sent


def test_total_wait_is_bounded(fake: FakeBinance) -> None:
    acct = fake.add_account("a@example.com")
    issued = fake.add_key(acct)
    fake.inject(429, retry_after=4, times=100)
    waits: list[float] = []
    with pytest.raises(Unavailable, match="rate limited"):
        BinanceClient(transport(fake, waits, max_wait=10), creds(issued)).api_restrictions()
    assert waits == [4.0, 4.0] and sum(waits) <= 10


def test_5xx_retried_then_succeeds(fake: FakeBinance) -> None:
    acct = fake.add_account("a@example.com")
    issued = fake.add_key(acct)
    fake.inject(503, times=2)
    waits: list[float] = []
    assert BinanceClient(transport(fake, waits), creds(issued)).api_restrictions()["enableReading"] is True
    assert len(waits) == 2 and [r.status for r in fake.calls()] == [503, 503, 200]


def test_5xx_retries_are_bounded(fake: FakeBinance) -> None:
    acct = fake.add_account("a@example.com")
    issued = fake.add_key(acct)
    fake.inject(500, times=100)
    with pytest.raises(Unavailable, match="HTTP 500: server error, outcome unknown"):
        BinanceClient(transport(fake, [], max_retries=2), creds(issued)).api_restrictions()
    assert len(fake.calls()) == 3


def test_403_waf_html_is_unknown_and_not_retried(fake: FakeBinance) -> None:
    acct = fake.add_account("a@example.com")
    issued = fake.add_key(acct)
    fake.inject(403)
    with pytest.raises(Unavailable, match="HTTP 403.*firewall") as ei:
        BinanceClient(transport(fake, []), creds(issued)).api_restrictions()
    assert "<html" not in str(ei.value)
    assert len(fake.calls()) == 1


def test_slow_answer_times_out_and_is_retried_boundedly(fake: FakeBinance) -> None:
    acct = fake.add_account("a@example.com")
    issued = fake.add_key(acct)
    fake.inject(None, delay=1.0, times=2)
    t0 = time.monotonic()
    with pytest.raises(Unavailable, match="timed out"):
        BinanceClient(transport(fake, [], timeout=0.3, max_retries=1), creds(issued)).api_restrictions()
    assert time.monotonic() - t0 < 2.5
    assert len(fake.calls()) == 2


def test_slow_answer_within_timeout_is_fine(fake: FakeBinance) -> None:
    acct = fake.add_account("a@example.com")
    issued = fake.add_key(acct)
    fake.inject(None, delay=0.3)
    assert BinanceClient(transport(fake, timeout=3), creds(issued)).api_restrictions()


def test_redirect_is_not_followed(fake: FakeBinance) -> None:
    other = FakeBinance().start()
    try:
        acct = fake.add_account("a@example.com")
        issued = fake.add_key(acct)
        fake.inject(307, headers={"Location": other.url + RESTRICTIONS}, body="")
        with pytest.raises(Unavailable, match="redirect not followed"):
            BinanceClient(transport(fake, []), creds(issued)).api_restrictions()
        assert other.calls() == []
    finally:
        other.stop()


def test_non_json_success_is_not_an_answer(fake: FakeBinance) -> None:
    acct = fake.add_account("a@example.com")
    issued = fake.add_key(acct)
    fake.inject(200, body="<html>captive portal</html>")
    with pytest.raises(Unavailable, match="not JSON"):
        BinanceClient(transport(fake, []), creds(issued)).api_restrictions()


def test_connection_refused_is_unreachable_after_bounded_retries() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    waits: list[float] = []
    t = Transport(f"http://127.0.0.1:{port}", sleep=waits.append, max_retries=2)
    with pytest.raises(Unreachable, match=f"cannot connect to http://127.0.0.1:{port}"):
        t.sync_time()
    assert len(waits) == 2
    assert isinstance(Unreachable("x"), CexguardError)


def test_tls_is_verified_even_on_loopback() -> None:
    fake = FakeBinance(tls=self_signed_tls_context()).start()
    try:
        t = Transport(fake.url, sleep=lambda s: None)
        assert fake.url.startswith("https://")
        with pytest.raises(Unreachable, match="TLS certificate verification failed"):
            t.sync_time()
        assert fake.calls() == []  # nothing was sent over the unverified connection
    finally:
        fake.stop()


def test_server_messages_never_echo_the_key_in_full(fake: FakeBinance) -> None:
    acct = fake.add_account("a@example.com")
    issued = fake.add_key(acct)
    fake.inject(400, body=json.dumps({"code": -1100, "msg": f"bad key {issued.api_key} here"}))
    with pytest.raises(ApiError) as ei:
        BinanceClient(transport(fake, []), creds(issued)).api_restrictions()
    assert issued.api_key not in str(ei.value) and issued.api_key[:4] in str(ei.value)


def test_server_messages_never_echo_a_sub_account_key_param(world: World) -> None:
    world.fake.inject(400, body=json.dumps({"code": -9000, "msg": f"no key {world.leaked.api_key}"}))
    with pytest.raises(ApiError) as ei:
        BinanceClient(transport(world.fake, []), creds(world.master_key)).delete_sub_account_api(
            world.sub.email, world.leaked.api_key)
    assert world.leaked.api_key not in str(ei.value) and "no key" in str(ei.value)


def test_unsigned_call_without_signer_is_refused_before_sending(fake: FakeBinance) -> None:
    acct = fake.add_account("a@example.com")
    issued = fake.add_key(acct)
    with pytest.raises(CexguardError, match="needs a secret"):
        BinanceClient(transport(fake), Credentials(issued.api_key)).api_restrictions()
    assert fake.calls() == []


def test_sub_account_list_reads_every_page(world: World) -> None:
    for i in range(5):
        world.fake.add_account(f"extra{i}@example.com", master=world.master)
    subs = BinanceClient(transport(world.fake), creds(world.master_key)).sub_accounts(limit=2)
    assert len(subs) == 7
    assert [r.params["page"] for r in world.fake.calls("/sapi/v1/sub-account/list")] == ["1", "2", "3", "4"]
