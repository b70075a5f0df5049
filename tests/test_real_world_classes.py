"""Classes of real-world files the real-world set (bench/realworld.py) caught cexguard out on, rebuilt
with generated values: lists of hex digests in repositories named after Binance, third-party packages
vendored into a Binance bot, web-framework secrets, keys named PublicKey/PrivateKey, repeated keys."""
from __future__ import annotations

import secrets

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from scanner.engine import Engine
from tests.conftest import new_key


def hex_key() -> str:
    return secrets.token_hex(32)


def pem(kind: str) -> str:
    k = ed25519.Ed25519PrivateKey.generate() if kind == "ed25519" else rsa.generate_private_key(65537, 2048)
    return k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                           serialization.NoEncryption()).decode()


def scan(engine: Engine, path: str, text: str) -> list:
    return engine.scan_bytes(text.encode(), path)


# -- lists of hex digests -------------------------------------------------------------------------------

def test_a_lock_file_in_a_binance_named_folder_is_silent(engine: Engine) -> None:
    hashes = "\n".join(f'    "zh:{hex_key()}",' for _ in range(12))
    text = f'provider "registry.terraform.io/hashicorp/helm" {{\n  version = "2.22.3"\n  hashes = [\n{hashes}\n  ]\n}}\n'
    assert scan(engine, "binance-tool/terraform/.terraform.lock.hcl", text) == []


def test_a_checksum_manifest_keyed_by_file_names_is_silent(engine: Engine) -> None:
    names = ["0001_extensions.sql", "0024_api_key_verification.sql", "0031_secret_rotation.sql", "0040_orders.sql"]
    body = ",\n".join(f'  "{n}": "{hex_key()}"' for n in names)
    assert scan(engine, "binance-trading-bot/packages/db/migrations/checksums.json", "{\n" + body + "\n}\n") == []
    # one entry alone, under a file name that holds "api_key", is no key either
    one = f'{{\n  "0024_api_key_verification.sql": "{hex_key()}"\n}}\n'
    assert scan(engine, "binance-trading-bot/checksums.json", one) == []


def test_a_list_of_digests_beside_binance_words_is_silent(engine: Engine) -> None:
    text = ("# Binance walk-forward baseline\n\nSnapshot hashes:\n"
            f"- 60m: `{hex_key()}`;\n- 240m: `{hex_key()}`;\n- 1440m: `{hex_key()}`.\n")
    assert scan(engine, "docs/BASELINE.md", text) == []


def test_an_unnamed_hex_pair_needs_a_binance_word_in_the_text(engine: Engine) -> None:
    k, s = hex_key(), hex_key()
    call = f'client = futures.NewClient(\n    "{k}",\n    "{s}",\n)\n'
    found = scan(engine, "bot/main.go", "// binance futures testnet\n" + call)
    assert {f.secret for f in found} == {k, s}
    assert {f.environment for f in found} == {"testnet"}
    # the folder's name alone (a clone named binance-bot) does not make two hex strings a key pair
    assert scan(engine, "binance-bot/internal/fixtures.go", call) == []


# -- third-party packages vendored into the repository ------------------------------------------------------

def test_keys_inside_vendored_packages_are_not_binance_keys(engine: Engine) -> None:
    rsa_doc = f"## Signing\n\nAn example key:\n\n{pem('rsa')}\n"
    assert scan(engine, "my-binance-bot/node_modules/http-signature/http_signing.md", rsa_doc) == []
    assert scan(engine, "binance-bot/venv/Lib/site-packages/Crypto/SelfTest/test_pkcs1.py",
                f"KEY = '''{pem('rsa')}'''\n") == []
    ed = f'PEM = """{pem("ed25519")}"""\n'
    assert scan(engine, "bot/.venv311/Lib/site-packages/ecdsa/test_keys.py", ed) == []
    # the same Ed25519 key in the project's own files is reported, with the reason it may be Binance's
    own = scan(engine, "keys/trading.txt", ed)
    assert [(f.kind, bool(f.reason)) for f in own] == [("private_key", True)]


