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


# ------------------------------------------------------------------ hostile answers: waits and deadlines

def _past_http_date() -> str:
    from email.utils import formatdate

    return formatdate(time.time() - 3600, usegmt=True)


@pytest.mark.parametrize("value", ["0", "-5", "nan", "NaN", "-inf", "0.0001", _past_http_date()])
def test_retry_after_meaning_now_waits_the_floor_and_attempts_are_bounded(fake: FakeBinance, value: str) -> None:
    """These looped forever at ~800 signed requests a second: each wait now has a floor, and the
    number of requests per call a bound."""
    from scanner.remote.binance import DEFAULT_MAX_ATTEMPTS, MIN_WAIT

    acct = fake.add_account("a@example.com")
    issued = fake.add_key(acct)
    fake.inject(429, retry_after=value, times=1000)
    waits: list[float] = []
    with pytest.raises(Unavailable, match="rate limited"):
        BinanceClient(transport(fake, waits), creds(issued)).api_restrictions()
    assert len(fake.calls()) == DEFAULT_MAX_ATTEMPTS
    assert len(waits) == DEFAULT_MAX_ATTEMPTS - 1 and all(w >= MIN_WAIT for w in waits)


@pytest.mark.parametrize("value,shown", [("inf", "259200s"), ("1e400", "259200s"), ("86400", "86400s")])
def test_retry_after_beyond_the_cap_gives_up_at_once(fake: FakeBinance, value: str, shown: str) -> None:
    acct = fake.add_account("a@example.com")
    issued = fake.add_key(acct)
    fake.inject(418, retry_after=value, times=1000)
    waits: list[float] = []
    t = transport(fake, waits)
    with pytest.raises(Unavailable, match="IP banned") as ei:
        BinanceClient(t, creds(issued)).api_restrictions()
    assert str(ei.value).endswith(f"retry after {shown}")  # a ban is remembered for 3 days at most
    assert waits == [] and len(fake.calls()) == 1
    with pytest.raises(Unavailable, match="not sent"):  # the ban is remembered
        BinanceClient(t, creds(issued)).api_restrictions()
    assert len(fake.calls()) == 1


@pytest.mark.parametrize("value", ["soon", "", "Mon, 99 Foo 2024"])
def test_retry_after_that_is_not_a_time_is_not_retried(fake: FakeBinance, value: str) -> None:
    acct = fake.add_account("a@example.com")
    issued = fake.add_key(acct)
    fake.inject(429, retry_after=value, times=1000)
    waits: list[float] = []
    with pytest.raises(Unavailable, match="rate limited"):
        BinanceClient(transport(fake, waits), creds(issued)).api_restrictions()
    assert waits == [] and len(fake.calls()) == 1


def test_5xx_and_429_together_stay_within_the_attempt_bound(fake: FakeBinance) -> None:
    acct = fake.add_account("a@example.com")
    issued = fake.add_key(acct)
    for _ in range(50):
        fake.inject(503)
        fake.inject(429, retry_after=0)
    waits: list[float] = []
    with pytest.raises(Unavailable):
        BinanceClient(transport(fake, waits, max_retries=100), creds(issued)).api_restrictions()
    assert len(fake.calls()) == 5 and sum(waits) <= 30


@pytest.mark.parametrize("path", [RESTRICTIONS, None])
def test_drip_fed_answer_is_cut_at_the_timeout(fake: FakeBinance, path: str | None) -> None:
    """One byte every 0.2 s: each read succeeds, so a per-read timeout never fires; the deadline
    covers the whole exchange (status line, headers and body)."""
    acct = fake.add_account("a@example.com")
    issued = fake.add_key(acct)
    fake.inject(None, path=path, drip=0.2, times=10)  # the real answer, ~600 bytes: 2 minutes
    t0 = time.monotonic()
    with pytest.raises(Unavailable, match="timed out"):
        BinanceClient(transport(fake, [], timeout=1, max_retries=1), creds(issued)).api_restrictions()
    assert time.monotonic() - t0 < 30  # a hang guard, not a speed test: the drip alone takes minutes
    assert len(fake.calls()) == 2  # the first attempt and one retry


def test_drip_fed_error_page_is_cut_at_the_timeout(fake: FakeBinance) -> None:
    acct = fake.add_account("a@example.com")
    issued = fake.add_key(acct)
    fake.inject(403, drip=0.2, times=10)
    with pytest.raises(Unavailable, match="timed out"):
        BinanceClient(transport(fake, [], timeout=1, max_retries=0), creds(issued)).api_restrictions()
    assert len(fake.calls()) == 1


def test_answer_shorter_than_its_content_length_is_not_an_answer(fake: FakeBinance) -> None:
    import socket as _socket
    import threading

    srv = _socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    port = srv.getsockname()[1]

    def serve() -> None:
        conn, _ = srv.accept()
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n"
                     b'{"serverTime": 1}')
        conn.close()

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    try:
        with pytest.raises(Unavailable, match="cut short"):
            Transport(f"http://127.0.0.1:{port}", sleep=lambda s: None, max_retries=0).sync_time()
    finally:
        th.join(5)
        srv.close()


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 0.0, -1.0])
def test_transport_refuses_a_timeout_that_is_not_a_positive_number(bad: float) -> None:
    with pytest.raises(CexguardError, match="timeout"):
        Transport("http://127.0.0.1:9", timeout=bad)


# --------------------------------------------------------------- hostile answers: shapes prove verdicts

@pytest.mark.parametrize("status,code", [(200, -2015), (200, -1022), (403, -2015), (418, -2015), (500, -2015),
                                         (404, -2015), (400, -1000)])
def test_credential_codes_count_only_under_400_or_401(fake: FakeBinance, status: int, code: int) -> None:
    acct = fake.add_account("a@example.com")
    issued = fake.add_key(acct)
    fake.inject(status, body=json.dumps({"code": code, "msg": "Invalid API-key, IP, or permissions for action."}),
                times=10)
    with pytest.raises((Unavailable, ApiError)) as ei:
        BinanceClient(transport(fake, []), creds(issued)).api_restrictions()
    assert not isinstance(ei.value, AuthError)


@pytest.mark.parametrize("body", ['{"ipRestrict": false}', '{}', '[]', '{"enableReading": "yes", "ipRestrict": false, '
                                  '"enableWithdrawals": false}', '{"code": 0, "msg": "ok"}',
                                  '{"ipRestrict": NaN, "enableReading": true, "enableWithdrawals": true}'])
def test_success_without_the_fields_of_the_answer_is_unknown(fake: FakeBinance, body: str) -> None:
    acct = fake.add_account("a@example.com")
    issued = fake.add_key(acct)
    fake.inject(200, body=body)
    with pytest.raises(Unavailable):
        BinanceClient(transport(fake, []), creds(issued)).api_restrictions()
