"""Rule parsing: every field of the schema (rules/SCHEMA.md) is validated, with a one-line error naming
the rule and the field; the built-in rules say what the engine used to hard-code."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from scanner.errors import CexguardError
from scanner.rules import load_rules, load_rules_full, parse_rule
from tests.conftest import run_cli

BASE: dict[str, Any] = {"id": "acme-key", "kind": "acme_key", "type": "token", "description": "d", "remediation": "r",
                        "pattern": "acme_[a-z0-9]{20}", "distinct": True, "examples": [], "negative_examples": []}


def rule(**changes: Any) -> Any:
    return parse_rule({**BASE, **changes}, "test.yaml")


def test_a_minimal_rule_gets_the_defaults() -> None:
    r = rule()
    assert (r.title, r.verify, r.pairs_with, r.within_lines, r.confidence, r.reject, r.random) == \
        ("", "", (), 0, (), (), True)
    assert r.display_title == "d"  # no title: the description up to its first colon


def test_new_fields_parse() -> None:
    r = rule(title="  Acme   key ", verify="acme", pairs_with=["acme-secret"], within_lines=5, within_bytes=300,
             confidence={"high": ["near+named"], "medium": ["near", "paired"], "lower_in": ["testnet"]},
             reject=["hex"], random=False, hex_environments={"lower": "testnet"}, environment_words=["sandbox"],
             revoke_hint="revoke it in Acme")
    assert r.title == "Acme key" and r.verify == "acme" and r.pairs_with == ("acme-secret",)
    assert (r.within_lines, r.within_bytes) == (5, 300)
    assert r.confidence == (("high", ("near+named",)), ("medium", ("near", "paired")))
    assert r.lower_in == ("testnet",) and r.reject == ("hex",) and r.random is False
    assert r.hex_environments == (("lower", "testnet"),) and r.environment_words == ("sandbox",)


@pytest.mark.parametrize("changes, message", [
    ({"titel": "x"}, "unknown field(s) titel"),
    ({"title": 3}, "title must be a string"),
    ({"verify": "Bin ance"}, "verify must name a verifier"),
    ({"pairs_with": "acme-secret"}, "pairs_with: expected a list of strings"),
    ({"within_lines": 5}, "within_lines needs pairs_with"),
    ({"pairs_with": ["x"], "within_lines": -1}, "within_lines must be a non-negative integer"),
    ({"pairs_with": ["x"], "within_bytes": True}, "within_bytes must be a non-negative integer"),
    ({"confidence": {"hihg": ["near"]}}, "confidence: a mapping of"),
    ({"confidence": {"high": ["near+nammed"]}}, "unknown signal(s) nammed"),
    ({"hex_confidence": {"high": ["near"], "lower_in": ["testnet"]}}, "hex_confidence: a mapping of high, low, medium"),
    ({"reasons": {"paired": "x"}}, "reasons apply to neutral rules only"),
    ({"type": "pem", "labels": ["PRIVATE KEY"], "neutral": True, "reasons": {"why": "x"}}, "reasons must be among"),
    ({"hex_environments": {"mixed": "testnet"}}, "hex_environments maps lower and/or upper"),
    ({"environment_words": ["Test Net"]}, "environment_words are lower-case words"),
    ({"reject": ["uuid"]}, "reject entries must be among hex"),
    ({"random": "no"}, "random must be true or false"),
    ({"distinct": 1}, "distinct must be true or false"),
])
def test_bad_fields_are_one_line_errors(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(CexguardError) as e:
        rule(**changes)
    assert message in str(e.value) and "rule acme-key" in str(e.value) and "\n" not in str(e.value)


def write(folder: Path, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "acme.yaml").write_text("rules:\n" + body)
    return folder


TOKEN = ("  - id: {id}\n    kind: acme\n    type: token\n    description: d\n    remediation: r\n"
         "    pattern: '{pattern}'\n{extra}    examples: []\n    negative_examples: []\n")


def test_pairs_with_must_name_a_loaded_rule(tmp_path: Path) -> None:
    d = write(tmp_path / "r", TOKEN.format(id="acme", pattern="acme_[a-z0-9]{20}",
                                           extra="    distinct: true\n    pairs_with: [acme-secret]\n"))
    with pytest.raises(CexguardError, match="pairs_with names unknown rule.s. acme-secret"):
        load_rules_full([d])


@pytest.mark.parametrize("extra, ok", [
    ("", False),  # the default policy reports a lone value: a UUID-shaped rule may not have it
    ("    confidence: {high: [near], medium: [named]}\n", False),
    ("    confidence: {high: [near+named], medium: [infile+named, paired]}\n", True),
    ("    distinct: true\n", True),
])
def test_short_values_need_context(tmp_path: Path, extra: str, ok: bool) -> None:
    """A lone UUID is never reported: a rule for one must ask for context or a pair."""
    uuid = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    d = write(tmp_path / "r", TOKEN.format(id="acme", pattern=uuid, extra=extra))
    if ok:
        assert [r.id for r in load_rules_full([d])[0]][-1] == "acme"
    else:
        with pytest.raises(CexguardError, match="reports a value with no context"):
            load_rules_full([d])


def test_rules_check_refuses_a_bad_rule_in_one_line(tmp_path: Path) -> None:
    # (30 hex digits: a shape no built-in rule has, or the rule would be ignored as a duplicate)
    d = write(tmp_path / "r", TOKEN.format(id="acme", pattern="[0-9a-f]{30}", extra=""))
    r = run_cli("rules", "check", "--rules-dir", str(d))
    assert r.code == 2 and "reports a value with no context" in r.err and len(r.err.strip().splitlines()) == 1


def test_builtin_rules_hold_what_the_engine_used_to_hard_code() -> None:
    rules = {r.id: r for r in load_rules()}
    key = rules["binance-api-key"]
    assert key.pairs_with == ("binance-secret-key", "binance-private-key") and key.within_lines == 0
    assert dict(key.confidence)["low"] == ("any",) and key.lower_in == ("testnet", "demo")
    assert dict(key.hex_environments) == {"lower": "testnet", "upper": "th"}
    assert dict(rules["private-key"].reasons)["ed25519"].startswith("an Ed25519 key")
    binance = [r for r in rules.values() if r.group == "binance-hmac"]
    assert {r.verify for r in binance} == {"binance"}
    assert {r.verify for r in rules.values()} == {"binance", "bybit", "okx", "kucoin", "kraken", "coinbase", "bitget",
                                                  "gate", "mexc", "htx"}
    assert [r.title for r in binance] == ["Binance API key", "Binance secret key", "Binance private key",
                                                 "Private key (possibly Binance's)"]


def test_rules_check_fails_a_rule_hyperscan_cannot_compile(tmp_path: Path) -> None:
    """Scans would silently fall back to the slower regex prefilter for every rule: `rules check` names the rule."""
    pytest.importorskip("hyperscan")
    value = "acme_" + "q8x2kd9w0pz7m3vt5nby"
    d = write(tmp_path / "r", TOKEN.format(id="acme", pattern="acme_(?<=_)[a-z0-9]{20}", extra="    distinct: true\n")
              .replace("examples: []\n    negative", f"examples: ['{value}']\n    negative"))
    r = run_cli("rules", "check", "--rules-dir", str(d))
    assert r.code == 1 and "FAIL rule acme: hyperscan could not compile" in r.err
    # without the zero-width assertion the same rule passes under both prefilters
    d2 = write(tmp_path / "r2", TOKEN.format(id="acme", pattern="acme_[a-z0-9]{20}", extra="    distinct: true\n")
               .replace("examples: []\n    negative", f"examples: ['{value}']\n    negative"))
    r = run_cli("rules", "check", "--rules-dir", str(d2))
    assert r.code == 0, r.err


def test_a_global_flag_in_a_rule_pattern_is_refused_in_one_line(tmp_path: Path) -> None:
    """Patterns are embedded in bigger ones, where `(?i)` is an error: refused at load time, not a crash."""
    d = write(tmp_path / "r", TOKEN.format(id="acme", pattern="(?i)acme_[a-z0-9]{20}", extra="    distinct: true\n"))
    r = run_cli("rules", "check", "--rules-dir", str(d))
    assert r.code == 2 and "scoped flag such as (?i:...)" in r.err and len(r.err.strip().splitlines()) == 1
    d2 = write(tmp_path / "r2", TOKEN.format(id="acme", pattern="(?i:acme_)[a-z0-9]{20}", extra="    distinct: true\n"))
    assert run_cli("rules", "check", "--rules-dir", str(d2)).code == 0
