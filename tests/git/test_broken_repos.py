"""Damaged and hostile repositories, built here: a deleted object, a corrupt object header and body,
a tree entry named `../../../x.env`, a partial clone. The audit goes on past every bad object, names
what it could not read in every format, and never calls the result clean (exit 4 when nothing else
is found). Plus text that tries to pass as binary, and a blob of one key repeated a million times."""
from __future__ import annotations

import binascii
import json
import os
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT, new_key
from tests.git.conftest import cg, commit, env_line, git, make_repo, write
from tests.test_robust import repeated_key_file, run_measured


def red(key: str) -> str:
    return f"{key[:4]}...{key[-4:]}"


def audit(repo: Path, *args: str) -> tuple[int, dict[str, Any]]:
    r = cg(repo, "history", *args, "--format", "json")
    assert r.code in (0, 1, 4), (r.code, r.err)
    assert "Traceback" not in r.err
    return r.code, json.loads(r.out)


def found(doc: dict[str, Any]) -> set[str]:
    return {f["redacted"] for f in doc["findings"]}


def loose(repo: Path, oid: str) -> Path:
    p = repo / ".git" / "objects" / oid[:2] / oid[2:]
    assert p.exists(), "the object must be loose for this test"
    p.chmod(0o644)
    return p


def corrupt_header(repo: Path, oid: str) -> None:
    loose(repo, oid).write_bytes(b"\x12\x34" + os.urandom(40))  # not even a zlib stream


def corrupt_body(repo: Path, oid: str, size: int) -> None:
    """A valid zlib start (git reads the header and announces the object), then garbage: git stops
    in the middle of writing it out ("unable to stream")."""
    z = zlib.compressobj()
    head = z.compress(b"blob %d\0" % size + b"x" * 100) + z.flush(zlib.Z_SYNC_FLUSH)
    loose(repo, oid).write_bytes(head + b"\xff" * 64)


def blob_of(repo: Path, rev_path: str) -> str:
    return git(repo, "rev-parse", rev_path).strip()


def items(doc: dict[str, Any]) -> list[str]:
    return doc["stats"]["unreadable"]["items"]


# -- missing objects ------------------------------------------------------------------------------

def test_a_deleted_object_is_named_and_a_repository_with_nothing_else_exits_4(repo: Path) -> None:
    k = new_key()
    commit(repo, {"a.env": env_line(k)})
    commit(repo, {"notes.txt": "plain text\n"})
    lost = blob_of(repo, "HEAD:notes.txt")
    loose(repo, lost).unlink()
    for mode in ((), ("--reachable-only",)):
        code, doc = audit(repo, *mode)
        assert code == 1 and found(doc) == {red(k)}  # the findings stay, and the report says incomplete
        assert doc["stats"]["incomplete"] is True and doc["stats"]["missing_objects"] == 1
        assert any(x.startswith(lost) for x in items(doc)), (mode, items(doc))
    loose(repo, blob_of(repo, "HEAD:a.env")).unlink()  # now the only key is gone too
    code, doc = audit(repo)
    assert code == 4 and doc["findings"] == [] and doc["stats"]["unreadable"]["count"] == 2
    r = cg(repo, "history")
    assert r.code == 4 and "INCOMPLETE" in r.out and lost in r.out


def test_a_corrupt_object_header_is_not_a_clean_result(repo: Path) -> None:
    k = new_key()
    commit(repo, {"deploy/.env": env_line(k)})
    bad = blob_of(repo, "HEAD:deploy/.env")
    corrupt_header(repo, bad)
    for mode in ((), ("--reachable-only",)):
        code, doc = audit(repo, *mode)
        assert code == 4 and doc["findings"] == [], mode
        assert any(x.startswith(bad) for x in items(doc)), (mode, items(doc))


def test_a_corrupt_object_body_is_skipped_and_every_other_blob_still_read(repo: Path) -> None:
    keys = [new_key() for _ in range(6)]
    commit(repo, {"big.txt": "x" * 5000 + "\n"})  # committed first: read first with --reachable-only
    for i, k in enumerate(keys):
        commit(repo, {f"k{i}.env": env_line(k)})
    bad = blob_of(repo, "HEAD:big.txt")
    corrupt_body(repo, bad, 5001)
    for mode in ((), ("--reachable-only",), ("--range", "HEAD")):  # (a lone commit: its whole history)
        code, doc = audit(repo, *mode)
        assert code == 1 and found(doc) == {red(k) for k in keys}, mode
        assert doc["stats"]["incomplete"] is True
        assert [x for x in items(doc) if x.startswith(bad)] == [f"{bad} (corrupt: "
                                                                  "inflate: data stream error (invalid block type))"]
    code, doc = audit(repo, "--range", "HEAD~6..HEAD")  # a range without the corrupt blob is complete
    assert code == 1 and found(doc) == {red(k) for k in keys} and doc["stats"]["incomplete"] is False


