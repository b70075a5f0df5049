"""Shared test helpers. Every key is generated at test time: the project must pass its own scan."""
from __future__ import annotations

import os
import secrets
import string
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ALNUM = string.ascii_letters + string.digits
REPO_ROOT = Path(__file__).resolve().parent.parent


def new_key() -> str:
    """A random Binance-shaped key: 64 of [A-Za-z0-9] with upper, lower and digit."""
    while True:
        s = "".join(secrets.choice(ALNUM) for _ in range(64))
        if any(c.isupper() for c in s) and any(c.islower() for c in s) and any(c.isdigit() for c in s):
            return s


@dataclass
class Run:
    code: int
    out: str
    err: str


def run_cli(*args: str, cwd: str | Path | None = None, env: dict[str, str] | None = None,
            stdin: str | None = None) -> Run:
    """Run the real `cexguard` command line in a subprocess (real exit codes, real output)."""
    e = dict(os.environ)
    e["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + e.get("PYTHONPATH", "")
    e.pop("CEXGUARD_API_URL", None)
    e["XDG_CONFIG_HOME"] = str(REPO_ROOT / "tests" / "no-user-config")  # (absent) the tester's own cexguard config stays out
    if env:
        e.update(env)
    p = subprocess.run([sys.executable, "-m", "scanner", *args], cwd=cwd, env=e, capture_output=True, text=True,
                       input=stdin, timeout=600)
    return Run(p.returncode, p.stdout, p.stderr)


@pytest.fixture(scope="module", params=["regex", "hyperscan"])
def engine(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """The real engine under both stage-one prefilters (their findings must be identical)."""
    import importlib.util
    import platform

    from scanner.config import Config
    from scanner.rules import build_engine

    if (request.param == "hyperscan" and importlib.util.find_spec("hyperscan") is None
            and platform.machine().lower() not in ("x86_64", "amd64", "arm64", "aarch64")):
        pytest.skip(f"hyperscan is not a dependency on {platform.machine()}")
    return build_engine(Config(), prefilter=request.param)


@pytest.fixture
def key() -> str:
    return new_key()


@pytest.fixture
def cli():  # type: ignore[no-untyped-def]
    return run_cli


def git(repo: Path, *args: str) -> str:
    env = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull,
               GIT_AUTHOR_NAME="T", GIT_AUTHOR_EMAIL="t@example.com",
               GIT_COMMITTER_NAME="T", GIT_COMMITTER_EMAIL="t@example.com")
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "commit.gpgsign", "false")
    return repo
