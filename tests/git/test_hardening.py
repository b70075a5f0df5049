"""A scanned repository's git config can never make cexguard's git calls run anything.

Each test builds a hostile repository whose config (or `.git` file, included file, attributes,
or the user's global config) names a marker program in every place git would run one; then runs
`scan`, `staged`, `history` (full, --reachable-only, --range) and `install-hook` on it and asserts
the marker never ran, and that the key is still found (hardening must not blind the scan).
"""
from __future__ import annotations

import ast
import json
import os
import stat
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.git.conftest import cg, commit, env_line, git, make_repo, write


@pytest.fixture
def marker(tmp_path: Path) -> tuple[Path, Path]:
    """(program, log): the program appends its arguments to `log` whenever anything runs it."""
    log = tmp_path / "MARKER-RAN"
    prog = tmp_path / "marker.sh"
    prog.write_text(f'#!/bin/sh\necho "$0 $*" >> "{log}"\nexit 1\n')
    prog.chmod(prog.stat().st_mode | stat.S_IXUSR)
    return prog, log


def hostile_config(prog: Path) -> str:
    """Every config key (of those git 2.39 knows) whose value is a program git may run."""
    p = str(prog)
    return f"""
[core]
    fsmonitor = {p}
    pager = {p}
    hooksPath = {prog.parent / "hooks"}
    sshCommand = {p}
    askPass = {p}
    alternateRefsCommand = {p}
    gitProxy = {p}
    editor = {p}
[log]
    showSignature = true
[gpg]
    program = {p}
[gpg "ssh"]
    program = {p}
[gpg "x509"]
    program = {p}
[pager]
    log = {p}
    diff = {p}
    ls-files = {p}
    cat-file = {p}
    rev-list = {p}
    config = {p}
[diff]
    external = {p}
[diff "evil"]
    textconv = {p}
    command = {p}
[filter "evil"]
    clean = {p}
    smudge = {p}
    process = {p}
    required = true
[merge "evil"]
    driver = {p}
[credential]
    helper = !{p}
[uploadpack]
    packObjectsHook = {p}
[protocol]
    allow = always
[protocol "file"]
    allow = always
[protocol "ext"]
    allow = always
[status]
    showUntrackedFiles = all
"""


def hooks_dir(prog: Path) -> None:
    d = prog.parent / "hooks"
    d.mkdir(exist_ok=True)
    for name in ("pre-commit", "post-index-change", "reference-transaction", "post-checkout", "pre-push",
                 "fsmonitor-watchman", "post-rewrite", "pre-auto-gc"):
        (d / name).write_text(f"#!/bin/sh\nexec {prog} hook-{name} \"$@\"\n")
        (d / name).chmod(0o755)


def signed_commit(repo: Path, files: dict[str, str]) -> str:
    """A commit object with a gpgsig header (as `git commit -S` writes), made the tip of main."""
    for path, text in files.items():
        write(repo, path, text)
        git(repo, "add", "--", path)
    tree = git(repo, "write-tree").strip()
    parent = git(repo, "rev-parse", "-q", "--verify", "HEAD", check=False).strip()
    body = f"tree {tree}\n" + (f"parent {parent}\n" if parent else "")
    body += ("author Ann Author <ann@example.com> 1700000000 +0000\n"
             "committer Ann Author <ann@example.com> 1700000000 +0000\n"
             "gpgsig -----BEGIN PGP SIGNATURE-----\n \n iQEzBAABCAAdFiEEAAAAAAAAAAAAAAAAAAAAAAAAAAAFAmVVVVUACgkQAAAAAAAA\n"
             " =AAAA\n -----END PGP SIGNATURE-----\n\nsigned change\n")
    oid = git(repo, "hash-object", "-t", "commit", "-w", "--stdin", input=body).strip()
    git(repo, "update-ref", "refs/heads/main", oid)
    return oid


