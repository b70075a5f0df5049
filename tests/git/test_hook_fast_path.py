"""The pre-commit hook's fast path: `cexguard staged` without click, yaml, dataclasses, typing or the
engine for a clean commit, with the same answers as the full path; and install-hook's script."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from typing import Any

import pytest

from tests.conftest import REPO_ROOT
from tests.git.conftest import GIT_ENV, cg, commit, env_line, git, git_run, write

HEAVY = ("click", "yaml", "dataclasses", "typing", "inspect", "scanner.engine", "scanner.rules", "hashlib", "json",
         "tomllib", "runpy")


def imported(repo: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, set[str], str]:
    """Run `cexguard ARGS` as the console script does, and list every module it imported."""
    e = dict(os.environ, **GIT_ENV, PYTHONPATH=str(REPO_ROOT), XDG_CONFIG_HOME=str(repo / "no-config"))
    e.update(env or {})
    p = subprocess.run([sys.executable, "-X", "importtime", "-c", "import sys; from scanner.cli import main; main()",
                        *args], cwd=repo, env=e, capture_output=True, text=True, timeout=120)
    mods = {line.split("|")[-1].strip() for line in p.stderr.splitlines() if line.startswith("import time:")}
    err = "\n".join(line for line in p.stderr.splitlines() if not line.startswith("import time:"))
    return p.returncode, mods, err


def test_a_clean_commit_imports_nothing_heavy(repo: Path, tmp_path: Path) -> None:
    commit(repo, {"README.md": "x\n", "pyproject.toml": "[project]\nname = 'x'\n"})
    write(repo, "app.py", "def f():\n    return 'hello world'\n")
    git(repo, "add", "app.py")
    cache = {"CEXGUARD_CACHE_DIR": str(tmp_path / "cache")}
    code, mods, err = imported(repo, "staged", env=cache)  # builds the gate cache (imports the engine once)
    assert code == 0, err
    assert "scanner.engine" in mods
    assert list((tmp_path / "cache").glob("gates-*"))
    code, mods, err = imported(repo, "staged", env=cache)
    assert code == 0, err
    assert not mods & set(HEAVY), sorted(mods & set(HEAVY))
    # the same options as the click command, still without click
    code, mods, err = imported(repo, "staged", "-q", "--format", "json", "--min-confidence=high", "--exit-code", "3",
                               "--color", "never", env=cache)
    assert code == 0 and "click" not in mods, err


def test_fast_path_and_full_path_agree(repo: Path, keys: list[str], tmp_path: Path) -> None:
    commit(repo, {"README.md": "x\n"})
    write(repo, "k.env", env_line(keys[0]))
    write(repo, "clean.py", "x = 1\n")
    git(repo, "add", "k.env", "clean.py")
    cache = {"CEXGUARD_CACHE_DIR": str(tmp_path / "cache")}
    code, mods, err = imported(repo, "staged", "--format", "json", env=cache)
    assert code == 1 and "click" not in mods and "scanner.engine" in mods  # a gate matched: the engine ran
    # a damaged cache is rebuilt, never trusted
    for f in (tmp_path / "cache").glob("gates-*"):
        f.write_bytes(b"\x00garbage")
    fast = cg(repo, "staged", "--format", "json", env=cache)
    full = cg(repo, "staged", "--format", "json", "--api-url", "http://127.0.0.1:9", env=cache)  # click's path
    assert fast.code == full.code == 1
    assert fast.out == full.out
    assert keys[0] not in fast.out


def test_help_and_bad_options_go_through_click(repo: Path) -> None:
    r = cg(repo, "staged", "--help")
    assert r.code == 0 and "Scan what the next commit adds" in r.out and "--exit-zero" in r.out
    r = cg(repo, "staged", "--format", "xml")
    assert r.code == 2 and "'xml' is not one of" in r.err
    r = cg(repo, "staged", "--no-such-option")
    assert r.code == 2 and "No such option" in r.err


def test_install_hook_script_runs_one_python_and_no_probe(repo: Path, keys: list[str]) -> None:
    commit(repo, {"README.md": "x\n"})
    assert cg(repo, "install-hook").code == 0
    script = (repo / ".git" / "hooks" / "pre-commit").read_text()
    assert "import scanner.cli' >/dev/null" not in script  # the old probe: a second Python per commit
    assert script.count("exec ") == 2  # the hook's Python, or cexguard on PATH: one process either way
    write(repo, "k.env", env_line(keys[0]))
    git(repo, "add", "k.env")
    env = {"PYTHONPATH": str(REPO_ROOT)}
    p = git_run(repo, "commit", "-q", "-m", "leak", env=env)
    assert p.returncode == 1 and "k.env:1" in p.stdout + p.stderr


def test_install_hook_never_imports_a_scanner_package_from_the_repository(repo: Path, keys: list[str]) -> None:
    """`python -c` puts the current folder first on sys.path: a repository shipping its own
    `scanner/` must not replace cexguard in its own pre-commit hook."""
    commit(repo, {"README.md": "x\n"})
    assert cg(repo, "install-hook").code == 0
    write(repo, "scanner/__init__.py", "")
    write(repo, "scanner/cli.py", "import sys\ndef main(argv=None):\n    sys.exit(0)\n")
    write(repo, "k.env", env_line(keys[0]))
    git(repo, "add", "k.env")
    p = git_run(repo, "commit", "-q", "-m", "leak", env={"PYTHONPATH": str(REPO_ROOT)})
    assert p.returncode == 1, p.stderr
    assert "k.env:1" in p.stdout + p.stderr


@pytest.mark.parametrize("on_path", [True, False])
def test_install_hook_falls_back_when_its_python_lost_cexguard(repo: Path, tmp_path: Path, on_path: bool) -> None:
    commit(repo, {"README.md": "x\n"})
    assert cg(repo, "install-hook").code == 0
    hook = repo / ".git" / "hooks" / "pre-commit"
    # the hook's Python, as if its virtual environment had been rebuilt without cexguard
    # (-I -S: no PYTHONPATH, no site-packages)
    lost = tmp_path / "python-without-cexguard"
    lost.write_text(f"#!/bin/sh\nexec '{sys.executable}' -I -S \"$@\"\n")
    lost.chmod(0o755)
    text = hook.read_text()
    start = text.index("CEXGUARD_PYTHON='")
    end = text.index("\n", start)
    hook.write_text(text[:start] + f"CEXGUARD_PYTHON='{lost}'" + text[end:])
    bindir = tmp_path / "bin"
    bindir.mkdir()
    if on_path:
        (bindir / "cexguard").write_text("#!/bin/sh\necho \"fallback $*\" >&2\nexit 0\n")
        (bindir / "cexguard").chmod(0o755)
    write(repo, "ok.txt", "fine\n")
    git(repo, "add", "ok.txt")
    p = git_run(repo, "commit", "-q", "-m", "clean", env={"PATH": f"{bindir}{os.pathsep}/usr/bin:/bin"})
    if on_path:
        assert p.returncode == 0 and "fallback staged" in p.stderr, p.stderr
    else:
        assert p.returncode == 1 and "cexguard: not found" in p.stderr, p.stderr


# the quick path (hook.quick_staged): a clean commit answered before re, pathlib or enum are imported

QUICK_ABSENT = ("re", "pathlib", "enum", "signal", "collections.abc", "scanner.config", "scanner.models",
                "scanner.reporting", "scanner.status")


def test_a_clean_commit_is_answered_without_re_pathlib_or_enum(repo: Path, tmp_path: Path) -> None:
    commit(repo, {"README.md": "x\n", "pyproject.toml": "[project]\nname = 'x'\n"})
    write(repo, "app.py", "def f():\n    return 'hello world'\n")
    git(repo, "add", "app.py")
    cache = {"CEXGUARD_CACHE_DIR": str(tmp_path / "cache")}
    assert imported(repo, "staged", env=cache)[0] == 0  # builds the gate cache
    code, mods, err = imported(repo, "staged", env=cache)
    p = subprocess.run([sys.executable, "-X", "importtime", "-c", "pass"], cwd=repo, capture_output=True, text=True)
    baseline = {line.split("|")[-1].strip() for line in p.stderr.splitlines()}  # (Python's own start-up)
    assert code == 0, err
    assert not mods & set(QUICK_ABSENT) - baseline, sorted(mods & set(QUICK_ABSENT))
    assert cg(repo, "staged", env=cache).out == "0 finding(s) in 1 file(s) scanned\n"


def _user_config(repo: Path, tmp_path: Path) -> dict[str, str]:
    (tmp_path / "xdg" / "cexguard").mkdir(parents=True)
    (tmp_path / "xdg" / "cexguard" / "config.toml").write_text('exclude = ["app.py"]\n')
    return {"XDG_CONFIG_HOME": str(tmp_path / "xdg")}


def _committed_config(repo: Path, tmp_path: Path) -> dict[str, str]:
    commit(repo, {".cexguard.toml": 'exclude = ["app.py"]\n'})
    return {}


def _committed_config_deleted_in_work_tree(repo: Path, tmp_path: Path) -> dict[str, str]:
    commit(repo, {".cexguard.toml": 'exclude = ["app.py"]\n'})
    (repo / ".cexguard.toml").unlink()  # (not staged: HEAD's config still counts)
    return {}


def _pyproject(repo: Path, tmp_path: Path) -> dict[str, str]:
    commit(repo, {"pyproject.toml": '[project]\nname = "x"\n\n[tool.cexguard]\nexclude = ["app.py"]\n'})
    return {}


def _pyproject_changed_in_work_tree(repo: Path, tmp_path: Path) -> dict[str, str]:
    commit(repo, {"pyproject.toml": '[tool.cexguard]\nexclude = ["app.py"]\n'})
    write(repo, "pyproject.toml", "[project]\nname = 'x'\n")  # HEAD's version is the one that counts
    return {}


def _ignore_file_symlink(repo: Path, tmp_path: Path) -> dict[str, str]:
    (tmp_path / "elsewhere").write_text("x\n")
    (repo / ".cexguardignore").symlink_to(tmp_path / "elsewhere")
    return {}


def _key_staged_then_removed(repo: Path, tmp_path: Path) -> dict[str, str]:
    from tests.conftest import new_key

    write(repo, "app.py", env_line(new_key()))
    git(repo, "add", "app.py")
    write(repo, "app.py", "x = 1\n")  # the work tree no longer holds the staged bytes
    return {}


def _binary(repo: Path, tmp_path: Path) -> dict[str, str]:
    (repo / "app.py").write_bytes(b"\x00\x01binary\n")
    git(repo, "add", "app.py")
    return {}


def _nothing_staged(repo: Path, tmp_path: Path) -> dict[str, str]:
    git(repo, "reset", "-q")
    return {}


@pytest.mark.parametrize("setup", [None, _user_config, _committed_config, _committed_config_deleted_in_work_tree,
                                   _pyproject, _pyproject_changed_in_work_tree, _ignore_file_symlink,
                                   _key_staged_then_removed, _binary, _nothing_staged])
def test_quick_path_answers_as_the_full_path(repo: Path, tmp_path: Path, setup: Any) -> None:
    """Whatever the quick path answers or leaves to the full one, `staged` says what click's path
    (the full check, forced by an option the quick path does not take) says."""
    commit(repo, {"README.md": "x\n"})
    env = {"CEXGUARD_CACHE_DIR": str(tmp_path / "cache")}
    after = setup in (_key_staged_then_removed, _binary, _nothing_staged)  # (these change what is staged)
    if setup is not None and not after:
        env.update(setup(repo, tmp_path))
    write(repo, "app.py", "def f():\n    return 'hello world'\n")
    git(repo, "add", "app.py")
    if setup is not None and after:
        env.update(setup(repo, tmp_path))
    cg(repo, "staged", env=env)  # (the gate cache)
    for where, args in ((repo, ()), (repo.parent, (str(repo),)), (repo, (".",))):
        quick = cg(where, "staged", *args, env=env)
        full = cg(where, "staged", *args, "--api-url", "http://127.0.0.1:9", env=env)
        assert (quick.code, quick.out, quick.err) == (full.code, full.out, full.err)
        assert quick.code in (0, 1, 2)
    if setup in (_user_config, _committed_config, _committed_config_deleted_in_work_tree, _pyproject,
                 _pyproject_changed_in_work_tree):
        assert "1 file(s) scanned" not in quick.out  # the config's exclude was applied
    if setup is _key_staged_then_removed:
        assert quick.code == 1
    if setup is _ignore_file_symlink:
        assert quick.code == 2 and "symlink" in quick.err


def test_quick_path_from_a_subfolder_and_with_file_names(repo: Path, tmp_path: Path) -> None:
    commit(repo, {"README.md": "x\n"})
    write(repo, "sub/app.py", "x = 1\n")
    git(repo, "add", "sub/app.py")
    env = {"CEXGUARD_CACHE_DIR": str(tmp_path / "cache")}
    for where, args in ((repo / "sub", ()), (repo, ("sub/app.py",))):
        quick = cg(where, "staged", *args, env=env)
        full = cg(where, "staged", *args, "--api-url", "http://127.0.0.1:9", env=env)
        assert (quick.code, quick.out, quick.err) == (full.code, full.out, full.err) == (0, quick.out, "")
        assert "1 file(s) scanned" in quick.out


def test_quick_gates_answer_as_the_engines_gates(tmp_path: Path, keys: list[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The gates the quick path builds with `_sre` from the cache (no `re`) match exactly what
    gate_checker's `re` patterns match."""
    from scanner import hook
    from scanner.config import Config

    monkeypatch.setenv("CEXGUARD_CACHE_DIR", str(tmp_path))
    full = hook.gate_checker(Config())
    quick = hook._quick_gates([], None)
    assert quick is not None
    samples = [b"", b"x = 1\n", env_line(keys[0]).encode(), keys[1].encode(), b"import kucoin\n", b"OKX = 1",
               b"passphrase = 'hunter2hunter2'\n", b"-----BEGIN PRIVATE KEY-----\n", b"bg_" + b"a" * 32,
               b"mx0" + b"A" * 15, b"Kraken", b"gate.io", b"a" * 63, b"a" * 64]
    for s in samples:
        assert quick(s) == full(s), s
    assert {quick(s) for s in samples} == {True, False}
    # a cache written by another Python (or damaged): the quick path leaves the check to the full one
    import marshal

    (cache,) = tmp_path.glob("gates-*")
    doc = marshal.loads(cache.read_bytes())
    doc["sre"]["python"] += 1
    cache.write_bytes(marshal.dumps(doc))
    assert hook._quick_gates([], None) is None
    doc["sre"] = {"python": doc["sre"]["python"] - 1, "magic": doc["sre"]["magic"], "code": doc["sre"]["code"][1:]}
    cache.write_bytes(marshal.dumps(doc))
    assert hook._quick_gates([], None) is None


