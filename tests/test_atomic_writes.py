"""Report and baseline writes are atomic: a write that fails part-way (here: a file size limit,
as a full disk would) leaves the previous file intact and says so in one line, exit 2."""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, new_key

LIMIT = 2048  # bytes any process in the test may write to one file


def run_limited(args: list[str], cwd: Path, tmp: Path) -> subprocess.CompletedProcess[str]:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))

    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), XDG_CONFIG_HOME=str(tmp / "xdg"),
               CEXGUARD_CACHE_DIR=str(tmp / "cache"))
    return subprocess.run([sys.executable, "-m", "scanner", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          preexec_fn=limit, timeout=300)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    root.mkdir()
    for i in range(40):  # a report and a baseline well over LIMIT bytes
        (root / f"k{i:02d}.env").write_text(f"BINANCE_API_KEY={new_key()}\n")
    return root


@pytest.mark.parametrize("command", [["scan", ".", "--format", "json", "-o"], ["baseline", ".", "-o"]])
def test_failed_write_keeps_the_previous_file(tree: Path, tmp_path: Path, command: list[str]) -> None:
    out = tmp_path / "out.json"
    out.write_text('{"previous": true}\n')
    out.chmod(0o640)
    p = run_limited([*command, str(out)], tree, tmp_path)
    assert p.returncode == 2, p.stderr
    assert "the previous file is unchanged" in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    assert "Traceback" not in p.stderr
    assert out.read_text() == '{"previous": true}\n'
    assert [f.name for f in tmp_path.iterdir() if f.name.startswith(".out.json")] == []  # no temporary left
    # the same write without the limit replaces it whole, keeping the file's permissions
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    p = subprocess.run([sys.executable, "-m", "scanner", *command, str(out)], cwd=tree, env=env,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode in (0, 1), p.stderr
    doc = json.loads(out.read_text())
    assert len(doc["findings"]) == 40
    assert out.stat().st_mode & 0o777 == 0o640


def test_failed_first_write_says_nothing_was_written(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "new.json"
    p = run_limited(["scan", ".", "--format", "json", "-o", str(out)], tree, tmp_path)
    assert p.returncode == 2 and "nothing was written" in p.stderr, p.stderr
    assert not out.exists()


def test_report_to_a_non_regular_file_is_written_directly(tree: Path, tmp_path: Path) -> None:
    """-o /dev/stdout (or a FIFO) is a stream: written to, never renamed over."""
    p = subprocess.run([sys.executable, "-m", "scanner", "scan", ".", "--format", "json", "-o", "/dev/stdout"],
                       cwd=tree, env=dict(os.environ, PYTHONPATH=str(REPO_ROOT)), capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 1, p.stderr
    assert len(json.loads(p.stdout)["findings"]) == 40
    assert os.path.exists("/dev/stdout")
