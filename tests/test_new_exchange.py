"""Issue 10's acceptance: a new exchange is one YAML file. A made-up exchange (Zebrex: a UUID API key,
a 32-hex secret, a user-chosen passphrase found only by its name and only within 5 lines of a key)
is written here as rule data only; with no Python change it is found, paired, titled and advised in
every output format, and `rules check` proves its examples."""
from __future__ import annotations

import json
import secrets
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from scanner.reporting import FORMATS
from tests.conftest import run_cli

TITLES = {"zebrex-api-key": "Zebrex API key", "zebrex-secret": "Zebrex API secret",
          "zebrex-passphrase": "Zebrex API passphrase"}
REMEDIATION = "Revoke this key in Zebrex under Account > API Keys, then create a new one bound to your IPs."


def new_uuid() -> str:
    return str(uuid.uuid4())


def new_hex32() -> str:
    while True:
        s = secrets.token_hex(16)
        if any(c.isdigit() for c in s) and any(c.isalpha() for c in s):
            return s


def new_passphrase() -> str:
    return "Zq" + secrets.token_urlsafe(12).replace("-", "x").replace("_", "y") + "!7"


def rule_file(folder: Path) -> None:
    """The exchange's rules: data only (examples generated now: the project carries no key)."""
    k, s, p = new_uuid(), new_hex32(), new_passphrase()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "zebrex.yaml").write_text(f"""\
rules:
  - id: zebrex-api-key
    kind: zebrex_api_key
    type: token
    title: {TITLES["zebrex-api-key"]}
    description: "Zebrex API key: a UUID."
    remediation: {REMEDIATION}
    revoke_hint: revoke it in Zebrex under Account > API Keys
    pattern: '[0-9a-f]{{8}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{12}}'
    boundary: '0-9A-Za-z-'
    length: 36
    min_entropy: 3.0
    name_hints: ['api[_.-]?key', 'key\\b']
    keywords: ['zebrex']
    pairs_with: [zebrex-secret]
    within_lines: 5
    confidence:
      high: [near+named, near+paired]
      medium: [near, infile+named, infile+paired]
    examples:
      - "zebrex:\\n  api_key: {k}\\n  api_secret: {s}"  # cexguard:allow
    negative_examples:
      - 'request_id = "{new_uuid()}"'
  - id: zebrex-secret
    kind: zebrex_secret
    type: token
    title: {TITLES["zebrex-secret"]}
    description: "Zebrex API secret: 32 lower-case hex digits."
    remediation: {REMEDIATION}
    revoke_hint: revoke it in Zebrex under Account > API Keys
    pattern: '[0-9a-f]{{32}}'
    boundary: '0-9A-Za-z'
    length: 32
    charset: [lower, digit]
    min_entropy: 3.0
    name_hints: ['secret']
    keywords: ['zebrex']
    confidence:
      high: [near+named, near+paired]
      medium: [near, infile+named, infile+paired]
    examples:
      - "ZEBREX_API_SECRET={s}"  # cexguard:allow
    negative_examples:
      - 'md5 = "{new_hex32()}"'
  - id: zebrex-passphrase
    kind: zebrex_passphrase
    type: token
    title: {TITLES["zebrex-passphrase"]}
    description: "Zebrex API passphrase: chosen by the user, found by its name next to a key."
    remediation: {REMEDIATION}
    revoke_hint: revoke it in Zebrex under Account > API Keys
    pattern: '(?i:passphrase)\\W{{1,4}}(?P<value>[A-Za-z0-9!@#%^&*_+.-]{{8,40}})'
    boundary: 'A-Za-z0-9'
    random: false
    name_hints: ['passphrase']
    keywords: ['zebrex']
    pairs_with: [zebrex-api-key]
    within_lines: 5
    confidence:
      high: [near+paired]
      medium: [paired]
    examples:
      - "ZEBREX_API_KEY={k}\\nZEBREX_PASSPHRASE={p}"  # cexguard:allow
    negative_examples:
      - "ZEBREX_PASSPHRASE={new_passphrase()}"
""")


@pytest.fixture
def tree(tmp_path: Path) -> dict[str, str]:
    """A folder to scan, and the user's config (outside it) naming the rules folder."""
    rule_file(tmp_path / "rules")
    (tmp_path / "user.toml").write_text(f'rules_dirs = ["{tmp_path / "rules"}"]\n')
    root = tmp_path / "repo"
    root.mkdir()
    v = {"key": new_uuid(), "secret": new_hex32(), "passphrase": new_passphrase(), "far_key": new_uuid(),
         "far_passphrase": new_passphrase(), "lone": new_uuid()}
    (root / "bot.env").write_text(
        f"# zebrex trading bot\nZEBREX_API_KEY={v['key']}\nZEBREX_API_SECRET={v['secret']}\n"
        f"ZEBREX_PASSPHRASE={v['passphrase']}\n")
    # a passphrase 7 lines from the only key: not paired, so not reported (found by name only near a key)
    (root / "far.env").write_text(f"ZEBREX_API_KEY={v['far_key']}\n" + "# -\n" * 6
                                      + f"ZEBREX_PASSPHRASE={v['far_passphrase']}\n")
    (root / "ids.py").write_text(f'REQUEST_ID = "{v["lone"]}"\n')  # a lone UUID: never
    v["root"], v["config"] = str(root), str(tmp_path / "user.toml")
    return v


def test_rules_check_proves_the_new_exchanges_examples(tmp_path: Path) -> None:
    rule_file(tmp_path / "rules")
    r = run_cli("rules", "check", "--rules-dir", str(tmp_path / "rules"))
    assert r.code == 0, r.err
    from scanner.rules import builtin_rules_dir, load_rules

    builtin = len(load_rules()) if builtin_rules_dir().is_dir() else 0
    assert f"{builtin + 3} rule(s)" in r.out and r.out.rstrip().endswith(": ok")  # the built-in ones and Zebrex's


