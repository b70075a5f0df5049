"""Provenance is typed: a finding says where it came from through FileProvenance or GitProvenance,
and the JSON report keeps the keys users parse (README's history field table)."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from scanner.models import FileProvenance, Finding, GitProvenance, ScanResult, ScanStats, fingerprint_of
from scanner.org.state import finding_from_row, finding_to_row
from scanner.report import render
from tests.conftest import new_key

ROOT = Path(__file__).resolve().parent.parent

MAPPED = GitProvenance(blob="b" * 40, commit="c" * 40, author="Ann <ann@example.com>", date="2024-01-02T03:04:05+00:00",
                       refs=["refs/heads/main", "refs/tags/v1"], present_at_head=False, removed_in="d" * 40,
                       removed_at="2024-02-01T00:00:00+00:00", exposure="2024-01-02T03:04:05+00:00 -> 2024-02-01",
                       exposure_days=29, reachable="refs", commits=3, blobs=2)


def finding(secret: str, provenance: FileProvenance | GitProvenance | None) -> Finding:
    return Finding(rule="binance-api-key", kind="binance_api_key", path="conf/prod.env", line=1, end_line=1, column=9,
                   secret=secret, fingerprint=fingerprint_of(secret), confidence="high", provenance=provenance)


def test_history_json_keys_are_the_readme_table_in_order() -> None:
    d = finding(new_key(), MAPPED).to_dict()
    keys = list(d)
    prov = keys[keys.index("count") + 1:]
    assert prov == ["blob", "commit", "author", "date", "refs", "present_at_head", "first_seen", "removed_in",
                    "removed_at", "exposure", "exposure_days", "reachable", "occurrences"]
    assert d["first_seen"] == d["date"] == "2024-01-02T03:04:05+00:00"
    assert d["refs"] == ["refs/heads/main", "refs/tags/v1"]
    assert d["occurrences"] == {"commits": 3, "blobs": 2}
    # every key the README's history table documents is in the JSON, and nothing undocumented
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("### Full-history audit", 1)[1]
    table = section.split("| field | meaning |", 1)[1].split("\n\n", 1)[0]
    documented = {k for row in table.splitlines()[2:] for k in re.findall(r"`([a-z_]+)`", row.split("|")[1])}
    assert documented - {"path", "line"} == set(prov)


def test_a_blob_not_yet_placed_in_history_shows_only_its_id() -> None:
    assert GitProvenance(blob="b" * 40).to_dict() == {"blob": "b" * 40}
    assert not GitProvenance(blob="b" * 40).mapped and MAPPED.mapped


def test_submodule_and_repository_follow_the_history_keys() -> None:
    d = MAPPED.replace(submodule="vendor/lib", repository="acme/api").to_dict()
    assert list(d)[-2:] == ["submodule", "repository"]
    assert d["submodule"] == "vendor/lib" and d["repository"] == "acme/api"


def test_staged_provenance_json() -> None:
    prov = FileProvenance(staged=True, blob="e" * 40, also_in=["refs/heads/main:.env"])
    assert prov.to_dict() == {"blob": "e" * 40, "source": "index", "also_in": ["refs/heads/main:.env"]}
    assert FileProvenance().to_dict() == {}
    f = finding(new_key(), prov)
    assert f.staged and f.git is None
    assert not finding(new_key(), None).staged


def test_provenance_is_frozen_and_not_part_of_a_findings_identity() -> None:
    with pytest.raises(AttributeError):
        MAPPED.commit = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        MAPPED.replace(comit="x")
    key = new_key()
    a, b = finding(key, MAPPED), finding(key, FileProvenance(staged=True, blob="e" * 40))
    assert a == b and hash(a) == hash(b) and a.fingerprint == b.fingerprint == fingerprint_of(key)
    assert MAPPED.replace(exposure_days=30) != MAPPED


def test_org_state_rows_keep_the_provenance() -> None:
    prov = MAPPED.replace(repository="acme/api")
    back = finding_from_row(finding_to_row(finding(new_key(), prov)))
    assert back.provenance == prov
    # a row written before provenance was typed (the same JSON under "meta") reads back the same way
    row = json.loads(finding_to_row(finding(new_key(), prov)))
    assert row["meta"] == prov.to_dict()


def test_reporters_render_the_typed_fields() -> None:
    key = new_key()
    result = ScanResult(findings=[finding(key, MAPPED)], stats=ScanStats(files_scanned=1))
    text = render(result, "text")
    assert "since 2024-01-02 in cccccccccc" in text and "who Ann <ann@example.com>" in text
    assert "removed in dddddddddd on 2024-02-01 (29 days)" in text
    sarif = json.loads(render(result, "sarif"))
    assert sarif["runs"][0]["results"][0]["properties"]["commit"] == "c" * 40
    staged = ScanResult(findings=[finding(key, FileProvenance(staged=True, blob="e" * 40,
                                                              also_in=["refs/heads/main:conf/prod.env"]))],
                        stats=ScanStats(files_scanned=1))
    text = render(staged, "text")
    assert "[high, staged, never committed]" in text
    assert "    also in: refs/heads/main:conf/prod.env" in text