def test_a_binance_sdk_vendored_under_node_modules_still_gives_binance_context(engine: Engine) -> None:
    k = new_key()
    text = f'const client = new Spot("{k}", secret)\n'
    found = scan(engine, "app/node_modules/binance-connector/examples/account.js", text)
    assert [f.secret for f in found] == [k]


# -- other secrets and other names -------------------------------------------------------------------------

def test_a_web_framework_secret_key_base_is_no_binance_secret(engine: Engine) -> None:
    text = ('config :bot, BotWeb.Endpoint,\n  http: [port: 4000],\n'
            f'  secret_key_base: "{new_key()}",\n  watchers: []\n')
    assert scan(engine, "elixir_binance_bot/config/dev.exs", text) == []
    s = new_key()
    found = scan(engine, "elixir_binance_bot/config/dev.exs", text + f'config :bot, binance_secret: "{s}"\n')
    assert [f.secret for f in found] == [s]


def test_hex_key_and_secret_in_properties_named_public_and_private_key(engine: Engine) -> None:
    k, s = hex_key(), hex_key()
    text = ("namespace BinanceIntegratedTests\n{\n    internal static class Config\n    {\n"
            "        // Testnet config keys.\n"
            f'        internal static string PublicKey {{ get; set; }} = "{k}";\n\n'
            f'        internal static string PrivateKey {{ get; set; }} = "{s}";\n    }}\n}}\n')
    found = {f.secret: f for f in scan(engine, "Tests/Config.cs", text)}
    assert set(found) == {k, s}
    assert (found[k].kind, found[s].kind) == ("binance_api_key", "binance_secret_key")
    assert found[k].paired_with == found[s].fingerprint
    assert found[k].environment == "testnet"


def test_a_lone_hex_private_key_is_a_wallet_key_not_a_binance_secret(engine: Engine) -> None:
    text = f'# binance withdrawals go to this wallet\nPRIVATE_KEY = "{hex_key()}"\n'
    assert scan(engine, "wallet.py", text) == []
    # nor does a public key alone make one a pair
    text = f'# binance\nPUBLIC_KEY = "{hex_key()}"\nNOTE = "no private key here"\n'
    assert scan(engine, "node.py", text) == []


def test_a_key_repeated_in_a_file_is_one_finding_with_its_count(engine: Engine) -> None:
    k = hex_key().upper()
    text = (f"- BINANCE_API_KEY: `{k}`\n\nRevoke it on https://www.binance.th:\n\n"
            f'curl -H "X-MBX-APIKEY: {k}" https://api.binance.th/api/v1/account\n'
            f'curl -H "X-MBX-APIKEY: {k}" https://api.binance.th/api/v1/openOrders\n')
    found = scan(engine, "SECURITY.md", text)
    assert [(f.secret, f.count, f.environment) for f in found] == [(k, 3, "th")]


# -- percent-encoded neighbours ---------------------------------------------------------------------------

def test_a_key_between_percent_encoded_quotes_is_found_whole(engine: Engine) -> None:
    """A request logged URL-encoded: `%22` (") and `%3D` (=) glue two hex digits to the key's run."""
    key, sec = new_key(), new_key()
    text = f"GET https://api.binance.com/api/v3/account?apiKey=%22{key}%22&secret%3D{sec}%26x=1\n"
    found = {f.secret: f for f in scan(engine, "logs/requests.txt", text)}
    assert set(found) == {key, sec}
    assert found[key].kind == "binance_api_key" and found[key].paired_with == found[sec].fingerprint
    # two hex digits glued on without a `%` are part of a longer value: nothing
    assert scan(engine, "logs/requests.txt", f"GET https://api.binance.com/?apiKey=22{key}\n") == []
