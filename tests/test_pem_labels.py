"""PEM rules are keyed by label and key type: rules may share a label (PKCS#8 `PRIVATE KEY` holds
Ed25519, RSA and EC keys alike), and a key goes to the rule that takes its type. An extra rule may add a
key type under a built-in label; it never takes what a built-in rule takes."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from scanner.models import Chunk

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