def build_hostile(repo: Path, prog: Path, key: str, key2: str) -> str:
    """A repository with the hostile config, attributes routing every file to the evil drivers, a
    signed commit adding a key, and a second key staged only (history reads the index for it).
    Returns the commit before the signed one (a range base)."""
    hooks_dir(prog)
    write(repo, ".gitattributes", "* diff=evil filter=evil merge=evil\n")
    git(repo, "add", ".gitattributes")
    base = commit(repo, {"README.md": "hello\n"})
    signed_commit(repo, {"deploy/.env": env_line(key)})
    with open(repo / ".git" / "config", "a") as fh:
        fh.write(hostile_config(prog))
    write(repo, "staged.env", env_line(key2, "BINANCE_API_SECRET"))
    git(repo, "-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null", "-c", "filter.evil.clean=cat",
        "-c", "filter.evil.process=", "-c", "filter.evil.required=false", "add", "staged.env")
    return base


def run_everything(where: Path, repo: Path, base: str, key: str, *, env: dict[str, str] | None = None) -> None:
    """Every command that runs git, each still finding the planted key."""
    r = cg(where, "scan", str(repo), "--format", "json", env=env)
    assert r.code == 1 and key[:4] in r.out, r.err
    assert '"git_status": "tracked"' in r.out  # annotate_git_status ran git (hardened) and answered
    r = cg(repo, "staged", env=env)
    assert r.code == 1, r.err
    for args in ((), ("--reachable-only",), ("--range", f"{base}..HEAD")):
        r = cg(repo, "history", *args, "--format", "json", env=env)
        assert r.code == 1 and key[:4] in r.out, (args, r.err)
    assert cg(repo, "history", "--format", "json", env=env).out.count('"reachable": "index"') == 1
    r = cg(repo, "install-hook", "--force", env=env)
    assert r.code == 0, r.err


def test_repository_config_runs_nothing(tmp_path: Path, marker: tuple[Path, Path]) -> None:
    prog, log = marker
    repo = make_repo(tmp_path / "repo")
    key, key2 = _keys()
    base = build_hostile(repo, prog, key, key2)
    run_everything(tmp_path, repo, base, key)
    assert not log.exists(), log.read_text()
    # install-hook honoured the repository's own core.hooksPath (not the hardening override)
    assert (tmp_path / "hooks" / "pre-commit").read_text().count("cexguard-hook") == 1


def test_git_file_pointing_at_a_payload_folder_runs_nothing(tmp_path: Path, marker: tuple[Path, Path]) -> None:
    """A tarball holding `.git` as a file (`gitdir: .payload`) and the repository in `.payload`."""
    prog, log = marker
    repo = make_repo(tmp_path / "repo")
    key, key2 = _keys()
    base = build_hostile(repo, prog, key, key2)
    (repo / ".git").rename(repo / ".payload")
    (repo / ".git").write_text("gitdir: .payload\n")
    run_everything(tmp_path, repo, base, key)
    assert not log.exists(), log.read_text()


def test_included_config_file_runs_nothing(tmp_path: Path, marker: tuple[Path, Path]) -> None:
    """The dangerous keys in a file that .git/config includes (include.path and includeIf)."""
    prog, log = marker
    repo = make_repo(tmp_path / "repo")
    key, key2 = _keys()
    base = build_hostile(repo, prog, key, key2)
    text = (repo / ".git" / "config").read_text()
    head, _, evil = text.partition("\n[core]\n    fsmonitor")
    write(repo, ".payload.cfg", "[core]\n    fsmonitor" + evil)
    (repo / ".git" / "config").write_text(head + "\n[include]\n    path = ../.payload.cfg\n"
                                          '[includeIf "gitdir:/"]\n    path = ../.payload.cfg\n')
    assert git(repo, "config", "core.fsmonitor").strip() == str(prog)  # the include works
    run_everything(tmp_path, repo, base, key)
    assert not log.exists(), log.read_text()


def test_users_global_config_and_environment_run_nothing(tmp_path: Path, marker: tuple[Path, Path]) -> None:
    """Even the user's own global config and GIT_* variables cannot make these git calls run a
    program (the overrides come last); the user's safe.directory etc. still apply."""
    prog, log = marker
    repo = make_repo(tmp_path / "repo")
    key, key2 = _keys()
    base = build_hostile(repo, prog, key, key2)
    glob = tmp_path / "global.cfg"
    glob.write_text(hostile_config(prog))
    env = {"GIT_CONFIG_GLOBAL": str(glob), "GIT_EXTERNAL_DIFF": str(prog), "GIT_PAGER": str(prog),
           "PAGER": str(prog), "GIT_ASKPASS": str(prog), "SSH_ASKPASS": str(prog), "GIT_SSH_COMMAND": str(prog),
           "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "core.fsmonitor", "GIT_CONFIG_VALUE_0": str(prog),
           "GIT_CONFIG_PARAMETERS": f"'log.showsignature'='true' 'gpg.program'='{prog}'"}
    run_everything(tmp_path, repo, base, key, env=env)
    assert not log.exists(), log.read_text()


