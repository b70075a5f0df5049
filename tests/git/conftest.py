"""Real git in temporary repositories, and the real CLI, with the user's git config kept out."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Run, new_key, run_cli

GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_AUTHOR_NAME": "Ann Author",
    "GIT_AUTHOR_EMAIL": "ann@example.com",
    "GIT_COMMITTER_NAME": "Ann Author",
    "GIT_COMMITTER_EMAIL": "ann@example.com",
    "GIT_TERMINAL_PROMPT": "0",
}
for _k in ("GIT_DIR", "GIT_INDEX_FILE", "GIT_WORK_TREE", "PRE_COMMIT_FROM_REF", "PRE_COMMIT_TO_REF",
           "PRE_COMMIT_LOCAL_BRANCH", "PRE_COMMIT_REMOTE_NAME"):
    os.environ.pop(_k, None)


def git_run(repo: Path, *args: str, input: str | None = None, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
    e = dict(os.environ, **GIT_ENV)
    if env:
        e.update(env)
    return subprocess.run(["git", *args], cwd=repo, env=e, capture_output=True, text=True, input=input, check=False)


def git(repo: Path, *args: str, input: str | None = None, env: dict[str, str] | None = None,
        check: bool = True) -> str:
    p = git_run(repo, *args, input=input, env=env)
    if check and p.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {p.stderr}")
    return p.stdout


def cg(cwd: Path, *args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> Run:
    """The real `cexguard` CLI in a subprocess, with the same isolated git config."""
    e = dict(GIT_ENV)
    if env:
        e.update(env)
    return run_cli(*args, cwd=cwd, env=e, stdin=stdin)


def cg_json(cwd: Path, *args: str, env: dict[str, str] | None = None, stdin: str | None = None
            ) -> tuple[int, dict[str, Any], str]:
    r = cg(cwd, *args, "--format", "json", env=env, stdin=stdin)
    assert r.code in (0, 1), (r.code, r.err)
    return r.code, json.loads(r.out), r.err


def write(repo: Path, path: str, text: str) -> None:
    p = repo / path
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)


def commit(repo: Path, files: dict[str, str | None], msg: str = "change", date: str | None = None) -> str:
    """Write (or, with None, delete) files, stage everything named, commit; return the commit id."""
    for path, text in files.items():
        if text is None:
            git(repo, "rm", "-q", "--", path)
        else:
            write(repo, path, text)
            git(repo, "add", "--", path)
    env = {"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date} if date else None
    git(repo, "commit", "-q", "--allow-empty", "-m", msg, env=env)
    return git(repo, "rev-parse", "HEAD").strip()


def env_line(value: str, name: str = "BINANCE_API_KEY") -> str:
    return f"{name}={value}\n"


def make_repo(path: Path, *, bare: bool = False) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main", *(["--bare"] if bare else []))
    if not bare:
        git(path, "config", "commit.gpgsign", "false")
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


@pytest.fixture
def keys() -> list[str]:
    return [new_key() for _ in range(4)]
