"""The composite GitHub Action (action.yml): its step script run as the runner would run it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT
from tests.git.conftest import GIT_ENV, commit, env_line

SCRIPT = REPO_ROOT / "action" / "run.sh"


def test_action_yml_is_a_composite_action_with_the_documented_inputs() -> None:
    doc = yaml.safe_load((REPO_ROOT / "action.yml").read_text())
    assert doc["runs"]["using"] == "composite"
    assert {"mode", "range", "format", "fail-on", "sarif"} <= set(doc["inputs"])
    steps = doc["runs"]["steps"]
    run = next(s for s in steps if s.get("id") == "run")
    assert "action/run.sh" in run["run"] and "${{" not in run["run"]  # inputs only through env
    assert any(s.get("uses", "").startswith("github/codeql-action/upload-sarif@") for s in steps)
    install = next(s for s in steps if "pip install" in s.get("run", ""))
    assert "GITHUB_ACTION_PATH" in install["run"]  # installs itself, no PyPI needed


@pytest.fixture
def runner(tmp_path: Path):  # type: ignore[no-untyped-def]
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shim = bindir / "cexguard"
    shim.write_text(f"#!/bin/sh\nexec '{sys.executable}' -m scanner \"$@\"\n")
    shim.chmod(0o755)

    def run(repo: Path, **inputs: str) -> tuple[int, str, str, dict[str, str]]:
        out = repo.parent / "github_output"
        out.write_text("")
        env = dict(os.environ, **GIT_ENV, PYTHONPATH=str(REPO_ROOT), XDG_CONFIG_HOME=str(repo.parent / "nocfg"),
                   PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}", GITHUB_OUTPUT=str(out))
        for k, v in inputs.items():
            env[k] = v
        p = subprocess.run(["bash", str(SCRIPT)], cwd=repo, env=env, capture_output=True, text=True, timeout=300)
        outputs = dict(line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)
        return p.returncode, p.stdout, p.stderr, outputs

    return run


def test_push_event_reports_what_the_push_adds(repo: Path, keys: list[str], runner) -> None:  # type: ignore[no-untyped-def]
    before = commit(repo, {"old.env": env_line(keys[0])})  # already there before the push: not this push's
    after = commit(repo, {"app.env": env_line(keys[1])})
    code, out, err, outputs = runner(repo, CEXGUARD_EVENT="push", CEXGUARD_BEFORE=before, CEXGUARD_SHA=after)
    assert code == 1, err
    assert out.startswith("::error file=app.env,line=1")
    assert "old.env" not in out
    assert outputs == {"findings": "1", "exit-code": "1"}
    assert keys[1] not in out + err


def test_pull_request_fail_on_never_and_sarif(repo: Path, keys: list[str], runner) -> None:  # type: ignore[no-untyped-def]
    jsonschema = pytest.importorskip("jsonschema")
    base = commit(repo, {"README.md": "x\n"})
    head = commit(repo, {"a.env": env_line(keys[0])})
    code, out, err, outputs = runner(repo, CEXGUARD_EVENT="pull_request", CEXGUARD_PR_BASE=base,
                                     CEXGUARD_PR_HEAD=head, INPUT_FAIL_ON="never", INPUT_SARIF="true")
    assert code == 0, err
    assert "::error file=a.env" in out
    assert outputs["findings"] == "1" and outputs["sarif-file"] == "cexguard.sarif"
    doc = json.loads((repo / "cexguard.sarif").read_text())
    schema = json.loads((REPO_ROOT / "fixtures" / "schemas" / "sarif-schema-2.1.0.json").read_text())
    jsonschema.validate(doc, schema)
    assert len(doc["runs"][0]["results"]) == 1


def test_new_branch_push_with_a_zero_before_audits_the_branch(repo: Path, keys: list[str], runner) -> None:  # type: ignore[no-untyped-def]
    commit(repo, {"a.env": env_line(keys[0])})
    head = commit(repo, {"README.md": "x\n"})
    code, out, _err, outputs = runner(repo, CEXGUARD_EVENT="push", CEXGUARD_BEFORE="0" * 40, CEXGUARD_SHA=head,
                                      INPUT_FORMAT="text")
    assert code == 1 and "a.env:1" in out and outputs["findings"] == "1"


def test_history_and_scan_modes_and_clean(repo: Path, keys: list[str], runner) -> None:  # type: ignore[no-untyped-def]
    commit(repo, {"a.env": env_line(keys[0])})
    commit(repo, {"a.env": None})
    code, out, _err, outputs = runner(repo, INPUT_MODE="history", INPUT_FORMAT="json")
    assert code == 1 and json.loads(out)["findings"][0]["path"] == "a.env" and outputs["findings"] == "1"
    code, _out, _err, outputs = runner(repo, INPUT_MODE="scan")
    assert code == 0 and outputs["findings"] == "0"


@pytest.mark.parametrize("inputs,said", [
    ({"INPUT_MODE": "everything"}, "unknown mode"),
    ({"INPUT_FAIL_ON": "sometimes", "INPUT_RANGE": "HEAD~1..HEAD"}, "unknown fail-on"),
    ({}, "needs a pull_request or push event"),
])
def test_bad_inputs_fail_with_one_annotation(repo: Path, runner, inputs: dict[str, str], said: str) -> None:  # type: ignore[no-untyped-def]
    commit(repo, {"README.md": "x\n"})
    env = {"CEXGUARD_EVENT": "", "CEXGUARD_BEFORE": "", "CEXGUARD_PR_BASE": "", **inputs}
    code, out, _err, outputs = runner(repo, **env)
    assert code == 2 and out.startswith("::error title=cexguard::") and said in out
    assert outputs["exit-code"] == "2"
