"""What a user installs: licence, changelog, URLs, dependencies that earn their place, README snippets."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import yaml

from scanner import __version__
from tests.conftest import REPO_ROOT, new_key, run_cli

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]


def test_licence_file_matches_pyproject() -> None:
    assert PYPROJECT["license"] == {"text": "MIT"}
    text = (REPO_ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "Permission is hereby granted, free of charge" in text


def test_changelog_and_project_urls() -> None:
    changelog = (REPO_ROOT / "CHANGELOG.md").read_text()
    assert f"## {__version__}" in changelog and "## Unreleased" in changelog
    assert {"Homepage", "Repository", "Issues", "Changelog"} <= set(PYPROJECT["urls"])


def test_every_declared_dependency_is_imported_somewhere() -> None:
    sources = "\n".join(p.read_text() for p in (REPO_ROOT / "scanner").rglob("*.py"))
    import_name = {"pyyaml": "yaml", "click": "click", "hyperscan": "hyperscan", "tomli": "tomli",
                   "cryptography": "cryptography"}
    for dep in PYPROJECT["dependencies"] + PYPROJECT["optional-dependencies"]["verify"]:
        name = re.split(r"[<>=;\[ ]", dep, maxsplit=1)[0].lower()
        module = import_name.get(name, name)
        assert re.search(rf"^\s*(import|from) {module}\b", sources, flags=re.M), f"{dep} is never imported"
    declared = " ".join(PYPROJECT["dependencies"]).lower()
    assert "gitpython" not in declared and "regex" not in declared
    assert "cryptography" not in declared  # only verify/revoke need it: the extra
    assert any(d.startswith("cryptography") for d in PYPROJECT["optional-dependencies"]["verify"])


def test_private_key_verify_without_cryptography_says_how_to_get_it(tmp_path: Path) -> None:
    fake = tmp_path / "fake" / "cryptography"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('hidden for this test')\n")
    pem = tmp_path / "key.pem"
    pem.write_text("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n")
    r = run_cli("verify", "--api-url", "http://127.0.0.1:9",
                env={"PYTHONPATH": f"{tmp_path / 'fake'}:{REPO_ROOT}", "BINANCE_API_KEY": new_key(),
                     "BINANCE_PRIVATE_KEY_FILE": str(pem)})
    assert r.code == 2, r.err
    assert "pip install 'cexguard[verify]'" in r.err and len(r.err.strip().splitlines()) == 1


def test_readme_pre_commit_snippet_names_real_hooks_and_a_pinnable_rev() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    block = re.search(r"```yaml\n# \.pre-commit-config\.yaml\n(.*?)```", readme, flags=re.S)
    assert block is not None
    config = yaml.safe_load(block.group(1))
    repo = config["repos"][0]
    hooks = {h["id"] for h in yaml.safe_load((REPO_ROOT / ".pre-commit-hooks.yaml").read_text())}
    assert {h["id"] for h in repo["hooks"]} <= hooks
    # rev: the release tag for this version (CHANGELOG: every release is tagged vX.Y.Z) or a full sha
    assert repo["rev"] == f"v{__version__}" or re.fullmatch(r"[0-9a-f]{40}", repo["rev"])
    assert "vX.Y.Z" in (REPO_ROOT / "CHANGELOG.md").read_text()
    assert "git ls-remote" in readme and "pip install \"git+https://" in readme


def test_ci_installs_a_browser_when_it_can() -> None:
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert "apt-get install -y -qq chromium" in ci and "never fail the run" in ci


@pytest.mark.slow
def test_the_wheel_ships_the_rules_and_the_hook_template(tmp_path: Path) -> None:
    """An installed cexguard finds its built-in rules and its git hook script (scanner/hook-tmpl),
    both package data: built offline with the project's own backend and run from the wheel's files."""
    import subprocess
    import zipfile

    pytest.importorskip("hatchling", reason="building the wheel offline needs hatchling (in the `test` extra)")
    out = tmp_path / "dist"
    p = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                        "-q", "-w", str(out), str(REPO_ROOT)], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    wheel = next(out.glob("cexguard-*.whl"))
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        z.extractall(site)
    assert "scanner/hook-tmpl" in names
    assert {f"scanner/_rules/{r.name}" for r in (REPO_ROOT / "rules").glob("*.yaml")} <= names
    code = ("from scanner.commands.install_hook import hook_script; from scanner.resources import builtin_rules_dir; "
            "import scanner; print(scanner.__file__); print(builtin_rules_dir()); print(hook_script('pre-commit'))")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    where, rules, script = r.stdout.split("\n", 2)
    assert where.startswith(str(site)) and rules == str(site / "scanner" / "_rules")
    assert script.startswith("#!/bin/sh\n# cexguard-hook: installed by `cexguard install-hook`\n")
    assert "@" not in script.replace("$@", "") and "\n##" not in script
    assert f"CEXGUARD_PYTHON='{sys.executable}'" in script and "exec cexguard staged\n" in script
