"""`cexguard history`: every blob once, where each secret came from, and how long it was exposed."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from scanner.sources.progress import Progress
from tests.git.conftest import cg, cg_json, commit, env_line, git, make_repo, write

D1, D2, D3, D4 = ("2024-01-01T10:00:00+00:00", "2024-01-11T10:00:00+00:00", "2024-02-01T10:00:00+00:00",
                  "2024-03-01T10:00:00+00:00")


def red(key: str) -> str:
    return f"{key[:4]}...{key[-4:]}"


def by_value(doc: dict[str, Any], key: str) -> list[dict[str, Any]]:
    return [f for f in doc["findings"] if f["redacted"] == red(key)]


def one(doc: dict[str, Any], key: str) -> dict[str, Any]:
    got = by_value(doc, key)
    assert len(got) == 1, [(f["path"], f["redacted"]) for f in doc["findings"]]
    return got[0]


def test_deleted_file_reports_introducing_commit_and_exposure_window(repo: Path, keys: list[str]) -> None:
    commit(repo, {"README.md": "hi\n"}, date=D1)
    intro = commit(repo, {"deploy/.env": "DEBUG=0\n" + env_line(keys[0])}, "add env", date=D2)
    commit(repo, {"README.md": "hi again\n"}, date=D3)
    removal = commit(repo, {"deploy/.env": None}, "remove env", date=D4)
    code, doc, _ = cg_json(repo, "history")
    assert code == 1
    assert doc["stats"]["errors"] == []
    f = one(doc, keys[0])
    assert (f["path"], f["line"]) == ("deploy/.env", 2)
    assert f["commit"] == intro
    assert f["author"] == "Ann Author <ann@example.com>"
    assert f["date"] == D2
    assert f["refs"] == ["refs/heads/main"]
    assert f["present_at_head"] is False
    assert f["removed_in"] == removal
    assert f["first_seen"] == D2
    assert f["exposure"] == f"{D2} -> {D4}"
    assert f["exposure_days"] == 50
    assert f["occurrences"] == {"commits": 1, "blobs": 1}
    assert keys[0] not in str(doc)


def test_still_present_at_head(repo: Path, keys: list[str]) -> None:
    commit(repo, {"cfg.py": f'api_key = "{keys[0]}"  # binance\n'}, date=D1)
    _, doc, _ = cg_json(repo, "history")
    f = one(doc, keys[0])
    assert f["present_at_head"] is True
    assert f["exposure"] == f"{D1} -> still present"
    assert f["removed_in"] is None


def test_one_finding_per_secret_and_path_with_occurrences(repo: Path, keys: list[str]) -> None:
    for i in range(6):  # the file changes six times; the key stays
        commit(repo, {"bot/config.py": f"VERSION = {i}\nBINANCE_API_KEY = '{keys[0]}'\n"},
               date=f"2024-01-0{i + 1}T10:00:00+00:00")
    commit(repo, {"copy/config.py": f"BINANCE_API_KEY = '{keys[0]}'\n"})  # same key, second path
    _, doc, _ = cg_json(repo, "history")
    rows = by_value(doc, keys[0])
    assert sorted(f["path"] for f in rows) == ["bot/config.py", "copy/config.py"]
    bot = next(f for f in rows if f["path"] == "bot/config.py")
    assert bot["occurrences"] == {"commits": 6, "blobs": 6}
    assert bot["date"] == "2024-01-01T10:00:00+00:00"
    assert bot["line"] == 2
    assert len({f["fingerprint"] for f in rows}) == 1


def test_side_branch_tag_and_stash(repo: Path, keys: list[str]) -> None:
    commit(repo, {"README.md": "x\n"})
    git(repo, "checkout", "-q", "-b", "experiment")
    commit(repo, {"side.env": env_line(keys[0])})
    git(repo, "checkout", "-q", "-b", "release", "main")
    commit(repo, {"tagged.env": env_line(keys[1])})
    git(repo, "tag", "-a", "v1.0", "-m", "release")
    git(repo, "checkout", "-q", "main")
    git(repo, "branch", "-q", "-D", "release")  # only the tag holds it now
    write(repo, "README.md", "x\n" + env_line(keys[2]))
    git(repo, "stash", "-q")
    _, doc, _ = cg_json(repo, "history")
    assert one(doc, keys[0])["refs"] == ["refs/heads/experiment"]
    assert one(doc, keys[1])["refs"] == ["refs/tags/v1.0"]
    stashed = one(doc, keys[2])
    assert stashed["path"] == "README.md"
    assert "refs/stash" in stashed["refs"]
    assert all(not f["present_at_head"] for f in doc["findings"])


def test_unreachable_objects_are_found_unless_reachable_only(repo: Path, keys: list[str]) -> None:
    commit(repo, {"README.md": "x\n"})
    # a dangling blob (e.g. `git add` of a key, then the add undone), never committed
    blob = git(repo, "hash-object", "-w", "--stdin", input=env_line(keys[0])).strip()
    # a commit whose branch was deleted and whose reflog entries are gone
    git(repo, "checkout", "-q", "-b", "tmp")
    lost = commit(repo, {"lost.env": env_line(keys[1])})
    git(repo, "checkout", "-q", "main")
    git(repo, "branch", "-q", "-D", "tmp")
    git(repo, "reflog", "expire", "--expire=now", "--all")
    objects_before = git(repo, "count-objects", "-v")
    code, doc, _ = cg_json(repo, "history")
    assert code == 1
    dangling = one(doc, keys[0])
    assert dangling["path"] == "(unreachable)"
    assert dangling["blob"] == blob
    assert dangling["reachable"] == "unreachable"
    assert doc["stats"]["errors"] == []
    gone = one(doc, keys[1])
    assert (gone["path"], gone["commit"], gone["reachable"], gone["refs"]) == ("lost.env", lost, "unreachable", [])
    assert git(repo, "count-objects", "-v") == objects_before  # never gc/prune
    code, doc, _ = cg_json(repo, "history", "--reachable-only")
    assert code == 0
    assert doc["findings"] == []


def test_blob_named_directly_by_a_tag(repo: Path, keys: list[str]) -> None:
    commit(repo, {"README.md": "x\n"})
    blob = git(repo, "hash-object", "-w", "--stdin", input=env_line(keys[0])).strip()
    git(repo, "tag", "keyblob", blob)
    git(repo, "tag", "-a", "-m", "a tree", "treetag", "HEAD^{tree}")
    for args in ((), ("--reachable-only",)):
        code, doc, _ = cg_json(repo, "history", *args)
        assert code == 1, args
        f = one(doc, keys[0])
        assert (f["path"], f["reachable"], f["refs"], f["blob"]) == ("(refs/tags/keyblob)", "refs",
                                                                    ["refs/tags/keyblob"], blob), args


def test_staged_but_never_committed_blob_is_named_by_its_index_path(repo: Path, keys: list[str]) -> None:
    commit(repo, {"README.md": "x\n"})
    write(repo, "wip.env", env_line(keys[0]))
    git(repo, "add", "wip.env")
    _, doc, _ = cg_json(repo, "history")
    f = one(doc, keys[0])
    assert (f["path"], f["reachable"], f["commit"]) == ("wip.env", "index", None)


def test_range_and_since_report_only_what_those_commits_add(repo: Path, keys: list[str]) -> None:
    base = commit(repo, {"a.env": env_line(keys[0])})
    commit(repo, {"a.env": env_line(keys[0]) + "X=1\n"})  # touches a file with an old key
    commit(repo, {"b.env": env_line(keys[1])})
    commit(repo, {"b.env": None})  # added and removed inside the range: still pushed
    for args in (("--range", f"{base}..HEAD"), ("--since", base), ("--range", f"{base}...HEAD")):
        code, doc, _ = cg_json(repo, "history", *args)
        assert code == 1, args
        assert [f["redacted"] for f in doc["findings"]] == [red(keys[1])], args
    code, doc, _ = cg_json(repo, "history", "--range", "HEAD~1..HEAD")
    assert code == 0
    # a new branch in CI has an all-zero base: its whole history
    code, doc, _ = cg_json(repo, "history", "--range", f"{'0' * 40}..HEAD")
    assert sorted(f["redacted"] for f in doc["findings"]) == sorted([red(keys[0]), red(keys[1])])


def test_range_errors_are_one_line(repo: Path) -> None:
    commit(repo, {"a": "a\n"})
    for args in (("--range", "nope..HEAD"), ("--since", "nope"), ("--range", "HEAD~1..HEAD", "--since", "HEAD"),
                 ("--range", "HEAD", "--reachable-only")):
        r = cg(repo, "history", *args)
        assert r.code == 2, args
        assert len(r.err.strip().splitlines()) == 1 and r.err.startswith("cexguard: error:"), r.err


def test_bare_repository_and_worktree(tmp_path: Path, keys: list[str]) -> None:
    src = make_repo(tmp_path / "src")
    commit(src, {"k.env": env_line(keys[0])})
    commit(src, {"k.env": None})
    bare = tmp_path / "mirror.git"
    git(tmp_path, "clone", "-q", "--bare", str(src), str(bare))
    code, doc, _ = cg_json(tmp_path, "history", str(bare))
    assert code == 1 and one(doc, keys[0])["path"] == "k.env"
    git(src, "worktree", "add", "-q", str(tmp_path / "wt"))
    code, doc, _ = cg_json(tmp_path / "wt", "history")
    assert code == 1 and one(doc, keys[0])["path"] == "k.env"


def test_shallow_clone_says_history_is_truncated(tmp_path: Path, keys: list[str]) -> None:
    src = make_repo(tmp_path / "src")
    commit(src, {"old.env": env_line(keys[0])})
    commit(src, {"old.env": None})
    commit(src, {"new.env": env_line(keys[1])})
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{src}", "shallow")
    r = cg(tmp_path / "shallow", "history")
    assert r.code == 1
    assert "shallow" in r.err and "truncated" in r.err
    _, doc, _ = cg_json(tmp_path / "shallow", "history")
    assert doc["stats"]["history_truncated"] is True
    assert by_value(doc, keys[1]) and not by_value(doc, keys[0])
    r = cg(tmp_path / "shallow", "history", "--range", "HEAD~3..HEAD")
    assert r.code == 2 and "shallow" in r.err


def test_partial_clone_counts_missing_objects_and_never_fetches(tmp_path: Path, keys: list[str]) -> None:
    src = make_repo(tmp_path / "src")
    git(src, "config", "uploadpack.allowFilter", "true")
    commit(src, {"old.env": env_line(keys[0])})
    commit(src, {"old.env": None})
    commit(src, {"head.env": env_line(keys[1])})
    git(tmp_path, "clone", "-q", "--filter=blob:none", f"file://{src}", "partial")
    part = tmp_path / "partial"
    before = git(part, "count-objects", "-v")
    r = cg(part, "history")
    assert r.code == 1, r.err
    assert "missing" in r.err and "Traceback" not in r.err
    code, doc, _ = cg_json(part, "history")
    assert code == 1
    assert doc["stats"]["missing_objects"] >= 1
    assert by_value(doc, keys[1]) and not by_value(doc, keys[0])
    assert git(part, "count-objects", "-v") == before  # nothing was fetched
    _, doc, _ = cg_json(part, "history", "--reachable-only")
    assert doc["stats"]["missing_objects"] >= 1 and by_value(doc, keys[1])


def test_missing_object_in_a_damaged_repository_is_reported_not_a_crash(repo: Path, keys: list[str]) -> None:
    commit(repo, {"k.env": env_line(keys[0])})
    commit(repo, {"other.txt": "x\n"})
    blob = git(repo, "rev-parse", "HEAD:other.txt").strip()
    (repo / ".git" / "objects" / blob[:2] / blob[2:]).unlink()
    r = cg(repo, "history", "--reachable-only")
    assert r.code == 1, r.err
    assert "Traceback" not in r.err and "missing" in r.err


def test_empty_repository_and_not_a_repository(tmp_path: Path) -> None:
    empty = make_repo(tmp_path / "empty")
    code, doc, _ = cg_json(empty, "history")
    assert code == 0 and doc["findings"] == []
    assert cg(empty, "history", "--reachable-only").code == 0
    r = cg(tmp_path, "history")
    assert r.code == 2
    assert r.err.strip() == f"cexguard: error: not a git repository: {tmp_path}"
    r = cg(tmp_path, "history", str(tmp_path / "nope"))
    assert r.code == 2 and "Traceback" not in r.err


def test_submodules_only_when_asked(tmp_path: Path, keys: list[str]) -> None:
    sub = make_repo(tmp_path / "lib")
    commit(sub, {"lib.env": env_line(keys[0])})
    top = make_repo(tmp_path / "top")
    commit(top, {"README.md": "x\n"})
    git(top, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(sub), "vendor/lib")
    git(top, "commit", "-q", "-m", "add submodule")
    code, doc, _ = cg_json(top, "history")
    assert code == 0 and doc["findings"] == []
    code, doc, _ = cg_json(top, "history", "--recurse-submodules")
    assert code == 1
    f = one(doc, keys[0])
    assert f["path"] == "vendor/lib/lib.env" and f["submodule"] == "vendor/lib"


def test_pre_push_checks_only_the_commits_being_pushed(tmp_path: Path, keys: list[str]) -> None:
    remote = make_repo(tmp_path / "remote.git", bare=True)
    repo = make_repo(tmp_path / "repo")
    commit(repo, {"old.env": env_line(keys[0])})
    git(repo, "remote", "add", "origin", str(remote))
    git(repo, "push", "-q", "origin", "main")
    pushed = git(repo, "rev-parse", "HEAD").strip()
    commit(repo, {"new.env": env_line(keys[1])})
    head = git(repo, "rev-parse", "HEAD").strip()
    stdin = f"refs/heads/main {head} refs/heads/main {pushed}\n"
    code, doc, _ = cg_json(repo, "history", "--pre-push", "--remote", "origin", stdin=stdin)
    assert code == 1
    assert [f["redacted"] for f in doc["findings"]] == [red(keys[1])]
    # pre-commit's pre-push stage passes the range in its environment
    code, doc, _ = cg_json(repo, "history", "--pre-push",
                           env={"PRE_COMMIT_FROM_REF": pushed, "PRE_COMMIT_TO_REF": head})
    assert [f["redacted"] for f in doc["findings"]] == [red(keys[1])]
    # deleting a remote branch pushes nothing
    code, doc, _ = cg_json(repo, "history", "--pre-push", stdin=f"(delete) {'0' * 40} refs/heads/x {pushed}\n")
    assert code == 0


def test_progress_bar_only_on_a_tty(repo: Path, keys: list[str]) -> None:
    commit(repo, {"k.env": env_line(keys[0])})
    r = cg(repo, "history")  # stderr is a pipe here
    assert "\r" not in r.err and "ETA" not in r.err
    buf = io.StringIO()
    bar = Progress(enabled=True, stream=buf)
    bar.set_total(200, 2 * 1024**3)
    bar._start -= 2.0
    bar.update(100, 1024**3)
    line = bar.line()
    assert "100/200 blobs" in line and "1.0 GB/2.0 GB" in line and "ETA 0:02" in line and "50%" in line
    bar.close()
    assert buf.getvalue().startswith("\r")
    silent = io.StringIO()
    Progress(enabled=False, stream=silent).update(1, 1)
    assert silent.getvalue() == ""


@pytest.mark.parametrize("fmt", ["github", "gitlab", "junit", "sarif", "text"])
def test_history_formats_never_leak_the_secret(repo: Path, keys: list[str], fmt: str) -> None:
    commit(repo, {"k.env": env_line(keys[0])})
    r = cg(repo, "history", "--format", fmt)
    assert r.code == 1
    assert keys[0] not in r.out + r.err


def test_progress_phase_shows_its_name_and_elapsed_time() -> None:
    """A long phase without counts (provenance) is never a silent wait: its name, then seconds taken."""
    buf = io.StringIO()
    bar = Progress(enabled=True, stream=buf)
    bar.note("cexguard: provenance: finding the commits behind 3 blob(s) with findings...")
    bar._phase_start -= 5.0  # as if the phase began five seconds ago
    import time

    time.sleep(0.7)  # one tick of the redraw thread
    bar.update(1, 10)  # a counted phase replaces it
    line = bar.line()
    bar.close()
    out = buf.getvalue()
    import re

    assert re.search(r"provenance: finding the commits behind 3 blob\(s\) with findings\.\.\. [5-9]s", out)
    assert line.startswith("reading ")