def test_partial_clone_never_fetches_through_a_hostile_remote(tmp_path: Path, marker: tuple[Path, Path]) -> None:
    """A partial clone whose promisor remote would run a program to fetch a missing blob
    (remote.*.uploadpack on a local path, protocol.file.allow = always, an ext:: url)."""
    prog, log = marker
    key, key2 = _keys()
    src = make_repo(tmp_path / "src")
    git(src, "config", "uploadpack.allowFilter", "true")
    base = commit(src, {"old.env": env_line(key)})
    commit(src, {"old.env": None})
    commit(src, {"head.env": env_line(key2)})
    git(tmp_path, "clone", "-q", "--filter=blob:none", f"file://{src}", "part")
    part = tmp_path / "part"
    git(part, "config", "remote.origin.uploadpack", str(prog))
    git(part, "config", "remote.origin.url", str(src))
    git(part, "config", "protocol.file.allow", "always")
    git(part, "config", "protocol.allow", "always")
    before = git(part, "count-objects", "-v")
    for args in ((), ("--reachable-only",), ("--range", f"{base}..HEAD")):
        r = cg(part, "history", *args)
        assert r.code in (0, 1) and "Traceback" not in r.err, (args, r.err)
    git(part, "config", "remote.origin.url", f"ext::{prog} %S")
    git(part, "config", "protocol.ext.allow", "always")
    r = cg(part, "history", "--range", f"{base}..HEAD")
    assert r.code in (0, 1) and "Traceback" not in r.err, r.err
    assert not log.exists(), log.read_text()
    assert git(part, "count-objects", "-v") == before  # nothing was fetched


def test_replace_refs_cannot_hide_a_blob(tmp_path: Path) -> None:
    """`git replace KEY_BLOB INNOCENT_BLOB` would make git show the innocent content in place of
    the key; cexguard reads the objects as they are."""
    repo = make_repo(tmp_path / "repo")
    key, _ = _keys()
    base = commit(repo, {"README.md": "hi\n"})
    commit(repo, {"deploy/.env": env_line(key)})
    commit(repo, {"deploy/.env": "NOTHING=here\n"})
    bad = git(repo, "rev-parse", "HEAD~1:deploy/.env").strip()
    good = git(repo, "rev-parse", "HEAD:deploy/.env").strip()
    git(repo, "replace", bad, good)
    assert key not in git(repo, "show", "HEAD~1:deploy/.env")  # git itself now shows the decoy
    for args in ((), ("--reachable-only",), ("--range", f"{base}..HEAD")):
        r = cg(repo, "history", *args, "--format", "json")
        assert r.code == 1 and key[:4] in r.out, (args, r.err)


def test_submodule_ignores_the_callers_git_dir(tmp_path: Path) -> None:
    """GIT_DIR/GIT_INDEX_FILE (set by git for a hook) name the caller's repository; a submodule
    is read as itself, not as the superproject again."""
    key, key2 = _keys()
    sub_src = make_repo(tmp_path / "subsrc")
    commit(sub_src, {"s.env": env_line(key2)})
    sup = make_repo(tmp_path / "sup")
    commit(sup, {"top.env": env_line(key)})
    git(sup, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(sub_src), "lib")
    commit(sup, {})
    env = {"GIT_DIR": str(sup / ".git"), "GIT_INDEX_FILE": str(sup / ".git" / "index")}
    r = cg(sup, "history", "--recurse-submodules", "--format", "json", env=env)
    assert r.code == 1, r.err
    assert key[:4] in r.out and key2[:4] in r.out and '"lib/s.env"' in r.out


def _keys() -> tuple[str, str]:
    from tests.conftest import new_key

    return new_key(), new_key()


