"""`cexguard scan` as users meet it: exit codes, output formats, redaction, ignoring, config, bad input."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, git, new_key, run_cli


def write_env(d: Path, name: str = ".env") -> tuple[str, str]:
    k, s = new_key(), new_key()
    (d / name).write_text(f"LOG_LEVEL=info\nBINANCE_API_KEY={k}\nBINANCE_API_SECRET={s}\n")
    return k, s


def scan_json(*args: str, cwd: Path | None = None) -> tuple[int, dict]:
    r = run_cli("scan", *args, "--format", "json", cwd=cwd)
    assert r.code in (0, 1), r.err
    return r.code, json.loads(r.out)


def test_clean_folder_exits_0(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("print('hello')\n")
    r = run_cli("scan", str(tmp_path))
    assert r.code == 0
    assert "0 finding(s) in 1 file(s) scanned" in r.out


def test_findings_exit_1_with_json_shape(tmp_path: Path) -> None:
    k, s = write_env(tmp_path)
    code, doc = scan_json(str(tmp_path))
    assert code == 1
    f1, f2 = doc["findings"]
    assert (f1["path"], f1["line"], f1["end_line"], f1["column"], f1["kind"]) == (".env", 2, 2, 17, "binance_api_key")
    assert (f2["line"], f2["kind"], f2["rule"]) == (3, "binance_secret_key", "binance-secret-key")
    assert f1["paired_with"] == f2["fingerprint"] and f2["paired_with"] == f1["fingerprint"]
    assert f1["confidence"] == "high"
    assert f1["redacted"] == f"{k[:4]}...{k[-4:]}"
    assert doc["stats"]["files_scanned"] == 1
    assert k not in json.dumps(doc) and s not in json.dumps(doc)


def test_secrets_never_printed_unless_asked(tmp_path: Path) -> None:
    k, s = write_env(tmp_path)
    for fmt in ("text", "json", "sarif"):
        r = run_cli("scan", str(tmp_path), "--format", fmt)
        assert r.code == 1
        assert k not in r.out + r.err and s not in r.out + r.err, fmt
    r = run_cli("scan", str(tmp_path), "--format", "json", "--show-secrets")
    secrets_shown = {f["secret"] for f in json.loads(r.out)["findings"]}
    assert secrets_shown == {k, s}


def test_fingerprint_is_stable_when_the_secret_moves(tmp_path: Path) -> None:
    k, _ = write_env(tmp_path)
    _, before = scan_json(str(tmp_path))
    (tmp_path / ".env").unlink()
    sub = tmp_path / "deep" / "er"
    sub.mkdir(parents=True)
    (sub / "config.py").write_text(f"\n\n\nBINANCE_API_KEY = '{k}'\n")
    _, after = scan_json(str(tmp_path))
    assert after["findings"][0]["path"] == "deep/er/config.py"
    assert after["findings"][0]["fingerprint"] == before["findings"][0]["fingerprint"]


def test_text_report_says_what_to_do(tmp_path: Path) -> None:
    write_env(tmp_path)
    r = run_cli("scan", str(tmp_path))
    assert r.code == 1
    assert ".env:2:17" in r.out and "binance_api_key" in r.out
    assert "Delete, not Disable" in r.out and "IP whitelist" in r.out and "30 days" in r.out
    assert "\033[" not in r.out  # no colour when not a TTY


def test_sarif_validates_against_the_official_schema(tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    write_env(tmp_path)
    out = tmp_path / "report.sarif"
    r = run_cli("scan", str(tmp_path), "--format", "sarif", "-o", str(out))
    assert r.code == 1
    doc = json.loads(out.read_text())
    schema = json.loads((REPO_ROOT / "fixtures" / "schemas" / "sarif-schema-2.1.0.json").read_text())
    jsonschema.validate(doc, schema)
    results = doc["runs"][0]["results"]
    assert [x["locations"][0]["physicalLocation"]["region"]["startLine"] for x in results] == [2, 3]
    assert all(x["partialFingerprints"]["cexguardFingerprint/v1"].startswith("sha256:") for x in results)
    rule_ids = {r["id"] for r in doc["runs"][0]["tool"]["driver"]["rules"]}
    assert {"binance-api-key", "binance-secret-key", "binance-private-key"} <= rule_ids


def test_output_file_unwritable_is_one_line_error(tmp_path: Path) -> None:
    write_env(tmp_path)
    r = run_cli("scan", str(tmp_path), "--format", "json", "-o", str(tmp_path / "missing" / "dir" / "x.json"))
    assert r.code == 2
    assert r.err.strip().count("\n") == 0 and "Traceback" not in r.err


@pytest.mark.parametrize("marker", ["# cexguard:allow", "# gitleaks:allow", "# pragma: allowlist secret"])
def test_inline_allow_comments(tmp_path: Path, marker: str) -> None:
    k = new_key()
    (tmp_path / "a.py").write_text(f'BINANCE_API_KEY = "{k}"  {marker}\n')
    code, doc = scan_json(str(tmp_path))
    assert code == 0 and doc["findings"] == []
    assert doc["stats"]["suppressed"] == {"inline_allow": 1}


def test_ignore_file_takes_fingerprints_only(tmp_path: Path) -> None:
    write_env(tmp_path)
    _, doc = scan_json(str(tmp_path))
    fp = doc["findings"][0]["fingerprint"]
    (tmp_path / ".cexguardignore").write_text(f"# reviewed: rotated already\n{fp}  test account\n")
    code, doc2 = scan_json(str(tmp_path))
    assert code == 1 and [f["kind"] for f in doc2["findings"]] == ["binance_secret_key"]
    assert doc2["stats"]["suppressed"] == {"ignore_file": 1}
    (tmp_path / ".cexguardignore").write_text("BINANCE_API_KEY=whatever\n")
    r = run_cli("scan", str(tmp_path))
    assert r.code == 2 and "expected a fingerprint" in r.err


def test_baseline_reports_only_new_findings(tmp_path: Path) -> None:
    k, s = write_env(tmp_path)
    base = tmp_path / "baseline.json"
    r = run_cli("baseline", str(tmp_path), "-o", str(base))
    assert r.code == 0, r.err
    text = base.read_text()
    assert k not in text and s not in text
    assert len(json.loads(text)["findings"]) == 2
    code, doc = scan_json(str(tmp_path), "--baseline", str(base))
    assert code == 0 and doc["findings"] == []
    k2 = new_key()
    (tmp_path / "new.py").write_text(f"binance_key = '{k2}'\n")
    code, doc = scan_json(str(tmp_path), "--baseline", str(base))
    assert code == 1 and [f["path"] for f in doc["findings"]] == ["new.py"]
    assert doc["stats"]["suppressed"]["baseline"] == 2


def test_bad_baseline_is_a_clear_error(tmp_path: Path) -> None:
    write_env(tmp_path)
    bad = tmp_path / "b.json"
    bad.write_text("{not json")
    r = run_cli("scan", str(tmp_path), "--baseline", str(bad))
    assert r.code == 2 and "bad baseline" in r.err and "Traceback" not in r.err
    r = run_cli("scan", str(tmp_path), "--baseline", str(tmp_path / "nope.json"))
    assert r.code == 2 and "baseline not found" in r.err


def test_config_excludes_and_size_limit(tmp_path: Path) -> None:
    write_env(tmp_path)
    (tmp_path / "fixtures").mkdir()
    write_env(tmp_path / "fixtures", "sample.env")
    (tmp_path / "big.txt").write_text("x" * 5000)
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "demo"\n\n[tool.cexguard]\nexclude = ["fixtures/"]\nmax_file_size = "4KB"\n')
    code, doc = scan_json(str(tmp_path))
    assert {f["path"] for f in doc["findings"]} == {".env"}
    assert doc["stats"]["skipped"] == {"excluded": 1, "too_large": 1}
    (tmp_path / ".cexguard.toml").write_text('exclude = [".env"]\n')  # takes precedence over pyproject
    code, doc = scan_json(str(tmp_path))
    assert {f["path"] for f in doc["findings"]} == {"fixtures/sample.env"}


@pytest.mark.parametrize("content, message", [
    ("exclude = 3\n", "exclude must be a list"),
    ("colour = true\n", "unknown key 'colour'"),
    ("max_file_size = 'huge'\n", "expected a size"),
    ("this is not toml\n", "bad config"),
    ('api_url = "https://evil.example"\n', "not allowed in a repository's config"),
])
def test_bad_config_is_one_line_exit_2(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / ".cexguard.toml").write_text(content)
    r = run_cli("scan", str(tmp_path))
    assert r.code == 2
    assert message in r.err
    assert "Traceback" not in r.err and len(r.err.strip().splitlines()) == 1


def test_extra_rules_folder_from_config(tmp_path: Path) -> None:
    rules = tmp_path / "myrules"
    rules.mkdir()
    (rules / "extra.yaml").write_text(
        "rules:\n"
        "  - id: acme-token\n    kind: acme_token\n    type: token\n    description: ACME token\n"
        "    remediation: rotate it\n    pattern: 'acme_[A-Za-z0-9]{32}'\n    boundary: 'A-Za-z0-9_'\n"
        "    charset: [upper, lower, digit]\n    min_entropy: 3.5\n    distinct: true\n    examples: []\n"
        "    negative_examples: []\n")
    (tmp_path / ".cexguard.toml").write_text('rules_dirs = ["myrules"]\n')
    tok = "acme_" + new_key()[:32]
    (tmp_path / "x.txt").write_text(f"token = {tok}\n")
    code, doc = scan_json(str(tmp_path))
    assert code == 1 and [f["rule"] for f in doc["findings"]] == ["acme-token"]
    (rules / "broken.yaml").write_text("rules:\n  - id: x\n")
    r = run_cli("scan", str(tmp_path))
    assert r.code == 2 and "missing field" in r.err


def test_git_status_tracked_untracked_ignored(git_repo: Path) -> None:
    (git_repo / ".gitignore").write_text(".env\n")
    (git_repo / "settings.py").write_text(f"BINANCE_API_KEY = '{new_key()}'\n")
    git(git_repo, "add", ".gitignore", "settings.py")
    git(git_repo, "commit", "-qm", "init")
    (git_repo / "local.py").write_text(f"binance_secret = '{new_key()}'\n")
    (git_repo / ".env").write_text(f"BINANCE_API_KEY={new_key()}\n")
    (git_repo / ".git" / "leak.txt").write_text(f"BINANCE_API_KEY={new_key()}\n")  # never scanned
    code, doc = scan_json(str(git_repo))
    status = {f["path"]: f["git_status"] for f in doc["findings"]}
    assert status == {"settings.py": "tracked", "local.py": "untracked", ".env": "ignored"}


def test_binary_files_are_scanned_as_bytes_and_unreadable_files_make_the_scan_incomplete(tmp_path: Path) -> None:
    k = new_key()
    (tmp_path / "blob.bin").write_bytes(b"\x00\x01\x02" + f"BINANCE_API_KEY={k}".encode() + b"\x00" * 100)
    (tmp_path / "ok.env").write_text(f"BINANCE_API_KEY={new_key()}\n")
    code, doc = scan_json(str(tmp_path))
    assert code == 1 and [f["path"] for f in doc["findings"]] == ["blob.bin", "ok.env"]  # a key in ASCII inside a binary
    assert doc["stats"]["files_scanned"] == 2 and "binary" not in doc["stats"]["skipped"]
    assert doc["stats"]["incomplete"] is False and doc["stats"]["unreadable"] == {"count": 0, "items": []}


def test_symlinks_are_not_followed_out_of_the_tree(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    write_env(outside)
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "link.env").symlink_to(outside / ".env")
    (tree / "linkdir").symlink_to(outside, target_is_directory=True)
    code, doc = scan_json(str(tree))
    assert code == 0 and doc["findings"] == []
    assert doc["stats"]["skipped"]["symlink"] == 2


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_fifo_is_never_opened(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")  # opening it for reading would block forever
    write_env(tmp_path)
    code, doc = scan_json(str(tmp_path))
    assert code == 1
    assert doc["stats"]["skipped"]["special_file"] == 1


def test_scanning_a_single_file_and_several_paths(tmp_path: Path) -> None:
    write_env(tmp_path)
    (tmp_path / "b").mkdir()
    write_env(tmp_path / "b", "prod.env")
    code, doc = scan_json(str(tmp_path / ".env"))
    assert code == 1 and {f["path"] for f in doc["findings"]} == {".env"}
    code, doc = scan_json(".env", "b", cwd=tmp_path)
    assert {f["path"] for f in doc["findings"]} == {".env", "b/prod.env"}


@pytest.mark.parametrize("args, message", [
    (["scan", "--format", "xml"], "Invalid value for '--format'"),
    (["scan", "--no-such-flag"], "No such option"),
    (["scan", "/definitely/not/here"], "no such file or folder"),
    (["nope"], "No such command"),
])
def test_usage_errors_exit_2(args: list[str], message: str) -> None:
    r = run_cli(*args)
    assert r.code == 2
    assert message in r.err and "Traceback" not in r.err


def test_empty_folder_warns_that_nothing_was_scanned(tmp_path: Path) -> None:
    r = run_cli("scan", str(tmp_path))
    assert r.code == 0
    assert "no file was scanned" in r.err


def test_rules_check_and_list() -> None:
    r = run_cli("rules", "check")
    assert r.code == 0, r.err
    assert "ok" in r.out
    r = run_cli("rules", "list")
    assert {"binance-api-key", "binance-secret-key", "binance-private-key"} <= {ln.split()[0] for ln in r.out.splitlines()}


def test_the_project_passes_its_own_scan() -> None:
    r = run_cli("scan", str(REPO_ROOT), "--format", "json")
    doc = json.loads(r.out)
    assert r.code == 0, [(f["path"], f["line"]) for f in doc["findings"]]


def test_version_and_help() -> None:
    r = run_cli("--version")
    assert r.code == 0 and "cexguard" in r.out
    r = run_cli("--help")
    assert r.code == 0 and "Exit codes" in r.out and "scan" in r.out


def test_worker_processes_give_the_same_report(tmp_path: Path) -> None:
    for i in range(150):
        d = tmp_path / f"pkg{i % 7}"
        d.mkdir(exist_ok=True)
        (d / f"m{i}.py").write_text(f"x = {i}\n" * 50)
    for name in ("a.env", "pkg3/b.env", "pkg5/deep.env"):
        write_env(tmp_path, name)
    (tmp_path / "blob.bin").write_bytes(b"\x00" * 100)
    reports = []
    for jobs in ("1", "2", "3"):
        code, doc = scan_json(str(tmp_path), "--jobs", jobs)
        assert code == 1
        reports.append(doc)
    assert reports[0]["findings"] == reports[1]["findings"] == reports[2]["findings"]
    assert len(reports[0]["findings"]) == 6
    assert reports[0]["stats"] == reports[1]["stats"] == reports[2]["stats"]


def test_virtualenvs_are_skipped_and_counted(tmp_path: Path) -> None:
    venv = tmp_path / ".venv"
    (venv / "lib" / "site-packages" / "somepkg").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text("home = /usr/bin\n")
    write_env(venv / "lib" / "site-packages" / "somepkg", "vendored.env")
    write_env(tmp_path)
    code, doc = scan_json(str(tmp_path))
    assert {f["path"] for f in doc["findings"]} == {".env"}
    assert doc["stats"]["skipped"]["virtualenv"] == 1
