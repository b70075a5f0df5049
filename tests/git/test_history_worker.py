"""Stage two in a worker process (`history -j 2`, the default on large histories): the same findings,
counts and exit codes as one process; a worker that dies is an error, never a clean result; nothing of
the scanned repository's folder is imported; signals end it quietly, worker included."""
from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.conftest import REPO_ROOT, new_key
from tests.git.conftest import GIT_ENV, cg, commit, git


def _pem() -> str:
    k = ed25519.Ed25519PrivateKey.generate()
    return k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                           serialization.NoEncryption()).decode()


@pytest.fixture(scope="module")
def leaky_history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every kind of candidate stage two handles, over several commits (one of them deleted again)."""
    repo = tmp_path_factory.mktemp("worker") / "r"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    k1, s1 = new_key(), new_key()
    commit(repo, {".env": f"BINANCE_API_KEY={k1}\nBINANCE_API_SECRET={s1}\n"}, "keys")
    commit(repo, {"keys/binance-prv.pem": "# binance api key\n" + _pem()}, "pem")
    kc = secrets.token_hex(12)
    commit(repo, {"bot/kucoin.py": f'client = KucoinClient(api_key="{kc}", api_secret="{uuid.uuid4()}", '
                                   'passphrase="Tr4d1ngB0t!x")\n'}, "kucoin")
    commit(repo, {"allowed.py": f'EXAMPLE = "{new_key()}"  # cexguard:allow\nBINANCE_KEY = "{new_key()}"\n'}, "allow")
    (repo / "utf16.env").write_bytes(b"\xff\xfe" + f"BINANCE_API_KEY={new_key()}\n".encode("utf-16-le"))
    git(repo, "add", "utf16.env")
    git(repo, "commit", "-q", "-m", "utf-16")
    commit(repo, {"binance/notes.txt": f"secret: {secrets.token_hex(32)}\n"}, "path names the exchange")
    commit(repo, {".env": None}, "removed")
    commit(repo, {"README.md": "nothing here\n" * 50}, "docs")
    return repo


def _history(repo: Path, *args: str) -> tuple[int, dict, str]:  # type: ignore[type-arg]
    r = cg(repo, "history", ".", "--format", "json", *args)
    assert r.code in (0, 1), r.err
    return r.code, json.loads(r.out), r.err


@pytest.mark.parametrize("extra", [(), ("--range", "HEAD~5..HEAD"), ("--reachable-only",)])
def test_the_worker_reports_what_one_process_reports(leaky_history: Path, extra: tuple[str, ...]) -> None:
    one = _history(leaky_history, "-j", "1", *extra)
    two = _history(leaky_history, "-j", "2", *extra)
    assert one[0] == two[0] == 1
    assert one[1] == two[1]  # findings, provenance, counts (files, bytes, suppressed) alike
    assert one[2] == two[2]
    rules = {f["rule"] for f in two[1]["findings"]}
    if not extra:
        assert {"binance-api-key", "binance-secret-key", "binance-private-key"} <= rules, rules
        assert two[1]["stats"]["suppressed"].get("inline_allow") == 1
        assert two[1]["stats"]["files_scanned"] == one[1]["stats"]["blobs"] > 0


def test_a_folder_named_like_the_package_is_never_imported(leaky_history: Path, tmp_path: Path) -> None:
    """Run, as the installed `cexguard` command runs (the current folder not on sys.path), from a hostile
    folder holding `scanner/` and modules named like the worker's first imports: the worker imports
    cexguard's own package and the standard library, never the current folder's files."""
    hostile = tmp_path / "hostile"
    marker = tmp_path / "imported"
    for mod in ("scanner/__init__.py", "scanner/sources/__init__.py", "scanner/sources/stage2.py", "pickle.py",
                "struct.py", "re.py", "sitecustomize.py"):
        p = hostile / mod
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(f"open({str(marker)!r}, 'a').write({mod!r} + '\\n')\n")
    env = dict(os.environ, **GIT_ENV)
    env["PYTHONPATH"] = str(REPO_ROOT)
    script = "import sys; sys.path.pop(0); from scanner.cli import main; main()"  # (the console script's sys.path)
    p = subprocess.run([sys.executable, "-c", script, "history", str(leaky_history), "-j", "2", "--format", "json"],
                       cwd=hostile, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 1, p.stderr
    assert json.loads(p.stdout)["findings"]
    assert not marker.exists(), marker.read_text()


def test_a_worker_that_dies_is_an_error_not_a_clean_result(leaky_history: Path) -> None:
    from scanner.errors import CexguardError
    from scanner.models import ScanStats
    from scanner.rules import build_engine
    from scanner.config import load_config
    from scanner.sources import stage2

    engine = build_engine(load_config(REPO_ROOT / "tests" / "no-user-config"))
    w = stage2.Worker(engine)
    try:
        data = f"BINANCE_API_KEY={new_key()}\n".encode()
        assert w.send("a" * 40, "", data, engine.prepare(data))
        w.proc.kill()
        w.proc.wait()
        stats = ScanStats()
        with pytest.raises(CexguardError) as ei:
            list(w.results(stats))
        assert "killed by SIGKILL" in str(ei.value) and "-j 1" in str(ei.value)
        data2 = f"BINANCE_API_KEY={new_key()}\n".encode()
        assert not w.send("b" * 40, "", data2, engine.prepare(data2))  # the feeder learns it is gone
    finally:
        w.close()


def test_a_worker_that_finds_keys_answers_them_with_the_parents_rules(leaky_history: Path) -> None:
    from scanner.config import load_config
    from scanner.models import ScanStats
    from scanner.rules import build_engine
    from scanner.sources import stage2

    engine = build_engine(load_config(REPO_ROOT / "tests" / "no-user-config"))
    w = stage2.Worker(engine)
    try:
        data = f"BINANCE_API_KEY={new_key()}\nBINANCE_API_SECRET={new_key()}\n".encode()
        w.send("c" * 40, ".env", data, engine.prepare(data))
        w.send("d" * 40, "", b"nothing to see", engine.prepare(b"nothing to see"))
        w.end()
        stats = ScanStats()
        got = list(w.results(stats))
    finally:
        w.close()
    assert [oid for oid, _, _ in got] == ["c" * 40]
    oid, found, matches = got[0]
    assert {f.rule for f in found} == {"binance-api-key", "binance-secret-key"}
    assert all(c.rule in engine.rules and any(c.rule is r for r in engine.rules) for c in matches.text.cands)
    assert stats.files_scanned == 2 and stats.bytes_scanned == len(data) + len(b"nothing to see")
    # judged again here for another path (as provenance does), the answer is the same
    assert {f.rule for f in engine.judge(matches, "config/.env")} == {"binance-api-key", "binance-secret-key"}


# ------------------------------------------------------------------------------------------ signals

@pytest.fixture(scope="module")
def slow_history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Seconds of stage two in a small pack: 400 versions of one 400 KB file of hex digests that name
    Binance (every version passes stage one; the pack stores them as deltas)."""
    repo = tmp_path_factory.mktemp("slow") / "r"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    base = "binance\n" + "".join(f"h{i} = {secrets.token_hex(32)}\n" for i in range(5500))
    stream = []
    for i in range(400):
        data = (base + f"version {i}\n").encode()
        stream.append(f"blob\nmark :{i + 1}\ndata {len(data)}\n".encode() + data + b"\n")
    stream.append(b"commit refs/heads/main\ncommitter A <a@b> 0 +0000\ndata 2\nx\nM 100644 :400 f.txt\n\n")
    subprocess.run(["git", "fast-import", "--quiet"], cwd=repo, input=b"".join(stream), check=True,
                   env=dict(os.environ, **GIT_ENV))
    return repo


