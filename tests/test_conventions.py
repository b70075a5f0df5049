"""Command-line conventions users of gitleaks, trufflehog, detect-secrets and ruff expect."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from scanner import __version__
from tests.conftest import REPO_ROOT, new_key, run_cli


def leak(d: Path, name: str = "prod.env") -> str:
    key = new_key()
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_text(f"BINANCE_API_KEY={key}\n")
    return key


def test_version_short_and_long() -> None:
    for flag in ("-V", "--version"):
        r = run_cli(flag)
        assert r.code == 0 and __version__ in r.out


def test_exit_zero_and_exit_code(tmp_path: Path) -> None:
    leak(tmp_path)
    assert run_cli("scan", "-j", "1", str(tmp_path), "-q").code == 1
    r = run_cli("scan", "-j", "1", str(tmp_path), "--exit-zero")
    assert r.code == 0 and "prod.env:1" in r.out  # still reported
    assert run_cli("scan", "-j", "1", str(tmp_path), "--exit-code", "7", "-q").code == 7
    assert run_cli("scan", "-j", "1", str(tmp_path / "prod.env"), "--exit-code", "7", "-q").code == 7
    clean = tmp_path / "clean"
    clean.mkdir()
    assert run_cli("scan", "-j", "1", str(clean), "--exit-code", "7", "-q").code == 0
    r = run_cli("scan", "-j", "1", str(tmp_path), "--exit-code", "256")
    assert r.code == 2 and "256" in r.err
    assert run_cli("scan", "-j", "1", str(tmp_path / "missing"), "--exit-zero").code == 2  # errors still fail


def test_color_option_and_no_color(tmp_path: Path) -> None:
    leak(tmp_path)
    assert "\x1b[" in run_cli("scan", "-j", "1", str(tmp_path), "--color", "always").out
    assert "\x1b[" not in run_cli("scan", "-j", "1", str(tmp_path)).out  # auto: not a terminal
    assert "\x1b[" not in run_cli("scan", "-j", "1", str(tmp_path), "--color", "never").out
    # NO_COLOR (non-empty) turns auto off on a terminal; an explicit --color always wins
    script = ("import os, pty, sys\n"
              "pid, fd = pty.fork()\n"
              "if pid == 0:\n"
              "    os.execvp(sys.executable, [sys.executable, '-m', 'scanner', *sys.argv[1:]])\n"
              "out = b''\n"
              "while True:\n"
              "    try:\n        b = os.read(fd, 65536)\n    except OSError:\n        break\n"
              "    if not b:\n        break\n    out += b\n"
              "os.waitpid(pid, 0)\nsys.stdout.write(repr(out))\n")

    def on_tty(*args: str, env: dict[str, str]) -> str:
        e = dict(os.environ, PYTHONPATH=str(REPO_ROOT), XDG_CONFIG_HOME=str(tmp_path / "nocfg"), **env)
        e.pop("NO_COLOR", None) if "NO_COLOR" not in env else None
        return subprocess.run([sys.executable, "-c", script, *args], env=e, capture_output=True, text=True,
                              timeout=120).stdout

    assert "\\x1b[" in on_tty("scan", str(tmp_path), env={})
    assert "\\x1b[" in on_tty("scan", str(tmp_path), env={"NO_COLOR": ""})  # empty: not set
    assert "\\x1b[" not in on_tty("scan", str(tmp_path), env={"NO_COLOR": "1"})
    assert "\\x1b[" in on_tty("scan", str(tmp_path), "--color", "always", env={"NO_COLOR": "1"})


def test_verbose_says_what_was_read(tmp_path: Path) -> None:
    leak(tmp_path)
    (tmp_path / "vendor").mkdir()
    (tmp_path / "vendor" / "x.txt").write_text("x\n")
    r = run_cli("scan", "-j", "1", str(tmp_path), "-v", "--exclude", "vendor/")
    assert r.code == 1
    assert "cexguard: config: built-in defaults" in r.err
    assert "cexguard: scanned 1 file(s)" in r.err and "cexguard: excluded: vendor/" in r.err
    assert "cexguard: config" not in run_cli("scan", "-j", "1", str(tmp_path), "-v", "-q").err


def test_exclude_on_the_command_line(tmp_path: Path) -> None:
    leak(tmp_path / "fixtures")
    leak(tmp_path / "src")
    r = run_cli("scan", "-j", "1", str(tmp_path), "--exclude", "fixtures/", "--exclude", "*.md", "--format", "json")
    assert r.code == 1
    import json

    doc = json.loads(r.out)
    assert [f["path"] for f in doc["findings"]] == ["src/prod.env"]
    assert doc["stats"]["skipped"]["excluded"] == 1
    assert "fixtures/" in doc["stats"]["excluded_paths"]


def test_config_found_by_walking_up_to_the_repository_root(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    sub = repo / "services" / "api"
    leak(sub / "fixtures")
    leak(sub / "src")
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / ".cexguard.toml").write_text('exclude = ["services/api/fixtures/", "*.lock"]\n')
    r = run_cli("scan", "-j", "1", str(sub), "--format", "json")
    import json

    doc = json.loads(r.out)
    assert [f["path"] for f in doc["findings"]] == ["src/prod.env"], r.err
    assert any("excludes fixtures/" in n for n in doc["stats"]["config_notices"])  # visible, as always
    # its ignore file is found too (the project's, next to its config)
    fp = next(f["fingerprint"] for f in json.loads(run_cli("scan", "-j", "1", str(sub / "src"), "--format", "json").out)["findings"])
    (repo / ".cexguardignore").write_text(fp + "\n")
    assert run_cli("scan", "-j", "1", str(sub / "src"), "-q").code == 0
    # never above the repository: a config in a shared parent folder is not picked up
    (tmp_path / ".cexguard.toml").write_text('exclude = ["*"]\n')
    outside = tmp_path / "plain"
    leak(outside)
    assert run_cli("scan", "-j", "1", str(outside), "-q").code == 1


def test_repository_config_found_upward_still_cannot_weaken_detection(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    sub = repo / "app"
    leak(sub)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    (repo / ".cexguard.toml").write_text("min_entropy = 5.9\n")
    r = run_cli("scan", "-j", "1", str(sub))
    assert r.code == 1 and "min_entropy = 5.9 ignored" in r.out


def test_scan_reads_standard_input(tmp_path: Path) -> None:
    key = new_key()
    r = run_cli("scan", "-", stdin=f"BINANCE_API_KEY={key}\n")
    assert r.code == 1 and "<stdin>:1:17" in r.out and key not in r.out
    r = run_cli("scan", "-", "--stdin-filename", "deploy/prod.env", "--format", "json", stdin=f"x = '{key}'\n")
    import json

    doc = json.loads(r.out)
    assert doc["findings"][0]["path"] == "deploy/prod.env"
    assert run_cli("scan", "-", stdin="nothing here\n").code == 0
    r = run_cli("scan", "-j", "1", str(tmp_path), "--stdin-filename", "x")
    assert r.code == 2 and "--stdin-filename" in r.err


@pytest.mark.skipif(not os.path.exists("/dev/stdin"), reason="no /dev/stdin")
def test_special_paths_named_explicitly_are_read(tmp_path: Path) -> None:
    key = new_key()
    r = run_cli("scan", "/dev/stdin", stdin=f"BINANCE_API_KEY={key}\n")
    assert r.code == 1 and "/dev/stdin:1:17" in r.out
    fifo = tmp_path / "pipe.env"
    os.mkfifo(fifo)
    e = dict(os.environ, PYTHONPATH=str(REPO_ROOT), XDG_CONFIG_HOME=str(tmp_path / "nocfg"))
    p = subprocess.Popen([sys.executable, "-m", "scanner", "scan", str(fifo)], env=e, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    with open(fifo, "w") as w:
        w.write(f"BINANCE_API_KEY={key}\n")
    out, err = p.communicate(timeout=120)
    assert p.returncode == 1 and "pipe.env:1:17" in out, err
    # inside a folder, FIFOs are still skipped and counted (never opened)
    os.mkfifo(tmp_path / "d.fifo")
    (tmp_path / "sub").mkdir()
    os.mkfifo(tmp_path / "sub" / "x.fifo")
    r = run_cli("scan", "-j", "1", str(tmp_path / "sub"))
    assert r.code == 0 and "special file" in r.out


def test_shell_completion_script() -> None:
    r = run_cli(env={"_CEXGUARD_COMPLETE": "bash_source"})
    assert r.code == 0 and "_cexguard_completion" in r.out and "complete " in r.out


def test_readme_documents_the_conventions() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    for text in ("--exit-zero", "--exit-code N", "--color auto\\|always\\|never", "NO_COLOR", "-v/--verbose",
                 "-V/--version", "--exclude GLOB", "_CEXGUARD_COMPLETE=bash_source", "cexguard scan -",
                 "--stdin-filename", "--format jsonl", "--format html"):
        assert text in readme, text


def test_options_do_not_outlive_their_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The shared options are one ReportOptions per run, no module state: an embedding program that
    calls main() twice gets the second run's options only (click and the hook's own parser alike)."""
    from scanner.cli import main

    leak(tmp_path)
    codes = []
    for argv in (["scan", "-j", "1", str(tmp_path), "-q", "--exit-code", "7", "--exclude", "other/*"],
                 ["scan", "-j", "1", str(tmp_path), "-q"],
                 ["scan", "-j", "1", str(tmp_path), "-q", "--exclude", "*.env"]):
        with pytest.raises(SystemExit) as e:
            main(argv)
        codes.append(e.value.code)
    assert codes == [7, 1, 0]
    capsys.readouterr()


def test_report_options_are_frozen_and_checked() -> None:
    from scanner.reporting import ReportOptions

    opts = ReportOptions(fmt="json", exit_code="3", exclude=["a/*"])
    assert (opts.fmt, opts.exit_code, opts.exclude, opts.color) == ("json", 3, ("a/*",), "auto")
    with pytest.raises(AttributeError):
        opts.fmt = "text"  # type: ignore[misc]
    with pytest.raises(TypeError):
        ReportOptions(format="json")
