"""Findings only a path supports, in the history audit. A private key with no exchange word around it is
reported when its file is named as Binance's key-generation docs name key files (`test-prv-key.pem`):
`scan` always judged it with its path, but the history audit judges each blob before it knows any path,
and used to map to paths only the blobs with findings, so it never reported such a key."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.git.conftest import cg, commit, git


def _rsa_pem() -> str:
    k = rsa.generate_private_key(65537, 2048)
    return k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                           serialization.NoEncryption()).decode()


def _findings(repo: Path, *args: str) -> list[dict]:  # type: ignore[type-arg]
    r = cg(repo, "history", ".", "--format", "json", *args)
    assert r.code in (0, 1), r.err
    return json.loads(r.out)["findings"]  # type: ignore[no-any-return]


def _keys(found: list[dict]) -> list[tuple[str, str]]:  # type: ignore[type-arg]
    return sorted((f["rule"], f["path"]) for f in found if f["rule"] == "private-key")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    r = tmp_path / "r"
    r.mkdir()
    git(r, "init", "-q", "-b", "main")
    commit(r, {"README.md": "tools\n"}, "start")
    return r


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_key_file_in_history_is_reported_where_scan_reports_it(repo: Path, jobs: str) -> None:
    key = _rsa_pem()
    added = commit(repo, {"keys/test-prv-key.pem": key, "tls/server.pem": _rsa_pem()}, "keys")
    on_disk = json.loads(cg(repo, "scan", ".", "--format", "json").out)["findings"]
    assert _keys(on_disk) == [("private-key", "keys/test-prv-key.pem")]  # (a TLS key is not reported)
    gone = commit(repo, {"keys/test-prv-key.pem": None}, "remove it")
    found = _findings(repo, "-j", jobs)
    assert _keys(found) == [("private-key", "keys/test-prv-key.pem")]
    f = next(f for f in found if f["rule"] == "private-key")
    assert f["commit"] == added and f["removed_in"] == gone and f["present_at_head"] is False
    assert f["reachable"] == "refs"


def test_a_key_file_renamed_away_is_reported_at_the_key_file_name_only(repo: Path) -> None:
    commit(repo, {"test-prv-key.pem": _rsa_pem()}, "key")
    git(repo, "mv", "test-prv-key.pem", "server.pem")
    moved = commit(repo, {}, "rename")
    found = _findings(repo)
    assert _keys(found) == [("private-key", "test-prv-key.pem")]
    assert next(f for f in found if f["rule"] == "private-key")["removed_in"] == moved


def test_a_staged_key_file_is_reported_as_staged(repo: Path) -> None:
    (repo / "test-prv-key.pem").write_text(_rsa_pem())
    git(repo, "add", "test-prv-key.pem")
    found = _findings(repo)
    assert _keys(found) == [("private-key", "test-prv-key.pem")]
    assert next(f for f in found if f["rule"] == "private-key")["reachable"] == "index"


def test_a_key_file_added_in_a_range_is_reported(repo: Path) -> None:
    base = git(repo, "rev-parse", "HEAD").strip()
    commit(repo, {"deploy/test-prv-key.pem": _rsa_pem()}, "key in a branch")
    assert _keys(_findings(repo, "--range", f"{base}..HEAD")) == [("private-key", "deploy/test-prv-key.pem")]


def test_a_private_key_in_no_key_file_stays_unreported(repo: Path) -> None:
    commit(repo, {"certs/server.pem": _rsa_pem(), "certs/other.key": _rsa_pem()}, "tls")
    assert _keys(_findings(repo)) == []


def test_exclude_drops_history_findings_at_matching_paths(repo: Path) -> None:
    """`history --exclude GLOB` (the user's own globs) skips findings at matching paths, counted and listed
    as `scan` lists them; the rest of the report is unchanged."""
    from tests.conftest import new_key

    commit(repo, {"vendor/sdk/.env": f"BINANCE_API_KEY={new_key()}\n", "app/.env": f"BINANCE_API_KEY={new_key()}\n"})
    every = sorted(f["path"] for f in _findings(repo))
    assert every == ["app/.env", "vendor/sdk/.env"]
    r = cg(repo, "history", ".", "--format", "json", "--exclude", "vendor", "-v")
    doc = json.loads(r.out)
    assert r.code == 1 and [f["path"] for f in doc["findings"]] == ["app/.env"]
    assert doc["stats"]["skipped"]["excluded"] == 1 and "cexguard: excluded: vendor/sdk/.env" in r.err
