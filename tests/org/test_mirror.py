"""The git wrapper's mirror mode: file/https/ssh only, everything else of the hardening kept."""
from __future__ import annotations

from pathlib import Path

import pytest

from scanner.org.mirror import auth_env, ensure_mirror
from scanner.org.repos import spec_for
from scanner.sources import git as g
from scanner.sources.git import GitError
from tests.git.conftest import commit, git, make_repo


def test_mirror_mode_allows_only_the_named_protocols() -> None:
    cmd = g.command("fetch", protocols=("file",))
    assert "protocol.file.allow=always" in cmd and "protocol.ext.allow=never" in cmd
    assert "protocol.https.allow=never" in cmd and "core.sshCommand=false" in cmd
    assert "core.hooksPath=/dev/null" in cmd and "credential.helper=" in cmd and "gc.auto=0" in cmd
    assert g.environment(None, ("file", "ssh"))["GIT_ALLOW_PROTOCOL"] == "file:ssh"
    assert "core.sshCommand=false" not in g.command("fetch", protocols=("ssh",))
    for bad in (("ext",), ("http",), ("git",)):
        with pytest.raises(ValueError):
            g.command("fetch", protocols=bad)
    assert g.environment(None)["GIT_ALLOW_PROTOCOL"] == ""  # scanning: still no transport at all


def test_ext_transport_never_runs_even_in_mirror_mode(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    with pytest.raises(GitError):
        g.run(tmp_path, "clone", "--mirror", "--", f"ext::sh -c touch% {marker}", str(tmp_path / "m.git"),
              protocols=("file", "https", "ssh"), timeout=30)
    assert not marker.exists()


def test_fetch_into_the_cache_runs_no_hook_and_gets_only_what_is_new(tmp_path: Path) -> None:
    src = make_repo(tmp_path / "src")
    commit(src, {"a.txt": "one\n"})
    spec = spec_for(f"file://{src}", base=tmp_path, where="test")
    path, how = ensure_mirror(spec, tmp_path / "cache", timeout=60)
    assert how == "cloned" and (path / "HEAD").is_file()
    marker = tmp_path / "hook-ran"
    hook = path / "hooks" / "reference-transaction"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\n")
    hook.chmod(0o755)
    new = commit(src, {"b.txt": "two\n"})
    path2, how2 = ensure_mirror(spec, tmp_path / "cache", timeout=60)
    assert (path2, how2) == (path, "fetched")
    assert git(path, "rev-parse", "refs/heads/main").strip() == new
    assert not marker.exists()
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [path.name]  # no temporary clone left


def test_a_failed_clone_leaves_no_mirror(tmp_path: Path) -> None:
    spec = spec_for(f"file://{tmp_path / 'absent'}", base=tmp_path, where="test")
    with pytest.raises(GitError):
        ensure_mirror(spec, tmp_path / "cache", timeout=60)
    assert list((tmp_path / "cache").iterdir()) == []


def test_token_goes_in_the_environment_for_its_host_only() -> None:
    spec = spec_for("https://github.com/acme/x.git", base=Path("."), where="t", auth="github")
    env = auth_env(spec, {"GITHUB_TOKEN": "t0k"})
    assert env["GIT_CONFIG_KEY_0"] == "http.https://github.com/.extraHeader"
    assert env["GIT_CONFIG_VALUE_0"].startswith("Authorization: Basic ")
    assert auth_env(spec_for("https://github.com/acme/x.git", base=Path("."), where="t"), {"GITHUB_TOKEN": "t"}) == {}
    assert auth_env(spec_for("ssh://git@github.com/acme/x.git", base=Path("."), where="t", auth="github"),
                    {"GITHUB_TOKEN": "t"}) == {}