def test_the_corrupt_blob_being_the_only_key_exits_4_in_every_format(repo: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    commit(repo, {"a.txt": "x" * 3000 + "\n"})
    bad = blob_of(repo, "HEAD:a.txt")
    corrupt_body(repo, bad, 3001)
    outputs = {}
    for fmt in ("text", "json", "sarif", "github", "gitlab", "junit"):
        r = cg(repo, "history", "--format", fmt)
        assert r.code == 4, (fmt, r.err)
        assert bad in r.out, fmt
        outputs[fmt] = r.out
    assert "INCOMPLETE" in outputs["text"]
    assert json.loads(outputs["json"])["stats"]["incomplete"] is True
    sarif = json.loads(outputs["sarif"])
    jsonschema.validate(sarif, json.loads((REPO_ROOT / "fixtures" / "schemas" / "sarif-schema-2.1.0.json").read_text()))
    [inv] = sarif["runs"][0]["invocations"]
    assert inv["executionSuccessful"] is False
    assert any(bad in n["message"]["text"] for n in inv["toolExecutionNotifications"])
    assert outputs["github"].startswith("::error title=cexguard%3A scan incomplete::")
    gl = json.loads(outputs["gitlab"])
    assert gl["scan"]["status"] == "failure" and any(bad in m["value"] for m in gl["scan"]["messages"])
    suite = ET.fromstring(outputs["junit"])
    assert suite.get("errors") == "1" and suite.find(".//error") is not None


def test_a_clean_repository_is_complete_in_every_format(repo: Path) -> None:
    commit(repo, {"a.txt": "hello\n"})
    code, doc = audit(repo)
    assert code == 0 and doc["stats"]["incomplete"] is False
    sarif = json.loads(cg(repo, "history", "--format", "sarif").out)
    assert sarif["runs"][0]["invocations"] == [{"executionSuccessful": True}]
    assert json.loads(cg(repo, "history", "--format", "gitlab").out)["scan"]["status"] == "success"
    assert ET.fromstring(cg(repo, "history", "--format", "junit").out).get("errors") == "0"


def test_many_unreadable_objects_are_all_counted_and_the_first_ones_named(repo: Path) -> None:
    commit(repo, {f"f{i}.txt": f"file {i}\n" for i in range(130)})
    for i in range(130):
        loose(repo, blob_of(repo, f"HEAD:f{i}.txt")).unlink()
    code, doc = audit(repo)
    assert code == 4
    assert doc["stats"]["unreadable"]["count"] == 130 and len(items(doc)) == 100
    r = cg(repo, "history")
    assert "... and 110 more" in r.out  # the text report names 20


@pytest.mark.parametrize("damage", ["header", "body"])
def test_a_corrupt_tree_stops_no_audit(repo: Path, damage: str) -> None:
    k = new_key()
    commit(repo, {"lib/a.py": "x = 1\n" * 400, "lib/b.py": "y = 2\n"})
    commit(repo, {"k.env": env_line(k)})
    tree = blob_of(repo, "HEAD:lib")
    if damage == "header":
        corrupt_header(repo, tree)
    else:
        z = zlib.compressobj()
        loose(repo, tree).write_bytes(z.compress(b"tree 500\0" + b"1" * 100) + z.flush(zlib.Z_SYNC_FLUSH) + b"\xff" * 64)
    for mode in ((), ("--reachable-only",)):
        code, doc = audit(repo, *mode)
        assert code == 1 and found(doc) == {red(k)}, mode  # git's walks stop at the tree; the blobs are read
        assert doc["stats"]["incomplete"] is True
        assert any(tree in x for x in items(doc)), (mode, items(doc))


# -- hostile trees ---------------------------------------------------------------------------------

def test_a_tree_entry_named_dot_dot_is_audited_not_a_crash(repo: Path) -> None:
    k, k2 = new_key(), new_key()
    commit(repo, {"a.env": env_line(k)})
    blob = git(repo, "hash-object", "-w", "--stdin", input=f'binance_secret = "{k2}"\n').strip()
    entry = b"100644 ../../../x.env\0" + binascii.unhexlify(blob)
    tree = write_tree_literally(repo, entry)
    evil = git(repo, "commit-tree", tree, "-p", "HEAD", "-m", "evil").strip()
    git(repo, "update-ref", "refs/heads/evil", evil)
    for mode in ((), ("--reachable-only",), ("--range", "main..evil")):
        code, doc = audit(repo, *mode)
        assert code == 1, mode
        assert red(k2) in found(doc), mode
        assert "../../../x.env" in {f["path"] for f in doc["findings"]}, mode
    git(repo, "update-ref", "HEAD", evil)  # HEAD itself holds the entry
    code, doc = audit(repo)
    assert code == 1 and red(k2) in found(doc)


def write_tree_literally(repo: Path, tree_body: bytes) -> str:
    """Write a tree object as given (git mktree refuses such names; --literally does not check)."""
    import subprocess

    from tests.git.conftest import GIT_ENV

    p = subprocess.run(["git", "hash-object", "-t", "tree", "-w", "--literally", "--stdin"], cwd=repo,
                       input=tree_body, capture_output=True, env=dict(os.environ, **GIT_ENV), check=True)
    return p.stdout.decode().strip()


# -- partial clones ------------------------------------------------------------------------------

def test_partial_clone_range_counts_missing_blobs_and_never_fetches(tmp_path: Path) -> None:
    k_old, k_head = new_key(), new_key()
    src = make_repo(tmp_path / "src")
    git(src, "config", "uploadpack.allowFilter", "true")
    base = commit(src, {"README": "hi\n"})
    commit(src, {"old.env": env_line(k_old)})
    commit(src, {"old.env": None, "head.env": env_line(k_head)})
    git(tmp_path, "-c", "protocol.file.allow=always", "clone", "-q", "--filter=blob:none", f"file://{src}", "partial")
    part = tmp_path / "partial"
    old_blob = blob_of(src, "HEAD~1:old.env")
    before = git(part, "count-objects", "-v")
    code, doc = audit(part, "--range", f"{base}..HEAD")
    assert code == 1 and found(doc) == {red(k_head)}
    assert doc["stats"]["incomplete"] is True and any(x.startswith(old_blob) for x in items(doc))
    code, doc = audit(part, "--range", f"{base}..HEAD~1")  # only the commit whose blob is missing
    assert code == 4 and doc["findings"] == []
    assert items(doc) == [f"{old_blob} (missing: not in this partial clone, never fetched)"]
    code, doc = audit(part)
    assert code == 1 and doc["stats"]["incomplete"] is True and any(x.startswith(old_blob) for x in items(doc))
    assert git(part, "count-objects", "-v") == before  # nothing was fetched


# -- text that looks binary, in staged and history -------------------------------------------------

NUL_ENV = b"#\0\nBINANCE_API_KEY=%s\n"
BOM_ASCII = b'\xff\xfe\x00\xdc\nbinance_secret = "%s"\n'


def test_nul_byte_and_fake_utf16_files_are_found_in_staged_and_history(repo: Path) -> None:
    k1, k2 = new_key(), new_key()
    commit(repo, {"README": "hi\n"})
    (repo / ".env").write_bytes(NUL_ENV % k1.encode())
    (repo / "conf.py").write_bytes(BOM_ASCII % k2.encode())
    git(repo, "add", ".env", "conf.py")
    r = cg(repo, "staged", "--format", "json")
    assert r.code == 1, r.err
    assert found(json.loads(r.out)) == {red(k1), red(k2)}
    git(repo, "commit", "-qm", "add")
    for mode in ((), ("--range", "HEAD~1..HEAD")):
        code, doc = audit(repo, *mode)
        assert code == 1 and found(doc) == {red(k1), red(k2)}, mode


def test_a_staged_object_that_cannot_be_read_is_reported(repo: Path) -> None:
    commit(repo, {"README": "hi\n"})
    write(repo, "big.txt", "y" * 3000 + "\n")
    git(repo, "add", "big.txt")
    blob = blob_of(repo, ":big.txt")
    corrupt_body(repo, blob, 3001)
    write(repo, "big.txt", "changed in the work tree\n")  # so the hook must read the staged object
    r = cg(repo, "staged", "--format", "json")
    assert r.code == 4, r.err
    assert json.loads(r.out)["stats"]["unreadable"]["items"][0].startswith(blob)


# -- a compressible blob of one repeated key ---------------------------------------------------------

def test_a_30mb_blob_of_one_repeated_key_is_one_finding_in_bounded_memory(repo: Path) -> None:
    k = repeated_key_file(repo / "dump.env")
    git(repo, "add", "dump.env")
    git(repo, "commit", "-qm", "dump")
    (repo / "dump.env").unlink()
    lines = len(git(repo, "cat-file", "-p", "HEAD:dump.env").splitlines())
    code, peak_mb, out = run_measured("history", "--format", "json", "-q", cwd=repo)
    assert code == 1
    [f] = json.loads(out)["findings"]
    assert (f["redacted"], f["path"], f["line"], f["count"]) == (red(k), "dump.env", 1, lines)
    assert peak_mb < 400, f"peak RSS {peak_mb} MB"
