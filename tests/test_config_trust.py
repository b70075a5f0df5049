"""A scanned repository's config and rules cannot switch detection off.

The repository's `.cexguard.toml` (and the rule folders it names) may narrow a scan only visibly and
never lower detection; the user's own config (`--config FILE`, or the user config file) is trusted.
`staged` and `history --range` read the repository's config as HEAD / the range's base has it.
Also: custom patterns must run in linear time (refused otherwise), and config, ignore and rule
files that are symlinks, FIFOs or devices are refused with one line.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scanner.models import fingerprint_of
from tests.conftest import REPO_ROOT, new_key
from tests.git.conftest import GIT_ENV, cg, commit, env_line, git, make_repo, write

FORMATS = ("text", "json", "sarif", "github", "gitlab", "junit")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """An empty user config home (no trusted config unless a test writes one)."""
    home = tmp_path / "xdg"
    home.mkdir()
    return {"XDG_CONFIG_HOME": str(home), "CEXGUARD_CACHE_DIR": str(tmp_path / "cache")}


def weakening_rules(folder: Path, key: str) -> None:
    """A rule file that tries to hide `key`: as a documentation example, and with a copy of the
    built-in pattern demanding an impossible entropy (and claiming to be the default)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "weak.yaml").write_text(
        f"documentation_examples:\n  - {key}\n"
        "rules:\n"
        "  - id: shadow\n    kind: binance_api_key\n    type: token\n    default: true\n"
        "    description: shadow\n    remediation: none\n    pattern: '[A-Za-z0-9]{64}'\n"
        "    boundary: 'A-Za-z0-9'\n    length: 64\n    min_entropy: 6\n    examples: []\n    negative_examples: []\n")


def scan_all_formats(root: Path, env: dict[str, str], *args: str) -> dict[str, tuple[int, str]]:
    out = {}
    for fmt in FORMATS:
        r = cg(root, "scan", ".", "--format", fmt, *args, env=env)
        assert r.code in (0, 1), r.err
        out[fmt] = (r.code, r.out)
    return out


def test_repository_config_cannot_weaken_scan_and_says_so_in_every_format(tmp_path: Path,
                                                                          env: dict[str, str]) -> None:
    key = new_key()
    root = tmp_path / "repo"
    root.mkdir()
    (root / "deploy.env").write_text(env_line(key))
    (root / "fixtures").mkdir()
    (root / "fixtures" / "other.env").write_text(env_line(new_key()))
    weakening_rules(root / "rules", key)
    (root / ".cexguard.toml").write_text('min_entropy = 6\nrules_dirs = ["rules"]\nexclude = ["fixtures/"]\n')
    got = scan_all_formats(root, env)
    for fmt, (code, text) in got.items():
        assert code == 1, fmt
        assert "min_entropy" in text and "ignored" in text, fmt  # the refused weakening is reported
        assert "fixtures/" in text and "excluded" in text, fmt  # the narrowing is listed
        assert "documentation_examples ignored" in text, fmt
        assert "rule shadow ignored" in text, fmt
    doc = json.loads(got["json"][1])
    # found where it is used, and (literally) in the rule file that tried to list it as an example
    assert {(f["path"], f["rule"]) for f in doc["findings"]} == {("deploy.env", "binance-api-key"),
                                                                ("rules/weak.yaml", "binance-api-key")}
    assert not any(f.get("example") for f in doc["findings"])
    assert doc["stats"]["skipped"]["excluded"] == 1 and doc["stats"]["excluded_paths"] == ["fixtures/"]
    sarif = json.loads(got["sarif"][1])
    notes = sarif["runs"][0]["invocations"][0]["toolConfigurationNotifications"]
    assert any("min_entropy" in n["message"]["text"] for n in notes)
    gl = json.loads(got["gitlab"][1])
    assert any("excluded" in m["value"] for m in gl["scan"]["messages"])
    assert "::warning title=cexguard config::" in got["github"][1]


