"""Key shapes seen in real repositories (issue 9): 64-hex keys, private keys with no Binance word, keys
next to punctuation, listenKeys, other exchanges' credentials, CI workflow pairs, published examples.
Every key is generated at test time."""
from __future__ import annotations

import base64
import hashlib
import json
import secrets
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from scanner.engine import Engine
from scanner.models import fingerprint_of
from tests.conftest import new_key, run_cli


def hex_key(upper: bool = False) -> str:
    while True:
        s = secrets.token_hex(32)
        if any(c.isalpha() for c in s) and any(c.isdigit() for c in s):
            return s.upper() if upper else s


def _found(engine: Engine, text: str, path: str = "bot.py") -> list[tuple[int, str]]:
    return [(f.line, f.kind) for f in engine.scan_bytes(text.encode(), path=path)]


# -- 64-hex keys ----------------------------------------------------------------------------------------

def test_futures_testnet_hex_pair_is_found_as_testnet_and_ranks_lower(engine: Engine) -> None:
    k, s = hex_key(), hex_key()
    text = (f'BASE_URL = "https://testnet.binancefuture.com"\nAPI_KEY = "{k}"\nAPI_SECRET = "{s}"\n'
            'client = Client(API_KEY, API_SECRET)\n')
    found = engine.scan_bytes(text.encode(), path="futures_bot.py")
    assert [(f.line, f.kind, f.environment) for f in found] == [
        (2, "binance_api_key", "testnet"), (3, "binance_secret_key", "testnet")]
    assert {f.confidence for f in found} == {"medium"}  # high with a Binance host, one level lower on testnet
    assert found[0].paired_with == found[1].fingerprint


def test_binance_th_uppercase_hex_key_is_found_as_th(engine: Engine) -> None:
    k, s = hex_key(upper=True), hex_key(upper=True)
    text = f'const base = "https://api.binance.th";\nconst apiKey = "{k}";\nconst apiSecret = "{s}";\n'
    found = engine.scan_bytes(text.encode(), path="th.js")
    assert [(f.kind, f.environment, f.confidence) for f in found] == [
        ("binance_api_key", "th", "high"), ("binance_secret_key", "th", "high")]


def test_hex_pair_in_a_client_call_is_found(engine: Engine) -> None:
    k, s = hex_key(), hex_key()
    found = _found(engine, f'from binance.client import Client\nclient = Client("{k}", "{s}", testnet=True)\n')
    assert found == [(2, "binance_api_key"), (2, "binance_secret_key")]


@pytest.mark.parametrize("line", [
    'requests==2.31.0 --hash=sha256:{h}',
    '{{file = "binance-1.0.tar.gz", hash = "sha256:{h}"}}',
    'checksum = "{h}"',
    'FROM python:3.12@sha256:{h}',
    'url = f"https://api.binance.com/api/v3/order?symbol=BTCUSDT&timestamp=1&signature={h}"',
    '"signature": "{h}"',
    '{h}  binance-connector-3.0.tar.gz',
    'commit_sha256: "{h}"',
    'api_key_sha256 = "{h}"',
    'key = "{h}"',  # a lone hex value under a generic name, no pair: a digest more often than a key
])
def test_sha256_digests_stay_silent_in_binance_files(engine: Engine, line: str) -> None:
    h = hashlib.sha256(secrets.token_bytes(16)).hexdigest()
    assert _found(engine, "# binance trading bot\n" + line.format(h=h) + "\n", path="requirements.txt") == []


def test_hex_pair_in_a_ci_workflow_env_is_high_without_binance_words(engine: Engine) -> None:
    k, s, ak, as_ = hex_key(), hex_key(), new_key(), new_key()
    wf = ("name: tests\non: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    env:\n"
          f'      TEST_API_KEY: "{ak}"\n      TEST_API_SECRET: "{as_}"\n'
          f'      TEST_FUTURES_API_KEY: "{k}"\n      TEST_FUTURES_API_SECRET: "{s}"\n')
    found = engine.scan_bytes(wf.encode(), path=".github/workflows/ci.yml")
    assert [(f.line, f.kind, f.confidence) for f in found] == [
        (7, "binance_api_key", "high"), (8, "binance_secret_key", "high"),
        (9, "binance_api_key", "high"), (10, "binance_secret_key", "high")]
    # the same block elsewhere: the alphanumeric pair is medium, the hex pair is still found (named pair)
    found = engine.scan_bytes(wf.encode(), path="deploy/ci.yml")
    assert [f.confidence for f in found][:2] == ["medium", "medium"] and len(found) == 4


# -- private keys with no Binance word --------------------------------------------------------------------

def _ed25519_der() -> bytes:
    return ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def test_bare_base64_ed25519_key_is_a_private_key_never_a_secret_key(engine: Engine) -> None:
    while True:
        der = _ed25519_der()
        b64 = base64.b64encode(der).decode()
        if "+" not in b64 and "/" not in b64:
            break
    found = engine.scan_bytes(f'# binance FIX session\nPRIVATE_KEY = "{b64}"\n'.encode(), path="fix.py")
    assert [(f.kind, f.line) for f in found] == [("binance_private_key", 2)]
    assert found[0].fingerprint == fingerprint_of(der)
    # another exchange's test (its name in the path, no Binance word): nothing
    text = f'class TestAuth:\n    private_key = "{b64}"\n'
    assert engine.scan_bytes(text.encode(), path="test/connector/exchange/lambdaplex/test_lambdaplex_auth.py") == []