def _children(pid: int) -> list[int]:
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _worker_of(pid: int) -> int | None:
    for c in _children(pid):
        try:
            cmd = Path(f"/proc/{c}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"-I" in cmd and any(b"stage2" in x for x in cmd):
            return c
    return None


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc")
@pytest.mark.parametrize("sig,to_group,code,said", [
    (signal.SIGINT, True, 130, "cexguard: interrupted"),    # Ctrl-C: the whole foreground group
    (signal.SIGTERM, False, 143, "cexguard: terminated"),   # kill PID
])
def test_signals_end_the_audit_and_its_worker_quietly(slow_history: Path, sig: int, to_group: bool, code: int,
                                                      said: str) -> None:
    env = dict(os.environ, **GIT_ENV)
    env["PYTHONPATH"] = str(REPO_ROOT)
    p = subprocess.Popen([sys.executable, "-m", "scanner", "history", str(slow_history), "-j", "2", "--format", "json"],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                         cwd=slow_history)
    t0 = time.monotonic()
    worker = None
    while worker is None and p.poll() is None and time.monotonic() - t0 < 60:
        worker = _worker_of(p.pid)
        time.sleep(0.02)
    assert worker is not None, "no worker process was started"
    time.sleep(0.5)  # the worker is judging
    assert p.poll() is None, "the audit ended before the signal: make the history larger"
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
    while time.monotonic() < deadline:  # the worker does not outlive the audit
        if not Path(f"/proc/{worker}").exists() or "Z" in Path(f"/proc/{worker}/stat").read_text().split(")")[-1][:3]:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the worker process is still running")