def test_users_own_config_is_trusted(tmp_path: Path, env: dict[str, str]) -> None:
    """--config FILE and the user config file are the user's choice: they may lower detection."""
    key = new_key()
    root = tmp_path / "repo"
    root.mkdir()
    (root / "deploy.env").write_text(env_line(key))
    mine = tmp_path / "mine.toml"
    mine.write_text("min_entropy = 6\n")
    assert cg(root, "scan", ".", "--config", str(mine), env=env).code == 0
    user = Path(env["XDG_CONFIG_HOME"]) / "cexguard" / "config.toml"
    user.parent.mkdir(parents=True)
    user.write_text("min_entropy = 6\n")
    assert cg(root, "scan", ".", env=env).code == 0
    # a repository may make the scan stricter than the user config, never looser
    (root / ".cexguard.toml").write_text("min_entropy = 3\n")
    assert cg(root, "scan", ".", env=env).code == 1


def test_repository_rules_dirs_may_not_point_outside(tmp_path: Path, env: dict[str, str]) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    (tmp_path / "outside").mkdir()
    (root / ".cexguard.toml").write_text('rules_dirs = ["../outside"]\n')
    r = cg(root, "scan", ".", env=env)
    assert r.code == 2 and "inside the repository" in r.err and len(r.err.strip().splitlines()) == 1


def test_staged_reads_the_config_at_head_not_the_one_the_commit_adds(tmp_path: Path, env: dict[str, str]) -> None:
    repo = make_repo(tmp_path / "repo")
    commit(repo, {"README.md": "hi\n"})
    key = new_key()
    weakening_rules(repo / "rules", key)
    write(repo, ".cexguard.toml", 'min_entropy = 6\nexclude = ["*.env"]\nrules_dirs = ["rules"]\n')
    write(repo, "deploy.env", env_line(key))
    git(repo, "add", ".")
    r = cg(repo, "staged", "--format", "json", env=env)
    assert r.code == 1, r.err  # blocked: the config this commit adds does not apply to it
    assert key[:4] in r.out
    # once committed (HEAD has it), its narrowing applies, and says so
    git(repo, "commit", "-qm", "config")
    write(repo, "more.env", env_line(new_key()))
    git(repo, "add", "more.env")
    r = cg(repo, "staged", "--format", "json", env=env)
    doc = json.loads(r.out)
    assert r.code == 0 and doc["stats"]["excluded_paths"] == ["more.env"]
    assert any("excludes *.env" in n for n in doc["stats"]["config_notices"])
    assert any("min_entropy = 6 ignored" in n for n in doc["stats"]["config_notices"])


def test_range_reads_the_config_of_its_base(tmp_path: Path, env: dict[str, str]) -> None:
    """A pull request that adds a key together with a weakening config (and an ignore file
    listing the key's fingerprint) still fails."""
    repo = make_repo(tmp_path / "repo")
    base = commit(repo, {"README.md": "hi\n"})
    key = new_key()
    weakening_rules(repo / "rules", key)
    git(repo, "add", "rules")
    fp = fingerprint_of(key)
    commit(repo, {"deploy.env": env_line(key), ".cexguardignore": f"{fp}\n",
                  ".cexguard.toml": 'min_entropy = 6\nmax_file_size = 1\nrules_dirs = ["rules"]\n'})
    for fmt in FORMATS:
        r = cg(repo, "history", "--range", f"{base}..HEAD", "--format", fmt, env=env)
        assert r.code == 1, (fmt, r.err)
    # the base's own ignore file is honoured (a fingerprint the project already accepted)
    repo2 = make_repo(tmp_path / "repo2")
    base2 = commit(repo2, {".cexguardignore": f"{fp}\n"})
    commit(repo2, {"deploy.env": env_line(key)})
    r = cg(repo2, "history", "--range", f"{base2}..HEAD", "--format", "json", env=env)
    assert r.code == 0 and json.loads(r.out)["stats"]["suppressed"] == {"ignore_file": 1}