# -- boundaries ----------------------------------------------------------------------------------------------

def test_filter_repo_replace_text_line_splits_the_key(engine: Engine) -> None:
    k, s = new_key(), new_key()
    text = f"# binance keys to scrub\n{k}==>***REMOVED***\n{s}==>***REMOVED***\n"
    assert _found(engine, text, path="replacements.txt") == [(2, "binance_api_key"), (3, "binance_secret_key")]


@pytest.mark.parametrize("left,right", [
    ('"', '"'), ("'", "'"), ("`", "`"), ("(", ")"), ("[", "]"), ("{", "}"), ("<", ">"), ("=", ";"), (": ", ","),
    ("=", "&"), ("\t", "\t"), ("|", "|"), ("=", "==>"), ("'", "' =>"), ("=", "#"), ("*", "*"), ("~", "~"),
    (">", "<"), ("\\n", "\\n"), ('\\"', '\\"'), (",", ","), (" ", " "),
])
def test_key_between_real_world_punctuation_is_found(engine: Engine, left: str, right: str) -> None:
    k = new_key()
    assert _found(engine, f"binance_api_key {left}{k}{right}\n", path="notes.txt") == [(1, "binance_api_key")]


# -- not credentials ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("line", [
    'ws = websocket.create_connection("wss://stream.binance.com:9443/ws/{k}")',
    'requests.put("https://api.binance.com/api/v3/userDataStream?listenKey={k}")',
    'listen_key = "{k}"',
    'mock_response = {{"listenKey": "{k}"}}',
    'client.futures_stream_keepalive(listenKey="{k}")',
    '    "stream": "{k}",',
    '{{"method": "REQUEST", "params": ["{k}@account"], "id": 12}}',
])
def test_listen_keys_are_not_credentials(engine: Engine, line: str) -> None:
    text = "from binance.client import Client\n" + line.format(k=new_key()) + "\n"
    assert _found(engine, text, path="user_stream.py") == []


def test_another_exchanges_credentials_are_never_binance_ones(engine: Engine) -> None:
    k, s = new_key(), new_key()
    text = (f'# binance and ascendex connectors\nBINANCE_API_KEY = "{k}"\n'
            f'ascend_ex_secret_key = "{s}"\n')
    assert _found(engine, text, path="keys.py") == [(2, "binance_api_key")]
    text = f'API_KEY = "{new_key()}"\nAPI_SECRET = "{new_key()}"\n'
    assert _found(engine, text, path="connectors/kucoin/config.py") == []
    nested = f'exchanges:\n  binance:\n    apiKey: "{k}"\n  bybit:\n    apiKey: "{s}"\n'
    assert _found(engine, nested, path="config.yml") == [(3, "binance_api_key")]


def test_attachment_file_names_are_not_keys(engine: Engine) -> None:
    k = new_key()
    text = f"# Binance statement\n[{k}_en_usd.pdf](https://example.com/files/1/{k}_en_usd.pdf)\n"
    assert _found(engine, text, path="README.md") == []


# -- published examples, by fingerprint -----------------------------------------------------------------------

def test_published_pem_key_is_an_example_by_fingerprint(engine: Engine) -> None:
    der = _ed25519_der()
    pem = serialization.load_der_private_key(der, None).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    text = f"# Binance FIX API example key\n{pem}"
    eng = Engine(engine.rules, examples=[fingerprint_of(der)], prefilter=engine.prefilter_kind)
    found = eng.scan_bytes(text.encode(), path="fix-api.md")
    assert [(f.kind, f.example) for f in found] == [("binance_private_key", True)]


def test_shipped_example_list_holds_no_key_values() -> None:
    text = (Path(__file__).resolve().parent.parent / "rules" / "binance_examples.yaml").read_text(encoding="utf-8")
    entries = [ln for ln in text.splitlines() if ln.lstrip().startswith("- {fingerprint:")]
    assert len(entries) >= 50 and all("source:" in ln for ln in entries)
    assert not any(len(w) >= 60 and w.isalnum() for ln in entries for w in ln.replace("'", " ").split())


# -- reports ---------------------------------------------------------------------------------------------------

def test_environment_and_reason_appear_in_json_sarif_and_text(tmp_path: Path) -> None:
    k, s = hex_key(), hex_key()
    (tmp_path / "bot.py").write_text(
        f'BASE = "https://testnet.binancefuture.com"\napi_key = "{k}"\napi_secret = "{s}"\n', encoding="utf-8")
    pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    (tmp_path / "test-prv-key.pem").write_text(pem, encoding="utf-8")
    r = run_cli("scan", str(tmp_path), "--format", "json", "-q")
    assert r.code == 1, r.err
    found = {(f["path"], f["kind"]): f for f in json.loads(r.out)["findings"]}
    assert found[("bot.py", "binance_api_key")]["environment"] == "testnet"
    assert "named like" in found[("test-prv-key.pem", "private_key")]["reason"]
    r = run_cli("scan", str(tmp_path), "--format", "sarif", "-q")
    props = [res["properties"] for res in json.loads(r.out)["runs"][0]["results"]]
    assert {p.get("environment") for p in props} >= {"testnet"} and any("reason" in p for p in props)
    r = run_cli("scan", str(tmp_path), "-q")
    assert "testnet" in r.out and "private_key" in r.out
