"""SARIF against the final OASIS 2.1.0 schema, JUnit against the Jenkins (Ant/Surefire) JUnit XSD."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.git.conftest import cg, commit, env_line
from tests.git.test_audit_reports import audit_repo

SCHEMAS = REPO_ROOT / "fixtures" / "schemas"


def test_vendored_sarif_schema_is_the_final_standard() -> None:
    schema = json.loads((SCHEMAS / "sarif-schema-2.1.0.json").read_text())
    assert schema["title"] == "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema"  # not rtm.N
    assert schema["id"].startswith("https://docs.oasis-open.org/sarif/sarif/v2.1.0/")


@pytest.mark.parametrize("command", [("history",), ("history", "--range", "HEAD~2..HEAD"), ("scan", "-j", "1", ".")])
def test_sarif_validates_against_the_final_schema(repo: Path, keys: list[str], command: tuple[str, ...]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    audit_repo(repo, keys)
    (repo / ".cexguard.toml").write_text('exclude = ["nothing/"]\n')  # a config notice in the report
    r = cg(repo, *command, "--format", "sarif")
    assert r.code == 1, r.err
    doc = json.loads(r.out)
    assert doc["$schema"] == "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
    jsonschema.validate(doc, json.loads((SCHEMAS / "sarif-schema-2.1.0.json").read_text()))
    assert doc["runs"][0]["results"]


@pytest.mark.parametrize("leak", [True, False])
def test_junit_validates_against_the_jenkins_xsd(repo: Path, keys: list[str], leak: bool) -> None:
    xmlschema = pytest.importorskip("xmlschema")
    if leak:
        audit_repo(repo, keys)
    else:
        commit(repo, {"README.md": "x\n"})
    (repo / ".cexguard.toml").write_text('exclude = ["vendor/"]\n')
    r = cg(repo, "history", "--format", "junit")
    assert r.code == (1 if leak else 0), r.err
    schema = xmlschema.XMLSchema(str(SCHEMAS / "junit-10.xsd"))
    schema.validate(r.out)  # raises with the first violation
    root = ET.fromstring(r.out)
    cases = root.findall(".//testcase")
    assert all("file" not in c.attrib and "line" not in c.attrib for c in cases)
    if leak:
        assert len(cases) == 5
        assert ".env:1" in cases[0].attrib["name"] and ".env:1" in cases[0].find("failure").attrib["message"]
    assert keys[0] not in r.out


def test_staged_junit_is_valid_too(repo: Path, keys: list[str]) -> None:
    xmlschema = pytest.importorskip("xmlschema")
    commit(repo, {"README.md": "x\n"})
    (repo / "k.env").write_text(env_line(keys[0]))
    from tests.git.conftest import git

    git(repo, "add", "k.env")
    r = cg(repo, "staged", "--format", "junit")
    assert r.code == 1
    xmlschema.XMLSchema(str(SCHEMAS / "junit-10.xsd")).validate(r.out)