@pytest.mark.parametrize("field", ["pattern", "name_hints", "keywords"])
def test_backtracking_custom_pattern_is_refused_not_a_hang(tmp_path: Path, env: dict[str, str], field: str) -> None:
    root = tmp_path / "repo"
    (root / "rules").mkdir(parents=True)
    value = "'(a+)+b'" if field == "pattern" else "['(a|aa)*c']"
    pattern = value if field == "pattern" else "'acme_[a-z]{8}'"
    extra = "" if field == "pattern" else f"    {field}: {value}\n"
    (root / "rules" / "evil.yaml").write_text(
        "rules:\n  - id: evil\n    kind: evil\n    type: token\n    description: d\n    remediation: r\n"
        f"    pattern: {pattern}\n{extra}    examples: []\n    negative_examples: []\n")
    (root / ".cexguard.toml").write_text('rules_dirs = ["rules"]\n')
    (root / "big.txt").write_text("a" * 200_000 + "\n")
    e = dict(os.environ, **GIT_ENV, **env, PYTHONPATH=str(REPO_ROOT))
    p = subprocess.run([sys.executable, "-m", "scanner", "scan", "."], cwd=root, env=e, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 2, p.stderr
    assert "refused" in p.stderr and "linear time" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and "Traceback" not in p.stderr


def test_safe_custom_pattern_runs_on_hostile_input(tmp_path: Path, env: dict[str, str]) -> None:
    """A bounded pattern is accepted and finishes on a long run of what it almost matches."""
    root = tmp_path / "repo"
    (root / "rules").mkdir(parents=True)
    (root / "rules" / "ok.yaml").write_text(
        "rules:\n  - id: acme\n    kind: acme\n    type: token\n    description: d\n    remediation: r\n"
        "    pattern: 'acme_[a-z]{1,200}_[0-9]{4}'\n    boundary: 'a-z0-9_'\n    distinct: true\n"
        "    examples: []\n"
        "    negative_examples: []\n")
    (root / ".cexguard.toml").write_text('rules_dirs = ["rules"]\n')
    (root / "big.txt").write_text(("acme_" + "a" * 150) * 5000 + "\nacme_qzxkvwpr_8264\n")
    e = dict(os.environ, **GIT_ENV, **env, PYTHONPATH=str(REPO_ROOT))
    p = subprocess.run([sys.executable, "-m", "scanner", "scan", ".", "--format", "json"], cwd=root, env=e,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 1, p.stderr
    assert [f["rule"] for f in json.loads(p.stdout)["findings"]] == ["acme"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize("name", [".cexguardignore", ".cexguard.toml", "rules/x.yaml"])
@pytest.mark.parametrize("kind", ["fifo", "symlink-to-dev-zero", "symlink-outside"])
def test_special_config_ignore_and_rule_files_are_refused(tmp_path: Path, env: dict[str, str], name: str,
                                                          kind: str) -> None:
    root = tmp_path / "repo"
    (root / "rules").mkdir(parents=True)
    (root / "deploy.env").write_text(env_line(new_key()))
    if name != ".cexguard.toml":
        (root / ".cexguard.toml").write_text('rules_dirs = ["rules"]\n')
    target = root / name
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "symlink-to-dev-zero":
        target.symlink_to("/dev/zero")
    else:
        (tmp_path / "secret.toml").write_text("min_entropy = 6\n")
        target.symlink_to(tmp_path / "secret.toml")
    e = dict(os.environ, **GIT_ENV, **env, PYTHONPATH=str(REPO_ROOT))
    p = subprocess.run([sys.executable, "-m", "scanner", "scan", "."], cwd=root, env=e, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "refusing" in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr


def test_committed_symlink_config_is_refused_by_staged_and_range(tmp_path: Path, env: dict[str, str]) -> None:
    repo = make_repo(tmp_path / "repo")
    (repo / ".cexguard.toml").symlink_to("/dev/zero")
    git(repo, "add", ".cexguard.toml")
    base = commit(repo, {"README.md": "hi\n"})
    commit(repo, {"deploy.env": env_line(new_key())})
    for args in (("staged",), ("history", "--range", f"{base}..HEAD")):
        if args[0] == "staged":
            write(repo, "more.env", env_line(new_key()))
            git(repo, "add", "more.env")
        r = cg(repo, *args, env=env)
        assert r.code == 2 and "refusing .cexguard.toml" in r.err and "symlink" in r.err, r.err
        assert len(r.err.strip().splitlines()) == 1
