"""`cexguard staged`: a commit is blocked exactly when it adds a secret (the index, not the work tree)."""
from __future__ import annotations

from pathlib import Path

from tests.git.conftest import cg, cg_json, commit, env_line, git, git_run, make_repo, write

PADDING = "".join(f"line {i}\n" for i in range(1, 21))


def found_values(doc: dict) -> list[str]:  # type: ignore[type-arg]
    return sorted(f["redacted"] for f in doc["findings"])


def red(key: str) -> str:
    return f"{key[:4]}...{key[-4:]}"


def test_staged_key_blocks_and_names_the_file(repo: Path, keys: list[str]) -> None:
    commit(repo, {"README.md": "hello\n"})
    write(repo, "config/.env", env_line(keys[0]))
    git(repo, "add", "config/.env")
    r = cg(repo, "staged")
    assert r.code == 1
    assert "config/.env:1" in r.out
    assert keys[0] not in r.out + r.err  # redacted by default
    assert "commit blocked" in r.err


def test_clean_commit_passes(repo: Path) -> None:
    commit(repo, {"README.md": "hello\n"})
    write(repo, "app.py", "print('hi')\n")
    git(repo, "add", "app.py")
    r = cg(repo, "staged")
    assert r.code == 0, r.err
    assert "0 finding(s)" in r.out


def test_staged_then_removed_from_working_file_still_blocks(repo: Path, keys: list[str]) -> None:
    commit(repo, {"README.md": "hello\n"})
    write(repo, "settings.py", env_line(keys[0]))
    git(repo, "add", "settings.py")
    write(repo, "settings.py", "API_KEY = os.environ['BINANCE_API_KEY']\n")  # not staged
    code, doc, _ = cg_json(repo, "staged")
    assert code == 1
    assert found_values(doc) == [red(keys[0])]
    assert doc["findings"][0]["path"] == "settings.py"


def test_key_only_in_working_tree_untracked_or_deleted_does_not_block(repo: Path, keys: list[str]) -> None:
    commit(repo, {"app.py": "x = 1\n", "old.env": env_line(keys[0])})
    write(repo, "app.py", "x = 1\n" + env_line(keys[1]))  # modified, not staged
    write(repo, "untracked.env", env_line(keys[2]))  # never added
    git(repo, "rm", "-q", "old.env")  # the commit deletes the file holding a key
    write(repo, "notes.txt", "clean\n")
    git(repo, "add", "notes.txt")
    code, doc, _ = cg_json(repo, "staged")
    assert code == 0, doc
    assert doc["findings"] == []


def test_partial_staging_with_git_add_p_is_honoured_both_ways(tmp_path: Path, keys: list[str]) -> None:
    lines = PADDING.splitlines(keepends=True)
    changed = list(lines)
    changed[1] = "line 2 edited\n"  # hunk 1: harmless
    changed[17] = env_line(keys[0])  # hunk 2: a key, far enough away to be its own hunk

    # only the harmless hunk staged: the key stays in the working tree, the commit is clean
    a = make_repo(tmp_path / "a")
    commit(a, {"f.txt": PADDING})
    write(a, "f.txt", "".join(changed))
    git(a, "add", "-p", "f.txt", input="y\nn\n")
    assert keys[0] not in git(a, "diff", "--cached")
    assert cg(a, "staged").code == 0

    # only the key's hunk staged: blocked, though the working tree also has other edits
    b = make_repo(tmp_path / "b")
    commit(b, {"f.txt": PADDING})
    write(b, "f.txt", "".join(changed))
    git(b, "add", "-p", "f.txt", input="n\ny\n")
    assert keys[0] in git(b, "diff", "--cached")
    code, doc, _ = cg_json(b, "staged")
    assert code == 1
    assert [f["line"] for f in doc["findings"]] == [18]


def test_secret_already_committed_in_the_file_is_not_blocked_again(repo: Path, keys: list[str]) -> None:
    commit(repo, {"conf.env": env_line(keys[0])})
    write(repo, "conf.env", env_line(keys[0]) + "DEBUG=1\n")
    git(repo, "add", "conf.env")
    assert cg(repo, "staged").code == 0
    # a new key in the same file is blocked, and only the new one is reported
    write(repo, "conf.env", env_line(keys[0]) + "DEBUG=1\n" + env_line(keys[1], "BINANCE_API_KEY_2"))
    git(repo, "add", "conf.env")
    code, doc, _ = cg_json(repo, "staged")
    assert code == 1
    assert found_values(doc) == [red(keys[1])]


def test_renaming_a_file_with_a_committed_key_adds_nothing(repo: Path, keys: list[str]) -> None:
    commit(repo, {"a.env": env_line(keys[0]) + PADDING})
    git(repo, "mv", "a.env", "b.env")
    assert cg(repo, "staged").code == 0


