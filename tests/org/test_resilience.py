"""A worker killed mid-task, a client killed or interrupted mid-run: nothing lost, nothing rescanned."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, new_key
from tests.git.conftest import GIT_ENV, env_line
from tests.org.conftest import Org, blob_count, db, noise, run_org, secrets_by_repos

psutil = pytest.importorskip("psutil")
pytestmark = pytest.mark.slow


def start_org(cwd: Path, *args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, **GIT_ENV)
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env["XDG_CONFIG_HOME"] = str(REPO_ROOT / "tests" / "no-user-config")
    return subprocess.Popen([sys.executable, "-m", "scanner", "org", *args], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def small_org(org: Org, n: int, *, files: int = 40) -> None:
    for i in range(n):
        key = new_key()
        org.repo(f"r{i}", [noise(files, 4_000), {f"svc{i}/.env": env_line(key)}])
        org.plant(key, f"r{i}")


def test_a_worker_killed_mid_task_is_retried_and_nothing_is_lost(org: Org) -> None:
    small_org(org, 6, files=150)
    repos = org.repos_file()
    p = start_org(org.root, str(repos), "--workers", "2", "--state-dir", str(org.root / "s"), "--format", "json",
                  "--show-secrets")
    killed = None
    deadline = time.monotonic() + 120
    try:
        while killed is None and p.poll() is None and time.monotonic() < deadline:
            for child in psutil.Process(p.pid).children(recursive=True):
                try:
                    if child.name() == "git" and child.parent() is not None and child.parent().pid != p.pid:
                        worker = child.parent()  # a worker process running an audit right now
                        os.kill(worker.pid, signal.SIGKILL)
                        killed = worker.pid
                        break
                except psutil.Error:
                    continue
            time.sleep(0.02)
        out, err = p.communicate(timeout=300)
    finally:
        if p.poll() is None:
            p.kill()
    assert killed is not None, "no worker was seen auditing"
    assert p.returncode == 1, err
    doc = json.loads(out)
    assert doc["errors"] == []
    assert secrets_by_repos(doc) == org.planted
    assert all(r["mode"] == "full" for r in doc["repositories"])


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGINT], ids=["killed", "ctrl-c"])
def test_an_interrupted_run_resumes_without_losing_or_rescanning(org: Org, how: int) -> None:
    small_org(org, 8, files=60)
    repos = org.repos_file()
    state = org.root / "s"
    p = start_org(org.root, str(repos), "--workers", "1", "--state-dir", str(state), "-q")
    deadline = time.monotonic() + 120
    done = 0
    try:
        while p.poll() is None and time.monotonic() < deadline:
            if (state / "state.sqlite").exists():
                try:
                    with db(state) as c:
                        done = c.execute("SELECT COUNT(*) FROM audits").fetchone()[0]
                except Exception:
                    done = 0
                if done >= 3:
                    os.kill(p.pid, how)
                    break
            time.sleep(0.05)
        p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
    assert done >= 3, "the run ended before it could be interrupted"
    assert p.returncode == (130 if how == signal.SIGINT else -signal.SIGKILL)
    with db(state) as c:
        first = dict(c.execute("SELECT repo, blobs FROM audits").fetchall())
    assert 3 <= len(first) < 8  # interrupted: some recorded, not all

    code, doc, err = run_org(org.root, str(repos), "--workers", "1", "--state-dir", str(state))
    assert code == 1
    assert "resuming an interrupted run" in err
    assert secrets_by_repos(doc) == org.planted  # nothing lost
    with db(state) as c:
        rows = c.execute("SELECT a.repo, a.run, a.mode, a.blobs, r.source FROM audits a JOIN repos r ON r.id = a.repo"
                         ).fetchall()
    assert len({r[1] for r in rows}) == 1  # the same run, continued
    assert len(rows) == 8 and {r[2] for r in rows} == {"full"}  # each repository audited once
    for repo, _run, _mode, blobs, source in rows:
        assert blobs == blob_count(Path(source))  # every blob scanned, none twice
        if repo in first:
            assert first[repo] == blobs  # recorded before the interruption, untouched after
    assert doc["stats"]["resumed"] is True
