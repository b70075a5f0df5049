"""`cexguard install-hook`: a real git hook that blocks real commits and pushes."""
from __future__ import annotations

import os
from pathlib import Path

from tests.git.conftest import cg, commit, env_line, git, git_run, make_repo, write


def test_hook_blocks_a_commit_with_a_key_and_lets_a_clean_one_through(repo: Path, keys: list[str]) -> None:
    commit(repo, {"README.md": "x\n"})
    r = cg(repo, "install-hook")
    assert r.code == 0, r.err
    hook = repo / ".git" / "hooks" / "pre-commit"
    assert os.access(hook, os.X_OK)
    write(repo, "k.env", env_line(keys[0]))
    git(repo, "add", "k.env")
    p = git_run(repo, "commit", "-q", "-m", "leak")
    assert p.returncode != 0
    assert "k.env:1" in p.stdout + p.stderr
    assert keys[0] not in p.stdout + p.stderr
    git(repo, "rm", "-q", "--cached", "k.env")
    write(repo, "ok.txt", "fine\n")
    git(repo, "add", "ok.txt")
    p = git_run(repo, "commit", "-q", "-m", "clean")
    assert p.returncode == 0, p.stderr
    # installing again over its own hook is fine
    assert cg(repo, "install-hook").code == 0


def test_respects_core_hooks_path(repo: Path) -> None:
    git(repo, "config", "core.hooksPath", ".githooks")
    r = cg(repo, "install-hook")
    assert r.code == 0, r.err
    assert (repo / ".githooks" / "pre-commit").is_file()
    assert not (repo / ".git" / "hooks" / "pre-commit").exists()


def test_refuses_a_foreign_hook_unless_forced(repo: Path) -> None:
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.parent.mkdir(parents=True, exist_ok=True)
    hook.write_text("#!/bin/sh\necho mine\n")
    r = cg(repo, "install-hook")
    assert r.code == 2
    assert len(r.err.strip().splitlines()) == 1 and "--force" in r.err
    assert hook.read_text() == "#!/bin/sh\necho mine\n"
    r = cg(repo, "install-hook", "--force")
    assert r.code == 0
    assert "cexguard" in hook.read_text()
    assert (hook.parent / "pre-commit.bak").read_text() == "#!/bin/sh\necho mine\n"
    r = cg(repo, "install-hook", "--uninstall")
    assert r.code == 0 and not hook.exists()


def test_pre_push_hook_blocks_pushing_a_key(tmp_path: Path, keys: list[str]) -> None:
    remote = make_repo(tmp_path / "remote.git", bare=True)
    repo = make_repo(tmp_path / "repo")
    commit(repo, {"README.md": "x\n"})
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "-q", "origin", "main")
    assert cg(repo, "install-hook", "--hook-type", "pre-push").code == 0
    commit(repo, {"k.env": env_line(keys[0])})
    commit(repo, {"k.env": None})  # removed again: the push would still publish it
    p = git_run(repo, "push", "-q", "origin", "main")
    assert p.returncode != 0
    assert "k.env" in p.stdout + p.stderr
    assert git(remote, "rev-parse", "main") != git(repo, "rev-parse", "main")


def test_not_a_repository(tmp_path: Path) -> None:
    r = cg(tmp_path, "install-hook")
    assert r.code == 2 and r.err.startswith("cexguard: error: not a git repository")