# file names: the pre-commit framework runs `cexguard staged FILE...` (pass_filenames) from the top of
# the work tree, naming the staged files it matched

def _framework_repo(repo: Path, keys: list[str]) -> None:
    commit(repo, {"README.md": "x\n", "old.txt": "old\n", "gone.txt": "bye\n", "moved.txt": "same\n"})
    write(repo, "a.py", "def f():\n    return 'hello world'\n")
    write(repo, "b/c d.txt", "notes\n")
    write(repo, "other.py", "y = 2\n")
    write(repo, "k.env", env_line(keys[0]))
    git(repo, "add", "a.py", "b/c d.txt", "other.py", "k.env")
    git(repo, "rm", "-q", "gone.txt")
    git(repo, "mv", "moved.txt", "renamed.txt")


@pytest.mark.parametrize("names", [
    ("a.py", "b/c d.txt"),  # what the framework passes: staged files, one name with a space
    ("a.py",), ("./a.py", "b//c d.txt", "a.py"),  # (the full path normalises names and drops repeats)
    ("a.py", "k.env"), ("k.env",),  # a staged key among the names: blocked
    ("a.py", "README.md"),  # a name not staged: both files scanned in full (pre-commit run --files)
    ("a.py", "gone.txt"),  # a deleted file (staged deletion)
    ("a.py", "no-such-file.py"), ("renamed.txt",),  # missing; renamed unchanged (not in the diff)
    ("a.py", "b"),  # a folder among the names: an error
    ("a.py", "../outside.py"), ("a.py", "ABS"),  # outside the work tree; an absolute name
])
def test_quick_path_with_file_names_answers_as_the_full_path(repo: Path, keys: list[str], tmp_path: Path,
                                                             names: tuple[str, ...]) -> None:
    _framework_repo(repo, keys)
    names = tuple(str(repo / "a.py") if n == "ABS" else n for n in names)
    env = {"CEXGUARD_CACHE_DIR": str(tmp_path / "cache")}
    cg(repo, "staged", env=env)  # (the gate cache)
    quick = cg(repo, "staged", *names, env=env)
    full = cg(repo, "staged", *names, "--api-url", "http://127.0.0.1:9", env=env)  # click's path: the full check
    assert (quick.code, quick.out, quick.err) == (full.code, full.out, full.err)
    assert keys[0] not in quick.out + quick.err
    if "k.env" in names:
        assert quick.code == 1 and "k.env:1" in quick.out
    elif names == ("a.py", "b"):
        assert quick.code == 2 and "is a folder" in quick.err
    elif names == ("a.py", "../outside.py"):
        assert quick.code == 2 and "outside the repository" in quick.err
    else:
        assert quick.code == 0
        if names[:2] == ("a.py", "b/c d.txt") or names[0] == "./a.py":
            assert quick.out == f"0 finding(s) in {len(set(names)) if names[0] == 'a.py' else 2} file(s) scanned\n"


def test_framework_argv_for_a_clean_commit_takes_the_quick_path(repo: Path, keys: list[str], tmp_path: Path) -> None:
    """`cexguard staged a.py 'b/c d.txt'` (the framework's call under a commit) is answered before
    `re`, `pathlib` or the engine are imported, and names only restrict: the staged key in k.env,
    not named, does not block it; named, it does (the engine then runs)."""
    _framework_repo(repo, keys)
    cache = {"CEXGUARD_CACHE_DIR": str(tmp_path / "cache")}
    assert imported(repo, "staged", "a.py", env=cache)[0] == 0  # builds the gate cache
    code, mods, err = imported(repo, "staged", "a.py", "b/c d.txt", env=cache)
    assert code == 0, err
    assert not mods & {"re", "pathlib", "scanner.engine", "scanner.reporting", "click"}, sorted(mods)
    code, mods, err = imported(repo, "staged", "a.py", "k.env", env=cache)
    assert code == 1 and "scanner.engine" in mods
    # a name not staged: the full path, which scans both files as they are in the work tree
    code, mods, err = imported(repo, "staged", "a.py", "README.md", env=cache)
    assert code == 0 and "scanner.engine" in mods
