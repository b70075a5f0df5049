"""The CI formats: GitHub annotations, GitLab secret-detection report, JUnit XML."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from scanner.models import Finding, GitProvenance, ScanResult, ScanStats, fingerprint_of
from scanner.report import render
from scanner.rules import load_rules
from tests.conftest import new_key


def finding(secret: str, path: str = "src/app,v1:main.py", provenance: GitProvenance | None = None) -> Finding:
    return Finding(rule="binance-api-key", kind="binance_api_key", path=path, line=3, end_line=3, column=9,
                   secret=secret, fingerprint=fingerprint_of(secret), confidence="high", provenance=provenance)


HISTORY = GitProvenance(commit="a" * 40, author="Ann <ann@example.com>", date="2024-01-02T03:04:05+00:00",
                        exposure="2024-01-02T03:04:05+00:00 -> still present", present_at_head=True,
                        refs=["refs/heads/main"], reachable="refs")


def result(*fs: Finding) -> ScanResult:
    return ScanResult(findings=list(fs), stats=ScanStats(files_scanned=7), rules=load_rules())


def test_github_annotations_are_escaped_and_redacted() -> None:
    key = new_key()
    out = render(result(finding(key, provenance=HISTORY)), "github")
    first = out.splitlines()[0]
    assert first.startswith("::error file=src/app%2Cv1%3Amain.py,line=3,col=9,title=cexguard%3A Binance API key::")
    assert key not in out and f"{key[:4]}...{key[-4:]}" in out
    assert "first committed in aaaaaaaaaaaa by Ann <ann@example.com>" in first
    assert out.splitlines()[-1] == "::notice title=cexguard::cexguard: 1 finding(s) in 7 file(s) scanned"
    assert key in render(result(finding(key)), "github", show_secrets=True)


def test_github_multiline_values_never_break_the_command() -> None:
    f = finding(new_key(), path="a\nb.txt").replace(end_line=5)
    line = render(result(f), "github").splitlines()[0]
    assert "file=a%0Ab.txt,line=3,endLine=5" in line


def test_gitlab_report_shape() -> None:
    key = new_key()
    doc = json.loads(render(result(finding(key, provenance=HISTORY), finding(key, path="b.env")), "gitlab"))
    assert doc["version"].startswith("15.")
    assert doc["scan"]["type"] == "secret_detection" and doc["scan"]["status"] == "success"
    for part in ("analyzer", "scanner"):
        assert {"id", "name", "version", "vendor"} <= set(doc["scan"][part])
    assert len(doc["scan"]["start_time"]) == 19  # YYYY-MM-DDTHH:MM:SS, as the schema wants
    v1, v2 = doc["vulnerabilities"]
    assert v1["id"] != v2["id"]
    assert v1["location"] == {"file": "src/app,v1:main.py", "start_line": 3, "end_line": 3,
                              "commit": {"sha": "a" * 40, "author": "Ann <ann@example.com>",
                                         "date": "2024-01-02T03:04:05+00:00"}}
    assert v2["location"]["commit"] == {"sha": "0000000"}
    assert v1["severity"] == "Critical"
    assert v1["identifiers"][0]["value"] == "binance-api-key"
    assert key not in json.dumps(doc)
    shown = json.loads(render(result(finding(key)), "gitlab", show_secrets=True))
    assert shown["vulnerabilities"][0]["raw_source_code_extract"] == key
    again = json.loads(render(result(finding(key, provenance=HISTORY)), "gitlab"))
    assert again["vulnerabilities"][0]["id"] == v1["id"]  # stable across runs


@pytest.mark.parametrize("n", [0, 2])
def test_junit_one_testcase_per_finding_and_a_passing_one_when_clean(n: int) -> None:
    keys = [new_key() for _ in range(n)]
    xml = render(result(*(finding(k, path=f"f{i}\x01.env", provenance=HISTORY) for i, k in enumerate(keys))), "junit")
    root = ET.fromstring(xml)
    suite = root.find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    if n == 0:
        assert len(cases) == 1 and cases[0].find("failure") is None
        assert suite.get("failures") == "0" and suite.get("tests") == "1"
    else:
        assert len(cases) == n and all(c.find("failure") is not None for c in cases)
        assert suite.get("failures") == str(n)
        assert "commit: " + "a" * 40 in (cases[0].find("failure").text or "")  # type: ignore[union-attr]
    for k in keys:
        assert k not in xml