def test_first_commit_of_a_repository(repo: Path, keys: list[str]) -> None:
    write(repo, ".env", env_line(keys[0]))
    git(repo, "add", ".env")
    assert cg(repo, "staged").code == 1


def test_odd_file_names(repo: Path, keys: list[str]) -> None:
    commit(repo, {"README.md": "x\n"})
    name = "dir with space/ünïcode\tname.env"
    write(repo, name, env_line(keys[0]))
    git(repo, "add", "--", name)
    code, doc, _ = cg_json(repo, "staged")
    assert code == 1
    assert doc["findings"][0]["path"] == name


def test_merge_commit_does_not_reblock_secrets_from_the_merged_branch(repo: Path, keys: list[str]) -> None:
    commit(repo, {"a.txt": "a\n"})
    git(repo, "checkout", "-q", "-b", "side")
    commit(repo, {"side.env": env_line(keys[0])})
    git(repo, "checkout", "-q", "main")
    commit(repo, {"b.txt": "b\n", "side.env": "# placeholder\n" + PADDING})
    git(repo, "merge", "--no-commit", "-q", "side", check=False)  # conflicts on side.env
    write(repo, "side.env", env_line(keys[0]) + PADDING)  # the resolution keeps the side branch's key
    git(repo, "add", "side.env")
    assert (repo / ".git" / "MERGE_HEAD").exists()
    assert cg(repo, "staged").code == 0


def test_files_named_like_pre_commit_does(repo: Path, keys: list[str]) -> None:
    commit(repo, {"old.env": env_line(keys[0]), "clean.txt": "x\n"})
    # pre-commit run --all-files (nothing staged): the named files are scanned in full
    code, doc, _ = cg_json(repo, "staged", "old.env", "clean.txt")
    assert code == 1
    assert doc["stats"]["mode"] == "files"
    assert found_values(doc) == [red(keys[0])]
    # a normal commit: pre-commit passes the staged names; the index rules apply
    write(repo, "clean.txt", "y\n")
    git(repo, "add", "clean.txt")
    code, doc, _ = cg_json(repo, "staged", "clean.txt")
    assert code == 0
    assert doc["stats"]["mode"] == "index"


def test_files_mode_from_a_subdirectory_and_missing_files(repo: Path, keys: list[str]) -> None:
    commit(repo, {"sub/k.env": env_line(keys[0])})
    r = cg(repo / "sub", "staged", "k.env", "gone.txt")
    assert r.code == 1
    assert "sub/k.env:1" in r.out


def test_commit_a_uses_the_commit_index(repo: Path, keys: list[str]) -> None:
    """`git commit -a` and `git commit FILE` hand hooks a temporary index (GIT_INDEX_FILE)."""
    commit(repo, {"app.py": "x = 1\n"})
    hook = repo / ".git" / "hooks" / "pre-commit"
    assert cg(repo, "install-hook").code == 0
    assert hook.exists()
    write(repo, "app.py", "x = 1\n" + env_line(keys[0]))
    p = git_run(repo, "commit", "-q", "-a", "-m", "with key")
    assert p.returncode != 0
    assert "app.py:2" in p.stdout + p.stderr
    assert git(repo, "log", "--format=%s", "-1").strip() != "with key"
    git(repo, "checkout", "-q", "app.py")
    write(repo, "app.py", "x = 2\n")
    p = git_run(repo, "commit", "-q", "-a", "-m", "clean")
    assert p.returncode == 0, p.stderr
    assert git(repo, "log", "--format=%s", "-1").strip() == "clean"


def test_not_a_repository_and_bare_repository(tmp_path: Path) -> None:
    r = cg(tmp_path, "staged")
    assert r.code == 2
    assert r.err.strip().splitlines() == [f"cexguard: error: not a git repository: {tmp_path}"]
    bare = make_repo(tmp_path / "b.git", bare=True)
    r = cg(tmp_path, "staged", str(bare))
    assert r.code == 2
    assert "work tree" in r.err and "Traceback" not in r.err
    assert len(r.err.strip().splitlines()) == 1


def test_staged_output_formats(repo: Path, keys: list[str]) -> None:
    write(repo, "k.env", env_line(keys[0]))
    git(repo, "add", "k.env")
    for fmt in ("sarif", "github", "gitlab", "junit"):
        r = cg(repo, "staged", "--format", fmt)
        assert r.code == 1, (fmt, r.err)
        assert keys[0] not in r.out
    r = cg(repo, "staged", "--format", "json", "--show-secrets")
    assert keys[0] in r.out


def test_blob_id_matches_git_hash_object(repo: Path) -> None:
    from scanner.sources.git import blob_id

    for data in (b"", b"hello\n", bytes(range(256)) * 3):
        write(repo, "f.bin", "")
        (repo / "f.bin").write_bytes(data)
        assert blob_id(data) == git(repo, "hash-object", "f.bin").strip()
