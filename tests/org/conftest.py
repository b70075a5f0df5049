"""Real bare repositories made in the test, an org of them, and the real `cexguard org` CLI."""
from __future__ import annotations

import json
import os
import secrets
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tests.git.conftest import cg, commit, env_line, git, make_repo

pytest.importorskip("distributed")


def bare_from(work: Path, bare: Path) -> Path:
    """A bare repository holding everything `work` has on its branches (pushed, like a server)."""
    make_repo(bare, bare=True)
    git(work, "push", "-q", str(bare), "refs/heads/*:refs/heads/*", "refs/tags/*:refs/tags/*")
    return bare


def add_unreachable(work: Path, bare: Path, files: dict[str, str]) -> None:
    """Push a commit with `files` on a branch, then delete the branch in the bare repository: its
    objects stay in the store, reachable from nothing (a force-push's leftovers)."""
    git(work, "checkout", "-q", "-b", "tmp-leak")
    commit(work, files, msg="oops")
    git(work, "push", "-q", str(bare), "tmp-leak")
    git(work, "checkout", "-q", "main")
    git(work, "branch", "-q", "-D", "tmp-leak")
    git(bare, "update-ref", "-d", "refs/heads/tmp-leak")


def blob_count(repo: Path) -> int:
    out = git(repo, "cat-file", "--batch-all-objects", "--batch-check=%(objecttype)")
    return sum(1 for line in out.splitlines() if line == "blob")


class Org:
    """An org on disk: bare repositories under `root`, a repos file, the keys planted where."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.work = root / "work"
        self.bare = root / "org"
        self.work.mkdir(parents=True)
        self.bare.mkdir()
        self.planted: dict[str, set[str]] = {}  # key -> repository names
        self.lines: list[str] = []

    def repo(self, name: str, commits: list[dict[str, str | None]], *, unreachable: dict[str, str] | None = None,
             url: bool = False) -> Path:
        work = make_repo(self.work / name)
        for files in commits:
            commit(work, files)
        bare = bare_from(work, self.bare / f"{name}.git")
        if unreachable:
            add_unreachable(work, bare, unreachable)
        self.lines.append(f"file://{bare}" if url else str(bare))
        return bare

    def plant(self, key: str, name: str) -> None:
        self.planted.setdefault(key, set()).add(name)

    def repos_file(self) -> Path:
        p = self.root / "repos.txt"
        p.write_text("# the org\n" + "\n".join(self.lines) + "\n")
        return p


def noise(n: int, size: int) -> dict[str, str | None]:
    """`n` files of `size` bytes of text with no key in it (hex: never a 64-char mixed-case key)."""
    return {f"data/{i:04d}.txt": secrets.token_hex(size // 2) for i in range(n)}


def run_org(cwd: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any], str]:
    r = cg(cwd, "org", *args, "--format", "json", "--show-secrets", env=env)
    assert r.code in (0, 1, 4), (r.code, r.err)
    return r.code, json.loads(r.out), r.err


def secrets_by_repos(doc: dict[str, Any]) -> dict[str, set[str]]:
    return {i["secret"]: set(i["repositories"]) for i in doc["incidents"]}


def db(state: Path) -> sqlite3.Connection:
    return sqlite3.connect(state / "state.sqlite")


@pytest.fixture
def org(tmp_path: Path) -> Org:
    return Org(tmp_path)


__all__ = ["Org", "blob_count", "db", "env_line", "noise", "run_org", "secrets_by_repos"]
os.environ.pop("CEXGUARD_GITHUB_API", None)
