"""The full audit maps blobs with findings to commits from one read of every tree (treeprov.py), not a
diff of the whole history: every path a blob ever sits at is found (copies, renamed folders, two
names in one tree, side branches, merges, reflog-only commits), and the findings are the same, field
for field, as those the whole-history log gives."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from scanner.config import Config
from scanner.models import ScanStats
from scanner.rules import build_engine
from scanner.sources import history, treeprov
from scanner.sources.git import open_repo
from tests.git.conftest import commit, env_line, git, make_repo


def _audit(repo: Path, monkeypatch: pytest.MonkeyPatch, *, whole_log: bool) -> tuple[list[dict[str, Any]], list[str]]:
    """Findings (as the JSON report has them) and the errors, by the tree search or, with `whole_log`,
    by the whole-history log; the tree search must have answered when it is asked."""
    answered: list[bool] = []
    real = treeprov.TreeSearch.events

    def events(self, want):  # type: ignore[no-untyped-def]
        got = None if whole_log else real(self, want)
        answered.append(got is not None)
        return got

    with monkeypatch.context() as m:
        m.setattr(treeprov.TreeSearch, "events", events)
        stats = ScanStats()
        found = history.audit(open_repo(repo), build_engine(Config()), stats, max_size=1 << 20)
    assert answered == [not whole_log]
    return sorted((f.to_dict() for f in found), key=lambda d: (d["path"], d["fingerprint"])), stats.errors


def _history(repo: Path, keys: list[str]) -> dict[str, str]:
    """A history where keys sit at several paths; returns the notable commits."""
    k0, k1, k2, k3 = (env_line(k) for k in keys[:4])
    c: dict[str, str] = {}
    c["first"] = commit(repo, {"app/conf.env": k0, "README": "x\n"}, "first", date="2021-01-01T00:00:00+00:00")
    # the same blob copied to a second path, later, under another name
    c["copy"] = commit(repo, {"backup/old.env": k0}, "copy", date="2021-02-01T00:00:00+00:00")
    # a folder holding a key, then renamed with nothing else changed (one tree at two paths)
    commit(repo, {"svc/a/keys.env": k1, "svc/a/other.txt": "o\n"}, "svc", date="2021-03-01T00:00:00+00:00")
    git(repo, "mv", "svc/a", "svc/b")
    c["rename"] = commit(repo, {}, "rename folder", date="2021-04-01T00:00:00+00:00")
    # two names for one blob in one tree, and an executable-bit change of a file holding a key
    commit(repo, {"two/x.env": k2, "two/y.env": k2}, "two names", date="2021-05-01T00:00:00+00:00")
    os.chmod(repo / "two" / "x.env", 0o755)
    git(repo, "add", "two/x.env")
    c["chmod"] = commit(repo, {}, "chmod", date="2021-05-02T00:00:00+00:00")
    # deleted later
    c["delete"] = commit(repo, {"app/conf.env": None}, "delete", date="2021-06-01T00:00:00+00:00")
    # a side branch only, and a side branch merged (the merge adds it against the first parent)
    git(repo, "checkout", "-q", "-b", "side")
    commit(repo, {"side/only.env": k3}, "side only", date="2021-07-01T00:00:00+00:00")
    git(repo, "checkout", "-q", "-b", "feature", "main")
    commit(repo, {"feature/f.env": k1 + k2}, "feature", date="2021-07-02T00:00:00+00:00")
    git(repo, "checkout", "-q", "main")
    commit(repo, {"main.txt": "m\n"}, "main moves", date="2021-07-03T00:00:00+00:00")
    git(repo, "merge", "-q", "--no-ff", "-m", "merge feature", "feature",
        env={"GIT_AUTHOR_DATE": "2021-07-04T00:00:00+00:00", "GIT_COMMITTER_DATE": "2021-07-04T00:00:00+00:00"})
    git(repo, "branch", "-D", "feature")
    # a key file replaced by a folder of the same name holding the key
    commit(repo, {"svc/b/keys.env": None}, "drop", date="2021-08-01T00:00:00+00:00")
    commit(repo, {"svc/b/keys.env/inner.env": k1}, "folder", date="2021-08-02T00:00:00+00:00")
    # a commit only the reflog reaches
    commit(repo, {"gone/reflog.env": k3 + k0}, "reset away", date="2021-09-01T00:00:00+00:00")
    git(repo, "reset", "-q", "--hard", "HEAD~1")
    return c


def test_every_path_a_blob_sits_at_is_found_and_the_findings_equal_the_whole_history_logs(
        tmp_path: Path, keys: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    repo = make_repo(tmp_path / "r")
    c = _history(repo, keys)
    git(repo, "tag", "-a", "-m", "v1", "v1", c["copy"])  # refs holding some commits and not others
    git(repo, "branch", "old", c["rename"])
    got, errors = _audit(repo, monkeypatch, whole_log=False)
    want, want_errors = _audit(repo, monkeypatch, whole_log=True)
    assert got == want
    assert errors == want_errors == []
    at = {(f["path"], f["commit"]) for f in got}
    # the copy, the renamed folder, both names, the side branch, the merge's feature, the folder that
    # replaced a file, the reflog-only commit
    for path in ("app/conf.env", "backup/old.env", "svc/a/keys.env", "svc/b/keys.env", "two/x.env", "two/y.env",
                 "side/only.env", "feature/f.env", "svc/b/keys.env/inner.env", "gone/reflog.env"):
        assert any(p == path for p, _ in at), path
    assert ("backup/old.env", c["copy"]) in at  # not the first commit holding the blob: the one adding it here
    assert ("svc/b/keys.env", c["rename"]) in at
    by_path = {f["path"]: f for f in got}
    assert by_path["app/conf.env"]["removed_in"] == c["delete"]
    assert by_path["two/x.env"]["occurrences"]["commits"] == 2  # added, then its mode changed
    assert by_path["gone/reflog.env"]["reachable"] == "reflog"
    assert by_path["backup/old.env"]["refs"] == ["refs/heads/main", "refs/heads/old", "refs/heads/side",
                                                 "refs/tags/v1"]
    assert by_path["side/only.env"]["refs"] == ["refs/heads/side"]


def test_a_store_with_an_unreachable_commit_and_a_bare_mirror_give_the_same_findings(
        tmp_path: Path, keys: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    repo = make_repo(tmp_path / "r")
    _history(repo, keys)
    git(repo, "reflog", "expire", "--expire=now", "--all")  # the reset-away commit: unreachable now
    got, _ = _audit(repo, monkeypatch, whole_log=False)
    assert got == _audit(repo, monkeypatch, whole_log=True)[0]
    assert any(f["reachable"] == "unreachable" and f["path"] == "gone/reflog.env" for f in got)
    mirror = tmp_path / "m.git"
    git(tmp_path, "clone", "-q", "--mirror", str(repo), str(mirror))
    got, _ = _audit(mirror, monkeypatch, whole_log=False)
    assert got == _audit(mirror, monkeypatch, whole_log=True)[0]
    assert {f["path"] for f in got} >= {"backup/old.env", "svc/b/keys.env", "feature/f.env"}


def test_blobs_filling_too_many_trees_are_mapped_by_the_whole_history_log_with_the_same_findings(
        tmp_path: Path, keys: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """(Thousands of key files kept over many versions: the tree search declines after its first pass,
    here made to by its cost model.)"""
    repo = make_repo(tmp_path / "r")
    _history(repo, keys)
    want, _ = _audit(repo, monkeypatch, whole_log=True)
    monkeypatch.setattr(treeprov, "_SLOT_FLOOR", 0.0)
    monkeypatch.setattr(treeprov, "_SLOT_COST", 1.0)
    declined: list[bool] = []
    real = treeprov.TreeSearch.events

    def events(self, w):  # type: ignore[no-untyped-def]
        got = real(self, w)
        declined.append(got is None)
        return got

    monkeypatch.setattr(treeprov.TreeSearch, "events", events)
    found = history.audit(open_repo(repo), build_engine(Config()), ScanStats(), max_size=1 << 20)
    assert declined == [True]
    assert sorted((f.to_dict() for f in found), key=lambda d: (d["path"], d["fingerprint"])) == want
    assert len(want) >= 10