def test_no_git_call_bypasses_the_hardened_wrapper() -> None:
    """Only scanner/sources/git.py starts processes (the remote layer starts none): every other
    module runs git through its `run`/`popen`/`CatFile`, so every call gets the hardening."""
    offenders = []
    for path in sorted((REPO_ROOT / "scanner").rglob("*.py")):
        rel = path.relative_to(REPO_ROOT).as_posix()
        if rel == "scanner/sources/git.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "os"
                  and node.attr in ("system", "popen", "execv", "execvp", "execve", "spawnv", "spawnvp",
                                    "posix_spawn", "posix_spawnp", "fork")):
                names = [f"os.{node.attr}"]
            if any(n.split(".")[0] in ("subprocess", "pty", "git") or n.startswith("os.") for n in names):
                offenders.append(f"{rel}:{node.lineno}: {names[0]}")
    # subprocess.DEVNULL/PIPE constants in the history audit's modules are passed to the wrapper's popen,
    # not used to start git
    allowed = {f"scanner/sources/{m}.py" for m in ("history", "objects", "gitlog", "provenance")}
    # the history audit's stage-two worker (stage2.py) starts one process: this Python, isolated, never git
    worker = "scanner/sources/stage2.py"
    bad = [o for o in offenders if o.split(":")[0] not in allowed | {worker}]
    assert bad == [], bad
    text = (REPO_ROOT / worker).read_text()
    assert text.count("subprocess.Popen(") == 1 and "[sys.executable, \"-I\", \"-c\", _BOOT]" in text
    assert "subprocess.run" not in text and "check_output" not in text and "git" not in text.split("subprocess.Popen(")[1][:200]
    for rel in sorted(allowed):
        text = (REPO_ROOT / rel).read_text()
        assert "subprocess.run" not in text and "subprocess.Popen" not in text and "check_output" not in text


def test_every_wrapper_entry_point_uses_the_hardening(tmp_path: Path) -> None:
    from scanner.sources import git as g

    cmd = g.command("log")
    assert cmd[0] == g.GIT and cmd[-1] == "log" and "--no-pager" in cmd and "--no-replace-objects" in cmd
    for item in ("core.fsmonitor=false", "log.showSignature=false", "core.hooksPath=/dev/null",
                 "protocol.allow=never", "credential.helper="):
        assert item in cmd
    env = g.environment(tmp_path)
    assert env["GIT_ALLOW_PROTOCOL"] == "" and env["GIT_ASKPASS"] == "" and env["GIT_NO_REPLACE_OBJECTS"] == "1"
    src = (REPO_ROOT / "scanner" / "sources" / "git.py").read_text()
    # every process start in the wrapper builds its command with command() and env with environment()
    assert src.count("subprocess.run(") == src.count("subprocess.run(command(") == 1
    assert src.count("GitProc(cmd") == 1 and "cmd = command(*args)" in src
    # the light spawner (no subprocess import on the hook's path) is fed by command() and environment() too
    assert src.count("os.posix_spawnp(") == 1 and src.count("_spawn(") == src.count("_spawn(command(") + 1
    assert "env = environment(cwd, protocols)" in src
    assert os.environ.get("GIT_DIR") is None


@pytest.mark.parametrize("path", ["..", "../..", ".", "link", "real/../..", "gitfile"])
def test_submodule_paths_stay_inside_the_tree(tmp_path: Path, path: str) -> None:
    """`.gitmodules` with `path = ..` (or a symlink, or a `.git` file pointing at another
    repository) must not make --recurse-submodules audit the enclosing or any other repository:
    refused, counted and reported."""
    from tests.conftest import new_key

    outer = make_repo(tmp_path / "outer")
    outer_key = new_key()
    commit(outer, {"outer.env": env_line(outer_key)})
    inner = make_repo(outer / "a" / "inner")
    (inner / "link").symlink_to("..")
    (inner / "real").mkdir()
    if path == "gitfile":
        (inner / "gitfile").mkdir()
        (inner / "gitfile" / ".git").write_text(f"gitdir: {outer / '.git'}\n")
    commit(inner, {".gitmodules": f'[submodule "x"]\n\tpath = {path}\n\turl = ./x\n', "README.md": "hi\n"})
    r = cg(inner, "history", "--recurse-submodules", "--format", "json")
    assert r.code == 0, r.err
    assert outer_key[:4] not in r.out
    doc = json.loads(r.out)
    assert doc["stats"]["skipped"] == {"submodule_outside_tree": 1}
    assert len(doc["stats"]["errors"]) == 1 and "not audited" in doc["stats"]["errors"][0]
