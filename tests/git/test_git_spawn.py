"""`sources.git.run` starts git without the subprocess module (the pre-commit hook's path): same
output, errors and hardening as before, with large input and output at once."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from scanner.sources import git as g
from tests.git.conftest import commit, git, make_repo


def test_large_input_and_output_at_once_and_stderr(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    commit(repo, {"a.txt": "x\n"})
    data = os.urandom(3 << 20)  # more than any pipe holds, both ways
    oid = g.run(repo, "hash-object", "-w", "--stdin", input=data).stdout.decode().strip()
    assert len(oid) == 40 and git(repo, "cat-file", "-s", oid).strip() == str(len(data))
    assert g.run(repo, "cat-file", "blob", oid).stdout == data
    lines = b"".join(f"{oid}\n".encode() for _ in range(4))
    out = g.run(repo, "cat-file", "--batch", input=lines).stdout
    assert out.count(data) == 4  # input written while output is read: no deadlock
    p = g.run(repo, "cat-file", "-t", "0" * 40, check=False)
    assert p.returncode == 128 and p.stderr.startswith(b"fatal: ") and p.stdout == b""
    with pytest.raises(g.GitError, match="git cat-file failed"):
        g.run(repo, "cat-file", "-t", "0" * 40)


def test_runs_in_the_folder_given_with_the_hardened_environment(tmp_path: Path, monkeypatch) -> None:
    repo = make_repo(tmp_path / "r")
    sub = repo / "sub"
    sub.mkdir()
    monkeypatch.setenv("GIT_EXTERNAL_DIFF", "/bin/false")  # dropped (DROP_ENV)
    p = g.run(sub, "rev-parse", "--show-prefix")
    assert p.stdout == b"sub/\n" and p.returncode == 0
    env_out = g.run(repo, "var", "GIT_PAGER").stdout.strip()
    assert env_out == b"cat"
    p = g.run(repo, "config", "--get", "protocol.allow", check=False)
    assert p.stdout.strip() == b"never"  # the -c overrides reach git


def test_errors_are_one_line(tmp_path: Path, monkeypatch) -> None:
    with pytest.raises(g.GitError, match="not a directory"):
        g.run(tmp_path / "absent", "status")
    monkeypatch.setattr(g, "GIT", str(tmp_path / "no-such-git"))
    with pytest.raises(g.GitError, match="not installed"):
        g.run(tmp_path, "status")


def test_the_hook_path_does_not_import_subprocess(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    commit(repo, {"a.txt": "x\n"})
    (repo / "b.py").write_text("print('hi')\n")
    git(repo, "add", "b.py")
    code = ("import sys, runpy; sys.argv = ['cexguard', 'staged', '-q']\n"
            "try:\n    runpy.run_module('scanner', run_name='__main__')\n"
            "except SystemExit as e:\n    code = e.code\n"
            "print('subprocess' in sys.modules, code)\n")
    import subprocess

    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    r = subprocess.run([sys.executable, "-c", code], cwd=repo, env=env, capture_output=True, text=True)
    assert r.stdout.strip().splitlines()[-1] in ("False 0", "False None"), (r.stdout, r.stderr)
