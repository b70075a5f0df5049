"""Matching (what a chunk's content holds, whatever its path) and judging (its findings at a path): a
chunk's matches judged at any path give exactly what scanning it at that path gives, so history can
match a blob once and judge it at every path that holds it. Both prefilters."""
from __future__ import annotations

import secrets
import string
import uuid

import pytest

from scanner.engine import Engine
from scanner.models import Chunk
from tests.conftest import new_key

ALNUM = string.ascii_letters + string.digits


def _mixed(n: int) -> str:
    while True:
        s = "".join(secrets.choice(ALNUM) for _ in range(n))
        if any(c.isupper() for c in s) and any(c.islower() for c in s) and any(c.isdigit() for c in s):
            return s


PATHS = ["deploy/bybit/.env", "deploy/prod/.env", "bots/lambdaplex/keys.py", ".github/workflows/ci.yml",
         "node_modules/pkg/.env", "okx/config.py", ""]


def _texts() -> list[bytes]:
    bybit = f"API_KEY={_mixed(18)}\nAPI_SECRET={_mixed(36)}\n"  # context only from a path naming Bybit
    binance = f'api_key = "{new_key()}"\napi_secret = "{new_key()}"\n'  # no word: the path may name another
    okx = (f'OKX = {{"apiKey": "{uuid.uuid4()}", "secret": "{secrets.token_hex(16).upper()}",'
           f' "password": "{_mixed(12)}!"}}\n')
    mixed = f"# binance\n{binance}\n{bybit}\n{okx}"
    return [t.encode() for t in (bybit, binance, okx, mixed)]


def test_matches_judged_at_each_path_equal_a_scan_at_that_path(engine: Engine) -> None:
    for data in _texts():
        m = engine.match(data, paths=PATHS)  # matched once, for every path
        got_any = False
        for path in PATHS:
            assert engine.covers(m, path)
            want = engine.scan(Chunk(data=data, path=path))
            assert engine.judge(m, path) == want, path
            got_any = got_any or bool(want)
        assert got_any


def test_a_path_naming_an_exchange_the_text_does_not_needs_the_content_matched_again(engine: Engine) -> None:
    """Values only a path naming their exchange makes credentials are not searched for other paths;
    the matches say so rather than judge them as absent."""
    key, secret = _mixed(18), _mixed(36)
    data = f"API_KEY={key}\nAPI_SECRET={secret}\n".encode()
    m = engine.match(data, paths=["deploy/prod/.env"])
    assert engine.judge(m, "deploy/prod/.env") == []
    assert not engine.covers(m, "deploy/bybit/.env")
    with pytest.raises(ValueError):
        engine.judge(m, "deploy/bybit/.env")
    m2 = engine.match(data, paths=["deploy/bybit/.env"])
    assert {f.secret: f.kind for f in engine.judge(m2, "deploy/bybit/.env")} == {
        key: "bybit_api_key", secret: "bybit_secret_key"}
    assert engine.judge(m2, "deploy/prod/.env") == []  # searched for the other path: not here


def test_a_value_checked_once_is_judged_the_same_in_every_chunk(engine: Engine) -> None:
    """Each value's own checks are remembered across chunks: a value refused in one chunk is refused
    in the next, a value kept is kept (with its own line, context and pairing each time)."""
    k, s = new_key(), new_key()
    placeholder = "A" * 32 + "B" * 32
    first = f"binance_api_key={k}\nbinance_secret={s}\nbinance_other={placeholder}\n".encode()
    second = f"# binance\n\n\nclient = Client('{k}', '{s}')\nkey2 = '{placeholder}'\n".encode()
    for data in (first, second, first):
        found = engine.scan(Chunk(data=data, path="x.py"))
        assert {f.secret for f in found} == {k, s}
        by = {f.secret: f for f in found}
        assert by[k].paired_with == by[s].fingerprint


def test_a_key_with_a_secret_and_a_passphrase_names_both(engine: Engine) -> None:
    """`paired_with` stays the partner the value's own rule chose; `paired_with_all` lists every value
    it was paired with when there is more than one (so the passphrase's tie is not lost)."""
    import json

    k, s, p = str(uuid.uuid4()), secrets.token_hex(16).upper(), _mixed(12) + "!"
    data = f'okx = {{"apiKey": "{k}", "secret": "{s}", "password": "{p}"}}\n'.encode()
    by = {f.secret: f for f in engine.scan(Chunk(data=data, path="bot/config.py"))}
    assert set(by) == {k, s, p}
    key, sec, phrase = by[k], by[s], by[p]
    assert key.paired_with == sec.fingerprint and sec.paired_with == key.fingerprint
    # the passphrase takes the nearest of the key and the secret (the secret, here): that one names both
    assert phrase.paired_with == sec.fingerprint and phrase.paired_with_all == ()
    assert sec.paired_with_all == (key.fingerprint, phrase.fingerprint)
    assert key.paired_with_all == ()  # one partner: paired_with says it
    d = json.loads(json.dumps(sec.to_dict()))
    assert d["paired_with"] == key.fingerprint and d["paired_with_all"] == [key.fingerprint, phrase.fingerprint]
    assert "paired_with_all" not in key.to_dict()
