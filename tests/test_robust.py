"""Bytes that try to look like nothing, files that cannot be read, and one key repeated a million
times: a scan finds what is there, says what it could not read, and stays bounded."""
from __future__ import annotations

import re

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from scanner.models import Chunk
from tests.conftest import REPO_ROOT, new_key, run_cli


def scan_json(*args: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    r = run_cli("scan", *args, "--format", "json")
    assert r.code in (0, 1, 4), r.err
    return r.code, json.loads(r.out)


def red(k: str) -> str:
    return f"{k[:4]}...{k[-4:]}"


# -- binary detection never hides text -----------------------------------------------------------

def test_one_nul_byte_does_not_hide_a_dotenv(tmp_path: Path) -> None:
    k = new_key()
    (tmp_path / ".env").write_bytes(b"#\0\nBINANCE_API_KEY=" + k.encode() + b"\n")
    code, doc = scan_json(str(tmp_path))
    assert code == 1
    [f] = doc["findings"]
    assert (f["path"], f["line"], f["kind"], f["redacted"]) == (".env", 2, "binance_api_key", red(k))


@pytest.mark.parametrize("after_bom", [b"\x00\xdc\x00\xd8\n",  # lone UTF-16 surrogates: the decoding fails
                                       b"ab\n"],  # decodes without error, to nonsense
                         ids=["invalid-utf16", "valid-utf16-nonsense"])
def test_a_utf16_bom_on_ascii_text_does_not_hide_its_key(tmp_path: Path, after_bom: bytes) -> None:
    k = new_key()
    (tmp_path / "settings.py").write_bytes(b"\xff\xfe" + after_bom + f'binance_secret = "{k}"\n'.encode())
    code, doc = scan_json(str(tmp_path))
    assert code == 1
    assert [f["redacted"] for f in doc["findings"]] == [red(k)]


def test_real_utf16_is_still_decoded_and_found_once(tmp_path: Path) -> None:
    k = new_key()
    (tmp_path / "keys.env").write_bytes(b"\xff\xfe" + f"BINANCE_API_KEY={k}\r\n".encode("utf-16-le"))
    code, doc = scan_json(str(tmp_path))
    assert code == 1 and [(f["redacted"], f["line"]) for f in doc["findings"]] == [(red(k), 1)]


def test_random_binary_data_is_scanned_and_clean(tmp_path: Path) -> None:
    (tmp_path / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(2 << 20))
    (tmp_path / "archive.zip").write_bytes(b"PK\x03\x04" + os.urandom(1 << 20))
    code, doc = scan_json(str(tmp_path))
    assert code == 0 and doc["findings"] == []
    assert doc["stats"]["files_scanned"] == 2


def test_a_key_in_ascii_inside_a_binary_blob_is_found(engine) -> None:  # type: ignore[no-untyped-def]
    k = new_key()
    data = os.urandom(4096).replace(b"\n", b" ") + b"\0\nBINANCE_API_KEY=" + k.encode() + b"\0" + os.urandom(4096)
    assert [f.secret for f in engine.scan(Chunk(data=data, path="lib.so"))] == [k]


# -- a repeated secret is counted, not materialised ------------------------------------------------

def test_repeats_are_counted_on_the_first_line_and_allow_comments_still_apply_per_line(engine) -> None:  # type: ignore[no-untyped-def]
    k = new_key()
    text = f"x = 1\nBINANCE_API_KEY={k}\nBINANCE_API_KEY={k}\nBINANCE_API_KEY={k}\n".encode()
    [f] = engine.scan(Chunk(data=text, path=".env"))
    assert (f.line, f.count) == (2, 3)
    assert f.to_dict()["count"] == 3
    allowed_first = f"BINANCE_API_KEY={k}  # cexguard:allow\nBINANCE_API_KEY={k}\nBINANCE_API_KEY={k}\n".encode()
    [f] = engine.scan(Chunk(data=allowed_first, path=".env"))
    assert (f.line, f.count) == (2, 2)  # the allowed line hides itself, not the later ones


PEAK_RSS_SCRIPT = """
import resource, subprocess, sys
p = subprocess.run(sys.argv[1:], capture_output=True)
sys.stdout.write(str(p.returncode) + "\\n" + str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) + "\\n")
sys.stdout.buffer.write(p.stdout)
"""


def run_measured(*args: str, cwd: Path) -> tuple[int, int, str]:
    """(exit code, peak RSS in MB of the cexguard process and its git children, stdout): the command
    runs under a fresh Python whose only children are it, so the peak is its own."""
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull)
    p = subprocess.run([sys.executable, "-c", PEAK_RSS_SCRIPT, sys.executable, "-m", "scanner", *args],
                       cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    code, peak_kb, out = p.stdout.split("\n", 2)
    return int(code), int(peak_kb) // 1024, out


def repeated_key_file(path: Path, size: int = 30 << 20) -> str:
    k = new_key()
    line = f"BINANCE_API_KEY={k}\n".encode()
    with open(path, "wb") as fh:
        fh.write(line * (size // len(line)))
    return k


def test_30mb_of_one_repeated_key_line_is_one_finding_with_a_count_in_bounded_memory(tmp_path: Path) -> None:
    k = repeated_key_file(tmp_path / "dump.env")
    lines = (tmp_path / "dump.env").stat().st_size // len(f"BINANCE_API_KEY={k}\n")
    code, peak_mb, out = run_measured("scan", str(tmp_path), "--format", "json", "-q", cwd=tmp_path)
    assert code == 1
    [f] = json.loads(out)["findings"]
    assert (f["redacted"], f["line"], f["count"]) == (red(k), 1, lines)
    assert peak_mb < 400, f"peak RSS {peak_mb} MB"


# -- unreadable files: counted, named, and never a clean result ----------------------------------------

def _as_other_user() -> list[str]:
    """A command prefix under which chmod 0 denies reading: none when not root; setpriv to
    nobody when root (root reads everything)."""
    if os.geteuid() != 0:
        return []
    tool = shutil.which("setpriv")
    if tool is None:
        pytest.skip("running as root without setpriv: no way to make a file unreadable")
    prefix = [tool, "--reuid=65534", "--regid=65534", "--clear-groups"]
    probe = subprocess.run([*prefix, sys.executable, "-c", "import click, scanner"], capture_output=True,
                           cwd="/", env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)))
    if probe.returncode != 0:  # e.g. a virtual environment in a 0700 temporary folder
        pytest.skip("the other user (nobody) cannot import this Python's packages: "
                    + probe.stderr.decode(errors="replace").strip().splitlines()[-1][:120])
    return prefix


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A folder another user can enter (pytest's tmp_path is private to its owner)."""
    d = Path(tempfile.mkdtemp(prefix="cexguard-unreadable-"))
    d.chmod(0o755)
    try:
        yield d
    finally:
        for p in d.rglob("*"):
            p.chmod(0o755 if p.is_dir() else 0o644)
        shutil.rmtree(d)


def scan_as_other_user(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    return subprocess.run([*_as_other_user(), sys.executable, "-m", "scanner", "scan", str(root), *args],
                          cwd=root, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_unreadable_files_and_folders_make_the_scan_incomplete_exit_4(open_dir: Path, jobs: str) -> None:
    _as_other_user()  # (skips first if it cannot work)
    (open_dir / "app.py").write_text("print('hi')\n")
    locked = open_dir / "locked.env"
    locked.write_text(f"BINANCE_API_KEY={new_key()}\n")
    locked.chmod(0)
    sub = open_dir / "private"
    sub.mkdir()
    (sub / "x.env").write_text("x\n")
    sub.chmod(0)
    p = scan_as_other_user(open_dir, "--format", "json", "-j", jobs)
    assert p.returncode == 4, p.stderr
    stats = json.loads(p.stdout)["stats"]
    assert stats["incomplete"] is True and stats["unreadable"]["count"] == 2
    assert sorted(stats["unreadable"]["items"]) == ["locked.env (Permission denied)",
                                                    "private/ (cannot list the folder: Permission denied)"]
    text = scan_as_other_user(open_dir, "-j", jobs)
    assert text.returncode == 4 and "INCOMPLETE" in text.stdout and "locked.env (Permission denied)" in text.stdout
    k = new_key()
    (open_dir / "found.env").write_text(f"BINANCE_API_KEY={k}\n")
    p = scan_as_other_user(open_dir, "--format", "json", "-j", jobs)
    assert p.returncode == 1  # findings win the exit code; the report still says incomplete
    doc = json.loads(p.stdout)
    assert [f["redacted"] for f in doc["findings"]] == [red(k)] and doc["stats"]["incomplete"] is True


def test_exit_code_4_is_documented_in_help() -> None:
    r = run_cli("--help")
    assert r.code == 0 and re.search(r"\b4\s+scan incomplete", r.out)
