"""Each reporter, on its own: what users rely on in every format.

- the secret is redacted unless --show-secrets;
- a finding is titled and its fix told in its rule's own words (a user's rule included), never a
  reporter's own text;
- its provenance (commit, author, refs; a staged key's `also in`) is rendered;
- file names and values cannot break the format (HTML/XML escaping, terminal escapes).
"""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from scanner.models import FileProvenance, Finding, GitProvenance, Rule, ScanResult, ScanStats, fingerprint_of
from scanner.report import WRITERS, render
from tests.conftest import new_key

RULE = Rule(id="acme-trading-key", kind="binance_api_key", type="token", description="Acme Exchange: a trading key",
            remediation="Rotate it in the Acme console (Settings > Keys), then audit last week's orders.",
            title="Acme trading key", revoke_hint="delete it in the Acme console")
COMMIT = "c0ffee" + "1" * 34
HISTORY = GitProvenance(blob="b" * 40, commit=COMMIT, author="Zoë <zoe@example.com>", date="2024-03-04T05:06:07+00:00",
                        refs=["refs/heads/main"], present_at_head=True, exposure="2024-03-04T05:06:07+00:00 -> still present",
                        exposure_days=10, reachable="refs", commits=1, blobs=1)


def finding(secret: str, *, path: str = "deploy/prod.env", provenance: FileProvenance | GitProvenance | None = None
            ) -> Finding:
    return Finding(rule=RULE.id, kind=RULE.kind, path=path, line=2, end_line=2, column=17, secret=secret,
                   fingerprint=fingerprint_of(secret), confidence="high", provenance=provenance)


def result(*fs: Finding) -> ScanResult:
    return ScanResult(findings=list(fs), stats=ScanStats(files_scanned=3), rules=[RULE])


ALL = sorted(WRITERS)


def test_every_format_is_tested_here() -> None:
    assert ALL == ["github", "gitlab", "html", "json", "jsonl", "junit", "sarif", "text"]


@pytest.mark.parametrize("fmt", ALL)
def test_the_secret_is_redacted_unless_asked(fmt: str) -> None:
    key = new_key()
    out = render(result(finding(key, provenance=HISTORY)), fmt)
    assert key not in out and key[4:-4] not in out
    if fmt != "gitlab":  # (gitlab's report has no place for a redacted value)
        assert f"{key[:4]}...{key[-4:]}" in out
    shown = render(result(finding(key, provenance=HISTORY)), fmt, show_secrets=True)
    if fmt == "html":  # a file opened in a browser (and shared): always redacted, as the README says
        assert key not in shown
    else:
        assert key in shown


@pytest.mark.parametrize("fmt", ALL)
def test_title_and_remediation_come_from_the_rule(fmt: str) -> None:
    out = render(result(finding(new_key())), fmt)
    assert "Acme trading key" in out
    if fmt != "html":  # (the HTML report is for history audits; a scan's finding shows its title and fix)
        assert "Rotate it in the Acme console" in out


@pytest.mark.parametrize("fmt", ALL)
def test_git_provenance_is_rendered(fmt: str) -> None:
    out = render(result(finding(new_key(), provenance=HISTORY)), fmt)
    assert COMMIT[:10] in out
    if fmt in ("json", "jsonl"):
        doc = json.loads(out.splitlines()[0]) if fmt == "jsonl" else json.loads(out)["findings"][0]
        assert (doc["commit"], doc["author"], doc["refs"], doc["reachable"]) == (
            COMMIT, "Zoë <zoe@example.com>", ["refs/heads/main"], "refs")
    if fmt in ("text", "github", "junit", "gitlab"):
        assert "Zo" in out and "zoe@example.com" in out


def test_text_staged_key_says_where_else_it_is() -> None:
    key = new_key()
    prov = FileProvenance(staged=True, blob="e" * 40, also_in=["refs/remotes/origin/main:deploy/prod.env"])
    out = render(result(finding(key, provenance=prov)), "text")
    assert "[high, staged, never committed]" in out
    assert "also in: refs/remotes/origin/main:deploy/prod.env" in out
    assert "also delete it in the Acme console" in out  # the rule's revoke_hint, not Binance's


def test_html_escapes_names_and_renders_rule_words() -> None:
    out = render(result(finding(new_key(), path="<script>alert(1)</script>.env", provenance=HISTORY)), "html")
    assert "<script>alert(1)</script>" not in out and "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert "Acme trading key" in out and "Rotate it in the Acme console" in out and "delete it in the Acme console" in out


def test_junit_is_well_formed_with_control_characters_in_a_path() -> None:
    xml = render(result(finding(new_key(), path="a\x01b<&>.env", provenance=HISTORY)), "junit")
    root = ET.fromstring(xml.split("\n", 1)[1])
    case = root.find("./testsuite/testcase")
    assert case is not None and case.get("classname") == "cexguard.acme-trading-key"
    failure = case.find("failure")
    assert failure is not None and "Acme trading key" in (failure.get("message") or "")
    assert f"commit: {COMMIT}" in (failure.text or "")


def test_text_and_github_escape_terminal_controls() -> None:
    path = "evil\x1b[2J\u202e.env"
    for fmt in ("text", "github"):
        out = render(result(finding(new_key(), path=path)), fmt)
        assert "\x1b" not in out and "\u202e" not in out


def test_sarif_rule_and_result_carry_the_rules_words_and_commit() -> None:
    doc = json.loads(render(result(finding(new_key(), provenance=HISTORY)), "sarif"))
    run = doc["runs"][0]
    rule = run["tool"]["driver"]["rules"][0]
    assert rule["shortDescription"]["text"] == "Acme trading key" and rule["help"]["text"] == RULE.remediation
    res = run["results"][0]
    assert res["properties"]["commit"] == COMMIT and res["message"]["text"].startswith("Acme trading key")


def test_gitlab_location_commit_and_solution() -> None:
    doc = json.loads(render(result(finding(new_key(), provenance=HISTORY)), "gitlab"))
    v = doc["vulnerabilities"][0]
    assert v["location"]["commit"] == {"sha": COMMIT, "author": "Zoë <zoe@example.com>",
                                       "date": "2024-03-04T05:06:07+00:00"}
    assert v["solution"].startswith(RULE.remediation) and v["name"] == "Acme trading key"
    no_commit = json.loads(render(result(finding(new_key())), "gitlab"))["vulnerabilities"][0]
    assert no_commit["location"]["commit"] == {"sha": "0000000"}
