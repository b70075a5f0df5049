"""History judges a blob at each path that holds it: the same content is a finding at one path and not
at another (a path naming another exchange), as a scan of each file would say."""
from __future__ import annotations

from pathlib import Path

from tests.git.conftest import cg_json, commit, git


def test_one_blob_under_two_paths_is_reported_at_the_path_that_makes_it_a_finding(repo: Path, keys: list[str]) -> None:
    """(The full audit reads each blob without a path: its findings there were once reported at every
    path holding it, here Lambdaplex's folder too.)"""
    text = f'api_key = "{keys[0]}"\napi_secret = "{keys[1]}"\n'  # no exchange named in the text
    commit(repo, {"bots/main/keys.py": text, "bots/lambdaplex/keys.py": text}, "two copies")
    blobs = {line.split()[2] for line in git(repo, "ls-tree", "-r", "HEAD").splitlines()}
    assert len(blobs) == 1  # one blob, two paths
    code, scan, _ = cg_json(repo, "scan", ".")
    code_h, doc, _ = cg_json(repo, "history")
    assert code == code_h == 1
    at = sorted((f["path"], f["fingerprint"]) for f in scan["findings"])
    assert {p for p, _ in at} == {"bots/main/keys.py"}  # Lambdaplex's folder: Lambdaplex's keys
    assert sorted((f["path"], f["fingerprint"]) for f in doc["findings"]) == at
