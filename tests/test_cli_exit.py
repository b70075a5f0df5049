"""Exit codes people and CI rely on: 1 means findings (or a live key), never a crash. A closed or full
standard output, a bad --timeout, an internal error: one line on stderr and exit 2. Ctrl-C exits
130, SIGTERM 143, with no traceback from the process or its forked workers. Real subprocesses."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, new_key


def env() -> dict[str, str]:
    e = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    for k in list(e):
        if k.startswith(("BINANCE_", "CEXGUARD_")):
            del e[k]
    return e


def cexguard() -> list[str]:
    return [sys.executable, "-m", "scanner"]


@pytest.fixture
def leaky(tmp_path: Path) -> Path:
    d = tmp_path / "leaky"
    d.mkdir()
    (d / ".env").write_text(f"BINANCE_API_KEY={new_key()}\nBINANCE_API_SECRET={new_key()}\n")
    return d


def one_line_error(stderr: str, starts: str = "cexguard: error:") -> None:
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(starts), stderr


# ------------------------------------------------------------------------------------------ stdout

@pytest.mark.parametrize("fmt", ["text", "json"])
def test_closed_stdout_is_exit_2_not_a_silent_result(leaky: Path, fmt: str) -> None:
    cmd = " ".join([*cexguard(), "scan", ".", "--format", fmt]) + " >&-"
    p = subprocess.run(["sh", "-c", cmd], cwd=leaky, env=env(), capture_output=False, stderr=subprocess.PIPE,
                       text=True, timeout=300)
    assert p.returncode == 2
    one_line_error(p.stderr, "cexguard: error: cannot write to standard output")


def test_closed_stdout_with_an_output_file_still_works(leaky: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    cmd = " ".join([*cexguard(), "scan", ".", "--format", "json", "-o", str(out), "-q"]) + " >&-"
    p = subprocess.run(["sh", "-c", cmd], cwd=leaky, env=env(), stderr=subprocess.PIPE, text=True, timeout=300)
    assert p.returncode == 1, p.stderr
    assert '"findings"' in out.read_text()


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("args", [("scan", ".", "--format", "json"), ("scan", "."), ("scan", ".", "-j", "1"),
                                  ("--help",), ("rules", "list")])
def test_full_disk_on_stdout_is_exit_2(leaky: Path, args: tuple[str, ...]) -> None:
    with open("/dev/full", "w") as full:
        p = subprocess.run([*cexguard(), *args], cwd=leaky, env=env(), stdout=full, stderr=subprocess.PIPE,
                           text=True, timeout=300)
    assert p.returncode == 2
    one_line_error(p.stderr, "cexguard: error: cannot write to standard output: no space left on device")


def test_broken_pipe_is_exit_2_without_a_traceback(leaky: Path) -> None:
    """`cexguard scan | true`: the reader is gone before the report is written."""
    p = subprocess.Popen([*cexguard(), "scan", ".", "--format", "json"], cwd=leaky, env=env(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stdout is not None and p.stderr is not None
    p.stdout.close()
    err = p.stderr.read()
    assert p.wait(timeout=300) == 2
    one_line_error(err, "cexguard: error: cannot write to standard output: broken pipe")


# ----------------------------------------------------------------------------------------- options

@pytest.mark.parametrize("command", ["verify", "revoke"])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "-1", "0", "1e999", "ten"])
def test_bad_timeout_is_a_one_line_usage_error(command: str, value: str) -> None:
    e = env()
    e.update(BINANCE_API_KEY=new_key(), BINANCE_API_SECRET=new_key(), CEXGUARD_API_URL="http://127.0.0.1:9")
    p = subprocess.run([*cexguard(), command, "--timeout", value], env=e, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 2 and p.stdout == ""
    one_line_error(p.stderr)
    assert "--timeout" in p.stderr


def test_jobs_is_bounded_with_a_notice(leaky: Path) -> None:
    from scanner.commands.scan import MAX_JOBS, effective_jobs

    n, note = effective_jobs(100_000)
    assert 1 <= n <= MAX_JOBS and n <= 2 * (os.cpu_count() or 1) and note
    assert effective_jobs(1) == (1, None)
    p = subprocess.run([*cexguard(), "scan", ".", "-j", "100000", "--format", "json"], cwd=leaky, env=env(),
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 1
    assert f"--jobs 100000 lowered to {n}" in p.stderr


# -------------------------------------------------------------------------------- internal errors

def test_internal_error_is_one_line_exit_2_without_the_secret(monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    import scanner.commands.scan as scan_cmd
    from scanner.cli import main

    key = new_key()

    def broken(*a: object, **k: object) -> None:
        raise KeyError(f"BINANCE_API_SECRET={key}")

    monkeypatch.setattr(scan_cmd, "run_scan", broken)
    monkeypatch.delenv("CEXGUARD_DEBUG", raising=False)
    with pytest.raises(SystemExit) as ei:
        main(["scan", "."])
    err = capsys.readouterr().err
    assert ei.value.code == 2
    one_line_error(err, "cexguard: internal error: KeyError:")
    assert key not in err and f"BINANCE_API_SECRET={key[:4]}...{key[-4:]}" in err

    monkeypatch.setenv("CEXGUARD_DEBUG", "1")
    with pytest.raises(SystemExit) as ei:
        main(["scan", "."])
    err = capsys.readouterr().err
    assert ei.value.code == 2 and "Traceback" in err and "in broken" in err


# ------------------------------------------------------------------------------------------ signals

@pytest.fixture(scope="module")
def big_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Gigabytes to scan for almost no disk: one 1 MB file hard-linked 3000 times."""
    d = tmp_path_factory.mktemp("big")
    seed = d / "seed.txt"
    seed.write_bytes(os.urandom(1 << 19).hex().encode())
    (d / "t").mkdir()
    for i in range(3000):
        os.link(seed, d / "t" / f"f{i}.txt")
    return d / "t"


def children(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc")
@pytest.mark.parametrize("jobs", ["1", "2"])
@pytest.mark.parametrize("sig,to_group,code,said", [
    (signal.SIGINT, True, 130, "cexguard: interrupted"),    # Ctrl-C: the whole foreground group
    (signal.SIGINT, False, 130, "cexguard: interrupted"),
    (signal.SIGTERM, False, 143, "cexguard: terminated"),   # kill PID
    (signal.SIGTERM, True, 143, "cexguard: terminated"),    # a supervisor stopping the group
])
def test_signals_end_the_scan_quietly(big_tree: Path, jobs: str, sig: int, to_group: bool, code: int,
                                      said: str) -> None:
    p = subprocess.Popen([*cexguard(), "scan", str(big_tree), "-j", jobs, "--format", "json"], env=env(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    t0 = time.monotonic()
    if jobs == "1":
        time.sleep(1.5)
    else:
        while len(children(p.pid)) < 2 and time.monotonic() - t0 < 60:
            time.sleep(0.05)
        time.sleep(0.3)  # the workers are scanning
    assert p.poll() is None, "the scan ended before the signal: make the tree larger"
    if to_group:
        os.killpg(p.pid, sig)
    else:
        p.send_signal(sig)
    out, err = p.communicate(timeout=120)
    assert p.returncode == code, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert err.strip().splitlines()[-1] == said
    assert out == ""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # no worker outlives the scan
        try:
            os.killpg(p.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail("worker processes are still running")
