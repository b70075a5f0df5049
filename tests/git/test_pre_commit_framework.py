"""The real pre-commit framework runs our `.pre-commit-hooks.yaml` (installs the package into its own
virtualenv, so it needs the package index; the environment is built once per test session)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.git.conftest import GIT_ENV, commit, env_line, git, git_run, make_repo, write

# the pre-commit framework installs environments: most of the suite's time (.ci/run runs them; -m 'not slow' skips)
pytestmark = pytest.mark.slow

SNAPSHOT = ("scanner", "rules", "pyproject.toml", "README.md", ".pre-commit-hooks.yaml", "LICENSE")


@pytest.fixture(scope="session")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, Path]:
    """This checkout as it is now (uncommitted edits included), as a one-commit repository."""
    if shutil.which("git") is None:  # pragma: no cover
        pytest.skip("git is not installed")
    root = tmp_path_factory.mktemp("hookrepo") / "cexguard"
    root.mkdir()
    for name in SNAPSHOT:
        src = REPO_ROOT / name
        if src.is_dir():
            shutil.copytree(src, root / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif src.is_file():
            shutil.copy2(src, root / name)
    make_repo(root)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "snapshot")
    home = tmp_path_factory.mktemp("pre-commit-home")
    return root, git(root, "rev-parse", "HEAD").strip(), home


def pre_commit(cwd: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, **GIT_ENV, PRE_COMMIT_HOME=str(home), PRE_COMMIT_COLOR="never")
    env.pop("PYTHONPATH", None)  # the hook must run from its own installed environment
    return subprocess.run([sys.executable, "-m", "pre_commit", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=900, check=False)


def test_try_repo_rejects_a_key_and_accepts_a_clean_change(tmp_path: Path, hook_repo: tuple[Path, str, Path],
                                                           keys: list[str]) -> None:
    src, _rev, home = hook_repo
    repo = make_repo(tmp_path / "repo")
    commit(repo, {"README.md": "x\n"})
    write(repo, "settings.env", env_line(keys[0]))
    git(repo, "add", "settings.env")
    p = pre_commit(repo, home, "try-repo", str(src), "cexguard")
    assert p.returncode == 1, p.stdout + p.stderr
    assert "settings.env:1" in p.stdout
    assert keys[0] not in p.stdout + p.stderr

    git(repo, "rm", "-q", "--cached", "settings.env")
    (repo / "settings.env").unlink()
    write(repo, "app.py", "print('ok')\n")
    git(repo, "add", "app.py")
    p = pre_commit(repo, home, "try-repo", str(src), "cexguard")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "Passed" in p.stdout


def test_all_files_scans_every_file_in_full(tmp_path: Path, hook_repo: tuple[Path, str, Path],
                                            keys: list[str]) -> None:
    src, _rev, home = hook_repo
    repo = make_repo(tmp_path / "repo")
    commit(repo, {"old.env": env_line(keys[0]), "clean.txt": "x\n"})  # already committed: nothing staged
    p = pre_commit(repo, home, "try-repo", str(src), "cexguard", "--all-files")
    assert p.returncode == 1, p.stdout + p.stderr
    assert "old.env:1" in p.stdout
    p = pre_commit(repo, home, "try-repo", str(src), "cexguard", "--files", "clean.txt")
    assert p.returncode == 0, p.stdout + p.stderr


def test_installed_framework_hook_blocks_a_real_commit(tmp_path: Path, hook_repo: tuple[Path, str, Path],
                                                       keys: list[str]) -> None:
    src, rev, home = hook_repo
    repo = make_repo(tmp_path / "repo")
    write(repo, ".pre-commit-config.yaml",
          f"repos:\n  - repo: {src}\n    rev: {rev}\n    hooks:\n      - id: cexguard\n")
    git(repo, "add", ".pre-commit-config.yaml")
    p = pre_commit(repo, home, "install")
    assert p.returncode == 0, p.stderr
    env = {"PRE_COMMIT_HOME": str(home), "PYTHONPATH": ""}  # the hook runs from its own environment
    assert git_run(repo, "commit", "-q", "-m", "config", env=env).returncode == 0
    write(repo, "k.env", env_line(keys[0]))
    git(repo, "add", "k.env")
    p = git_run(repo, "commit", "-q", "-m", "leak", env=env)
    assert p.returncode != 0
    assert "k.env:1" in p.stdout + p.stderr
    git(repo, "rm", "-q", "--cached", "k.env")
    write(repo, "ok.txt", "fine\n")
    git(repo, "add", "ok.txt")
    p = git_run(repo, "commit", "-q", "-m", "clean", env=env)
    assert p.returncode == 0, p.stdout + p.stderr


def test_push_hook_checks_the_commits_being_pushed(tmp_path: Path, hook_repo: tuple[Path, str, Path],
                                                    keys: list[str]) -> None:
    src, _rev, home = hook_repo
    repo = make_repo(tmp_path / "repo")
    base = commit(repo, {"README.md": "x\n"})
    commit(repo, {"k.env": env_line(keys[0])})
    tip = commit(repo, {"k.env": None})  # removed again: the push still publishes it
    p = pre_commit(repo, home, "try-repo", str(src), "cexguard-push", "--hook-stage", "pre-push",
                   "--from-ref", base, "--to-ref", tip)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "k.env:1" in p.stdout
    clean = commit(repo, {"README.md": "y\n"})
    p = pre_commit(repo, home, "try-repo", str(src), "cexguard-push", "--hook-stage", "pre-push",
                   "--from-ref", tip, "--to-ref", clean)
    assert p.returncode == 0, p.stdout + p.stderr
