"""PEM rules are keyed by label and key type: rules may share a label (PKCS#8 `PRIVATE KEY` holds
Ed25519, RSA and EC keys alike), and a key goes to the rule that takes its type. An extra rule may add a
key type under a built-in label; it never takes what a built-in rule takes."""
from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from scanner.engine import Engine
from scanner.models import Chunk, Finding
from tests.conftest import new_key

RULE = """\
rules:
  - id: acme-private-key
    kind: acme_private_key
    type: pem
    group: acme-api
    role: private_key
    title: Acme private key
    description: Acme API private key, ECDSA P-256 in PKCS#8 PEM.
    remediation: Delete the key in Acme's console.
    labels: {labels}
    key_types: [ec]
    keywords: ['acme']
    confidence:
      medium: [near]
    examples: [{example}]
    negative_examples: ["ACME_PRIVATE_KEY=changeme"]
"""


def _pkcs8(key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


@pytest.mark.parametrize("prefilter", ["regex", "hyperscan"])
def test_an_extra_rule_adds_a_key_type_under_a_builtin_label(tmp_path: Path, prefilter: str) -> None:
    from scanner.config import Config
    from scanner.rules import build_engine, load_rules_full

    example = json.dumps("acme key:\n" + _pkcs8(ec.generate_private_key(ec.SECP256R1())))
    (tmp_path / "acme.yaml").write_text(RULE.format(labels="['PRIVATE KEY']", example=example))
    engine = build_engine(Config(rules_dirs=(tmp_path,)), prefilter=prefilter)
    ec_key, ed_key = _pkcs8(ec.generate_private_key(ec.SECP256R1())), _pkcs8(ed25519.Ed25519PrivateKey.generate())
    text = f"# acme signing key\n{ec_key}\n\n" + "\n" * 30 + f"# binance ed25519 key\n{ed_key}\n"
    found = sorted((f.line, f.kind) for f in engine.scan(Chunk(data=text.encode(), path="keys.txt")))
    assert found == [(2, "acme_private_key"), (text[:text.index(ed_key)].count("\n") + 1, "binance_private_key")]
    # without the extra rule the EC key under `PRIVATE KEY` is nobody's
    plain = build_engine(Config(), prefilter=prefilter)
    assert [f.kind for f in plain.scan(Chunk(data=text.encode(), path="keys.txt"))] == ["binance_private_key"]
    # an extra rule taking a label and type a built-in rule takes (Coinbase's SEC1 EC keys) is ignored
    (tmp_path / "acme.yaml").write_text(RULE.format(labels="['EC PRIVATE KEY']", example=example))
    _rules, _ex, notices = load_rules_full([tmp_path])
    assert any("acme-private-key ignored" in n for n in notices)


# PKCS#8 Ed25519 keys are taken by Binance's rule and Coinbase's (coinbase-ed25519-pem): matching keeps the
# key for both, each with its own context; judging gives it to one, at each path (Engine._pick).

def _ed() -> str:
    return _pkcs8(ed25519.Ed25519PrivateKey.generate())


def _kinds(found: list[Finding]) -> list[str]:
    return [f.kind for f in found if "PRIVATE KEY" in f.secret]


def test_a_shared_key_goes_to_the_exchange_named_nearest(engine: Engine) -> None:
    key = _ed()
    pad = "\n" * 12
    cb_nearer = f"# binance\n{pad}# coinbase advanced trade\nSECRET = {json.dumps(key)}\n"
    bn_nearer = f"# coinbase\n{pad}# binance spot\nSECRET = {json.dumps(key)}\n"
    assert _kinds(engine.scan_bytes(cb_nearer.encode(), "bot.py")) == ["coinbase_private_key"]
    assert _kinds(engine.scan_bytes(bn_nearer.encode(), "bot.py")) == ["binance_private_key"]
    # a word after the key counts as well
    after = f"SECRET = {json.dumps(key)}  # coinbase cdp key\n"
    assert _kinds(engine.scan_bytes(after.encode(), "bot.py")) == ["coinbase_private_key"]


def test_a_shared_key_goes_by_its_path_when_no_word_is_near(engine: Engine) -> None:
    """One match of the content, judged at two paths: the CDP key file's name makes it Coinbase's; elsewhere
    it is what it was before Coinbase's rule took the label (a possible Binance key, for its type)."""
    data = json.dumps({"privateKey": _ed()}, indent=2).encode()
    m = engine.match(data, paths=("cdp_api_key.json", "keys.json"))
    at_cdp = engine.judge(m, "cdp_api_key.json")
    assert [(f.kind, f.rule) for f in at_cdp] == [("coinbase_private_key", "coinbase-ed25519-pem")]
    elsewhere = engine.judge(m, "keys.json")
    assert [(f.kind, f.confidence) for f in elsewhere] == [("private_key", "low")]
    assert elsewhere[0].reason and "Ed25519" in elsewhere[0].reason
    assert at_cdp[0].fingerprint == elsewhere[0].fingerprint


def test_a_shared_key_goes_to_the_exchange_whose_api_key_is_beside_it(engine: Engine) -> None:
    """No exchange word and a path naming none: a Coinbase key name next to the key makes it Coinbase's (paired,
    high); a 64-character Binance API key next to it keeps it Binance's."""
    key = _ed()
    name = f"organizations/{uuid.uuid4()}/apiKeys/{uuid.uuid4()}"
    cb = json.dumps({"name": name, "privateKey": key}, indent=2)
    found = [f for f in engine.scan_bytes(cb.encode(), "keys.json") if not f.example]
    by_kind = {f.kind: f for f in found}
    assert sorted(by_kind) == ["coinbase_api_key", "coinbase_private_key"]
    pk = by_kind["coinbase_private_key"]
    assert pk.confidence == "high" and pk.paired_with == by_kind["coinbase_api_key"].fingerprint
    bn = f'API_KEY = "{new_key()}"\nPRIVATE_KEY = {json.dumps(key)}\n'
    assert _kinds(engine.scan_bytes(bn.encode(), "keys.py")) == ["private_key"]  # (Binance's neutral rule, paired)