def test_rules_check_fails_an_example_the_rules_do_not_find(tmp_path: Path) -> None:
    """`rules check` proves the pairing distance: the passphrase 7 lines from its key is not found."""
    rule_file(tmp_path / "rules")
    f = tmp_path / "rules" / "zebrex.yaml"
    f.write_text(f.read_text().replace("\\nZEBREX_PASSPHRASE=", "\\n" * 7 + "ZEBREX_PASSPHRASE=", 1))
    r = run_cli("rules", "check", "--rules-dir", str(tmp_path / "rules"))
    assert r.code == 1
    assert "FAIL zebrex-passphrase: example 1 not found" in r.err


def test_found_paired_titled_and_advised_in_json(tree: dict[str, str]) -> None:
    r = run_cli("scan", tree["root"], "--config", tree["config"], "--format", "json")
    assert r.code == 1, r.err
    doc = json.loads(r.out)
    got = {(f["path"], f["rule"]): f for f in doc["findings"]}
    assert sorted(got) == [("bot.env", "zebrex-api-key"), ("bot.env", "zebrex-passphrase"),
                           ("bot.env", "zebrex-secret"), ("far.env", "zebrex-api-key")]
    key, secret, phrase = (got[("bot.env", r)] for r in ("zebrex-api-key", "zebrex-secret", "zebrex-passphrase"))
    assert key["paired_with"] == secret["fingerprint"] and secret["paired_with"] == key["fingerprint"]
    assert phrase["paired_with"] == key["fingerprint"]
    assert (key["confidence"], secret["confidence"], phrase["confidence"]) == ("high", "high", "high")
    assert phrase["redacted"] == tree["passphrase"][:4] + "..." + tree["passphrase"][-4:]
    assert got[("far.env", "zebrex-api-key")]["paired_with"] is None
    assert {x["id"]: (x["title"], x["remediation"]) for x in doc["rules"]} == {
        rid: (title, REMEDIATION) for rid, title in TITLES.items()}


@pytest.mark.parametrize("fmt", [f for f in FORMATS if f != "json"])
def test_titled_and_advised_in_every_other_format(tree: dict[str, str], fmt: str) -> None:
    r = run_cli("scan", tree["root"], "--config", tree["config"], "--format", fmt)
    assert r.code == 1, r.err
    out = r.out
    if fmt != "sarif":  # (SARIF lists every rule the scan ran, Binance's too)
        assert "Binance" not in out  # nothing of the built-in exchange leaks into another one's findings
    for v in ("lone", "far_passphrase"):
        assert tree[v][:4] + "..." + tree[v][-4:] not in out
    if fmt == "jsonl":
        lines = [json.loads(x) for x in out.splitlines()]
        assert len([x for x in lines if x["type"] == "finding"]) == 4
        assert {x["id"]: x["title"] for x in lines[-1]["rules"]} == TITLES
        return
    if fmt == "sarif":
        run = json.loads(out)["runs"][0]
        rules = {x["id"]: x for x in run["tool"]["driver"]["rules"]}
        for rid, title in TITLES.items():
            assert rules[rid]["shortDescription"]["text"] == title
            assert rules[rid]["help"]["text"] == REMEDIATION
        assert "Binance" not in json.dumps(run["results"])
        by_rule = {x["ruleId"]: x for x in run["results"] if "bot.env" in json.dumps(x["locations"])}
        assert by_rule["zebrex-passphrase"]["properties"]["pairedWith"] == \
            by_rule["zebrex-api-key"]["partialFingerprints"]["cexguardFingerprint/v1"]
        assert by_rule["zebrex-api-key"]["message"]["text"].startswith("Zebrex API key (zebrex_api_key, high")
        return
    if fmt == "gitlab":
        vulns = json.loads(out)["vulnerabilities"]
        assert sorted(v["name"] for v in vulns) == sorted([*TITLES.values(), TITLES["zebrex-api-key"]])
        assert all(v["solution"].startswith(REMEDIATION) for v in vulns)
        return
    if fmt == "junit":
        failures = list(ET.fromstring(out).iter("failure"))
        messages = sorted(f.get("message", "").split(" in ")[0] for f in failures)
        expected = [f"{t} ({rid.replace('-', '_')})" for rid, t in TITLES.items()]
        assert messages == sorted([*expected, "Zebrex API key (zebrex_api_key)"])
        assert all(f"remediation: {REMEDIATION}" in (f.text or "") for f in failures)
        assert "paired with: sha256:" in out
        return
    for title in TITLES.values():
        assert title in out, fmt
    if fmt == "html":
        assert "How to fix:</b> " + REMEDIATION.replace(">", "&gt;") in out
        assert "revoke it in Zebrex under Account &gt; API Keys" in out
        return
    assert REMEDIATION in out, fmt
    assert "paired with" in out, fmt


def test_the_history_audit_advises_from_the_rule(tree: dict[str, str], tmp_path: Path) -> None:
    """A history audit's text groups by secret and says what to do in the rule's own words."""
    from tests.conftest import git

    root = Path(tree["root"])
    git(root, "init", "-q")
    git(root, "add", ".")
    git(root, "-c", "user.name=A", "-c", "user.email=a@example.com", "commit", "-qm", "leak")
    r = run_cli("history", str(root), "--config", tree["config"])
    assert r.code == 1, r.err
    assert "do: revoke it in Zebrex under Account > API Keys now" in r.out
    assert f"zebrex-api-key: {REMEDIATION}" in r.out
    assert "Binance" not in r.out
