"""File names, commit authors and refs are attacker-chosen: they must not reach a terminal as escape
sequences (clear screen, OSC 52 clipboard writes, bidi overrides), and a name that is not UTF-8
must not crash any format. JSON, SARIF and GitLab carry such names as valid Unicode."""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import unquote_to_bytes

import pytest

from tests.conftest import REPO_ROOT, git, new_key

FORMATS = ("text", "json", "sarif", "github", "gitlab", "junit")
# what must never appear raw: ESC, BEL, CSI as a C1 character (UTF-8) or as a bare byte, RLO, LRI
RAW = (b"\x1b", b"\x07", b"\xc2\x9b", b"\x9b", b"\xe2\x80\xae", b"\xe2\x81\xa6")
ESC_NAME = b"esc\x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J\xc2\x9b31m\xe2\x80\xaevne.txt"  # OSC 52, clear, CSI, RLO
BAD_NAME = b"bad\xff\xfe\x9b name.env"  # not UTF-8


def run_bytes(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """The real command; stdout/stderr as bytes, with a strict UTF-8 stdout as in a UTF-8 locale."""
    e = dict(os.environ, PYTHONPATH=str(REPO_ROOT), PYTHONIOENCODING="utf-8:strict")
    e.pop("CEXGUARD_API_URL", None)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "scanner", *args], cwd=cwd, env=e, capture_output=True,
                          timeout=600)


def plant(folder: Path, name: bytes) -> tuple[str, str]:
    key, secret = new_key(), new_key()
    with open(os.path.join(os.fsencode(folder), name), "wb") as fh:
        fh.write(f'BINANCE_API_KEY="{key}"\nBINANCE_API_SECRET="{secret}"\n'.encode())
    return key, secret


def assert_no_raw_escapes(data: bytes) -> None:
    for raw in RAW:
        assert raw not in data, (raw, data[:400])


def strings(obj: Any) -> list[str]:
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [s for k, v in obj.items() for s in [*strings(k), *strings(v)]]
    if isinstance(obj, list):
        return [s for v in obj for s in strings(v)]
    return []


@pytest.fixture
def hostile_tree(tmp_path: Path) -> Path:
    d = tmp_path / "tree"
    d.mkdir()
    plant(d, ESC_NAME)
    plant(d, BAD_NAME)
    return d


@pytest.mark.parametrize("fmt", FORMATS)
def test_hostile_names_in_every_format(hostile_tree: Path, fmt: str) -> None:
    p = run_bytes("scan", ".", "--format", fmt, "-j", "1", cwd=hostile_tree)
    assert p.returncode == 1, p.stderr.decode(errors="replace")
    assert b"Traceback" not in p.stderr
    assert_no_raw_escapes(p.stdout)
    assert_no_raw_escapes(p.stderr)
    out = p.stdout.decode("utf-8")  # valid UTF-8 whatever the names held
    if fmt in ("json", "sarif", "gitlab"):
        doc = json.loads(out, strict=True)
        for s in strings(doc):
            s.encode("utf-8")  # no lone surrogates anywhere
    if fmt == "json":
        paths = {f["path"]: f.get("path_bytes_b64") for f in json.loads(out)["findings"]}
        assert paths["bad\\xff\\xfe\\x9b name.env"] == base64.b64encode(BAD_NAME).decode()
        assert paths[ESC_NAME.decode()] is None  # valid UTF-8: exact as it is (JSON escapes the controls)
    if fmt == "sarif":
        jsonschema = pytest.importorskip("jsonschema")
        doc = json.loads(out)
        schema = json.loads((REPO_ROOT / "fixtures" / "schemas" / "sarif-schema-2.1.0.json").read_text())
        jsonschema.validate(doc, schema)
        uris = [r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in doc["runs"][0]["results"]]
        assert {unquote_to_bytes(u) for u in uris} == {ESC_NAME, BAD_NAME}  # exact bytes back
        assert all(" " not in u and "\\" not in u and u.isascii() for u in uris)
    if fmt == "gitlab":
        files = {v["location"]["file"] for v in json.loads(out)["vulnerabilities"]}
        assert "bad\\xff\\xfe\\x9b name.env" in files
    if fmt == "junit":
        ET.fromstring(p.stdout)
    if fmt in ("text", "github"):
        assert "bad\\xff\\xfe\\x9b name.env" in out
        assert "esc\\x1b]52;c;cm0gLXJmIH4=\\x07\\x1b[2J\\u009b31m\\u202evne.txt" in out


@pytest.mark.parametrize("fmt", ["text", "github", "gitlab"])
def test_non_utf8_name_written_to_a_file(hostile_tree: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"report.{fmt}"
    p = run_bytes("scan", ".", "--format", fmt, "-o", str(out), cwd=hostile_tree)
    assert p.returncode == 1 and b"Traceback" not in p.stderr, p.stderr
    data = out.read_bytes()
    data.decode("utf-8")
    assert_no_raw_escapes(data)


def test_escapes_in_an_error_message_are_shown_escaped(tmp_path: Path) -> None:
    p = run_bytes("scan", "missing\x1b[2J\x1b]52;c;eA==\x07", cwd=tmp_path)
    assert p.returncode == 2
    assert p.stderr.decode().startswith("cexguard: error: no such file or folder: missing\\x1b[2J")
    assert_no_raw_escapes(p.stderr)


def test_history_author_and_path_escapes(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    plant(repo, ESC_NAME)
    plant(repo, BAD_NAME)
    git(repo, "add", "-A")
    env = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull,
               GIT_AUTHOR_NAME="Eve \x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J\u202e", GIT_AUTHOR_EMAIL="e@example.com",
               GIT_COMMITTER_NAME="Eve", GIT_COMMITTER_EMAIL="e@example.com")
    subprocess.run(["git", "commit", "-q", "-m", "x"], cwd=repo, env=env, check=True)
    for fmt in ("text", "github", "junit", "json", "sarif", "gitlab"):
        p = run_bytes("history", "--format", fmt, cwd=repo)
        assert p.returncode == 1, (fmt, p.stderr)
        assert b"Traceback" not in p.stderr
        assert_no_raw_escapes(p.stdout)
        assert_no_raw_escapes(p.stderr)
        text = p.stdout.decode("utf-8")
        if fmt in ("json", "sarif", "gitlab"):
            for s in strings(json.loads(text)):
                s.encode("utf-8")
        if fmt in ("text", "github"):
            assert "Eve \\x1b]52;c;cm0gLXJmIH4=\\x07\\x1b[2J\\u202e" in text


@pytest.mark.parametrize("raw,shown", [
    ("a\x1b[2Jb", "a\\x1b[2Jb"),
    ("tab\there\nnew\rline", "tab\\x09here\\x0anew\\x0dline"),
    ("del\x7f", "del\\x7f"),
    ("csi\x9b31m", "csi\\u009b31m"),
    ("\u202eevil\u2066\u2069\u200f\u061c\u2028", "\\u202eevil\\u2066\\u2069\\u200f\\u061c\\u2028"),
    (os.fsdecode(b"bad\xff\x9b"), "bad\\xff\\x9b"),
    ("caf\u00e9 \u6f22\u5b57 ok/\\x", "caf\u00e9 \u6f22\u5b57 ok/\\x"),  # printable text is left alone
])
def test_safe_escapes_every_control(raw: str, shown: str) -> None:
    from scanner.safetext import json_text, safe

    assert safe(raw) == shown
    json_text(raw).encode("utf-8")
