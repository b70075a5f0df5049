"""Reports people act on: the grouped audit text, the self-contained HTML report (rendered in a real
headless browser), what the pre-commit hook says about a staged key, and JSON Lines."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.git.conftest import cg, commit, env_line, git, write

CHROMIUM = next((p for p in ("/usr/bin/chromium", shutil.which("chromium") or "", shutil.which("chromium-browser") or "",
                             shutil.which("google-chrome") or "") if p and os.access(p, os.X_OK)), None)


def audit_repo(repo: Path, keys: list[str]) -> dict[str, str]:
    """One secret per severity: at HEAD (in two files, with its secret), removed but on main,
    only in the reflog (a deleted branch), only unreachable (staged, then unstaged)."""
    head_key, secret, removed, reflog_only = keys[0], keys[1], keys[2], keys[3]
    commit(repo, {".env": env_line(head_key) + env_line(secret, "BINANCE_API_SECRET")}, date="2023-01-05T10:00:00Z")
    commit(repo, {"deploy/app.env": env_line(head_key)}, date="2023-02-01T10:00:00Z")
    commit(repo, {"old.py": f"binance_api_key = '{removed}'\n"}, date="2023-03-01T10:00:00Z")
    commit(repo, {"old.py": None}, date="2023-06-01T10:00:00Z")
    git(repo, "checkout", "-q", "-b", "tmp")
    commit(repo, {"t.env": env_line(reflog_only)}, date="2023-07-01T10:00:00Z")
    git(repo, "checkout", "-q", "main")
    git(repo, "branch", "-q", "-D", "tmp")
    return {"head": head_key, "secret": secret, "removed": removed, "reflog": reflog_only}


def test_audit_text_groups_by_secret_most_urgent_first(repo: Path, keys: list[str]) -> None:
    k = audit_repo(repo, keys)
    r = cg(repo, "history")
    assert r.code == 1, r.err
    out = r.out
    assert out.startswith("cexguard audit: 4 secret(s) in 5 place(s)\n")
    top = out.split("\n\n")[0]
    assert "present at HEAD: 2" in top and "reachable from a ref: 1" in top and "reflog only: 1" in top
    assert "by kind: binance_api_key 3, binance_secret_key 1" in top
    assert re.search(r"longest exposure: \d+ day\(s\) \(#1 ", top)
    headers = re.findall(r"^#(\d+) \[([^\]]+)\]  (\S+)  (\S+)", out, flags=re.M)
    assert [h[1] for h in headers] == ["present at HEAD", "present at HEAD", "reachable from a ref", "reflog only"]
    assert headers[0][3] == f"{k['head'][:4]}...{k['head'][-4:]}"  # the key in two files: one incident
    first = out.split("\n#2 ")[0]
    assert "where .env:1 (+1 more) · since 2023-01-05 in " in first and "until still present at HEAD" in first
    assert "who Ann Author <ann@example.com> · refs main · paired with #2" in first
    assert "deploy/app.env:1" in first  # every place, underneath
    assert "do: delete it in Binance API Management now" in first
    removed = out.split("\n#3 ")[1].split("\n#4 ")[0]
    assert "until removed in " in removed and "on 2023-06-01 (92 days)" in removed
    assert "only in the reflog" in out.split("\n#4 ")[1]
    # the rules' remediation once each, not per finding
    assert out.count("binance-api-key: Delete this API key now") == 1
    assert out.count("What to do now") == 0
    for v in k.values():
        assert v not in out


def test_html_report_is_self_contained_and_redacted(repo: Path, keys: list[str], tmp_path: Path) -> None:
    k = audit_repo(repo, keys)
    out = tmp_path / "audit.html"
    r = cg(repo, "history", "--format", "html", "-o", str(out), "--show-secrets")
    assert r.code == 1, r.err
    html = out.read_text()
    assert html.startswith("<!DOCTYPE html>")
    for v in k.values():
        assert v not in html  # redacted, even with --show-secrets
    assert not re.search(r"""(src|href)\s*=|@import|url\(|https?://""", html), "fetches something"
    assert "default-src 'none'" in html
    assert html.count('<tr data-sev="') == 4
    assert html.count('<section class="inc"') == 4


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (Debian: apt-get install chromium; .ci/run does it)")
def test_html_report_in_a_real_headless_browser(repo: Path, keys: list[str], tmp_path: Path) -> None:
    k = audit_repo(repo, keys)
    report = tmp_path / "audit.html"
    assert cg(repo, "history", "--format", "html", "-o", str(report)).code == 1
    assert CHROMIUM is not None

    def chromium(*args: str, url: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                               "--disable-component-update", "--disable-sync", "--no-first-run",
                               f"--user-data-dir={tmp_path / 'profile'}", *args, url],
                              capture_output=True, text=True, timeout=180)

    shot = tmp_path / "shot.png"
    p = chromium("--window-size=1400,1000", f"--screenshot={shot}", url=report.as_uri())
    assert shot.is_file() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000, p.stderr
    # the rendered DOM, after the script ran: the view in the link filters and sorts the table
    p = chromium("--dump-dom", url=report.as_uri() + "#q=old.py&sort=8:desc")
    dom = p.stdout
    assert 'data-ready="1"' in dom, p.stderr[-2000:]  # the inline script ran (the CSP allows only inline code)
    rows = re.findall(r'<tr data-sev="(\w+)"( style="display: none;")?', dom)
    assert [sev for sev, hidden in rows if not hidden] == ["refs"]
    assert [sev for sev, _ in rows] == ["head", "head", "refs", "reflog"]  # sorted by days, longest first
    assert '<span id="shown">1</span>' in dom
    text = re.sub(r"<[^>]+>", " ", dom)
    assert "present at HEAD" in text and "reflog only" in text and "still present at HEAD" in text
    assert f"{k['removed'][:4]}...{k['removed'][-4:]}" in text
    for v in k.values():
        assert v not in dom


def test_staged_advice_speaks_of_a_staged_key(repo: Path, keys: list[str]) -> None:
    commit(repo, {"README.md": "x\n"})
    write(repo, "k.env", env_line(keys[0]))
    git(repo, "add", "k.env")
    r = cg(repo, "staged")
    assert r.code == 1
    assert "staged, never committed" in r.out
    assert "Unstage it: git restore --staged FILE" in r.out and "environment variable" in r.out
    assert "Delete the key in Binance" not in r.out and "also delete it in Binance" not in r.out
    # the same key already committed on another branch: it may be exposed, so both pieces of advice
    git(repo, "stash", "-q")
    git(repo, "checkout", "-q", "-b", "feature")
    commit(repo, {"conf/prod.env": env_line(keys[0])})
    git(repo, "checkout", "-q", "main")
    git(repo, "stash", "pop", "-q")
    git(repo, "add", "k.env")
    r = cg(repo, "staged")
    assert r.code == 1
    assert "also in: refs/heads/feature:conf/prod.env" in r.out
    assert "Unstage it" in r.out and "also delete it in Binance API Management" in r.out
    assert keys[0] not in r.out + r.err


def test_jsonl_one_finding_per_line(repo: Path, keys: list[str]) -> None:
    audit_repo(repo, keys)
    r = cg(repo, "history", "--format", "jsonl")
    assert r.code == 1
    lines = [json.loads(x) for x in r.out.splitlines()]
    assert [x["type"] for x in lines] == ["finding"] * 5 + ["summary"]
    assert lines[-1]["findings"] == 5 and "files_scanned" in lines[-1]["stats"]
    assert all("fingerprint" in x and "secret" not in x for x in lines[:-1])
    assert len(r.out.splitlines()) == 6  # one line each, whatever the content


def test_staged_pair_names_each_value_where_it_already_is(repo: Path, keys: list[str]) -> None:
    """One search for every staged value: the key on a tag and the secret on a branch are each named
    where they are (HEAD and branches are searched before tags); values never on a command line."""
    key, secret = keys[0], keys[1]
    commit(repo, {"README.md": "x\n"})
    git(repo, "checkout", "-q", "-b", "feature")
    commit(repo, {"conf/prod.env": env_line(secret, "BINANCE_API_SECRET")})
    git(repo, "checkout", "-q", "main")
    git(repo, "checkout", "-q", "-b", "old")
    commit(repo, {"deploy/app.env": env_line(key)})
    git(repo, "tag", "v1")
    git(repo, "checkout", "-q", "main")
    git(repo, "branch", "-q", "-D", "old")
    write(repo, "k.env", env_line(key) + env_line(secret, "BINANCE_API_SECRET"))
    git(repo, "add", "k.env")
    r = cg(repo, "staged", "--format", "json")
    assert r.code == 1
    found = {f["rule"]: f.get("also_in") for f in json.loads(r.out)["findings"]}
    assert found == {"binance-api-key": ["refs/tags/v1:deploy/app.env"],
                     "binance-secret-key": ["refs/heads/feature:conf/prod.env"]}, found
    assert key not in r.err and secret not in r.err


def test_staged_key_also_in_reads_each_file_once_and_names_only_true_places(repo: Path, keys: list[str]) -> None:
    """The "also in" search reads HEAD through the work tree and the other tips through what they
    change against HEAD: a tip sharing HEAD's file is named, one that changed or deleted it is not;
    a value only in the work tree (an unstaged edit) is never named as HEAD's; an annotated tag
    counts; the answer is the same from a subfolder."""
    key = keys[0]
    commit(repo, {"README.md": "x\n", "conf/prod.env": env_line(key), "sub/x.txt": "x\n"})
    git(repo, "checkout", "-q", "-b", "shares")
    commit(repo, {"other.txt": "y\n"})  # the same conf/prod.env as main's
    git(repo, "checkout", "-q", "main")
    git(repo, "checkout", "-q", "-b", "changed")
    commit(repo, {"conf/prod.env": "BINANCE_API_KEY=\n"})
    git(repo, "checkout", "-q", "-b", "moved")
    commit(repo, {"conf/prod.env": None, "deploy/app.env": env_line(key)})
    commit(repo, {"deploy/app.env": "BINANCE_API_KEY=\n"})
    git(repo, "tag", "-a", "-m", "release", "v2", "HEAD~1")  # (annotated: the tag names the key's commit)
    git(repo, "checkout", "-q", "main")
    write(repo, "README.md", "x\n" + env_line(key))  # an unstaged edit: not HEAD's
    write(repo, "k.env", env_line(key))
    git(repo, "add", "k.env")
    for where in (repo, repo / "sub"):
        r = cg(where, "staged", "--format", "json")
        assert r.code == 1, r.err
        (finding,) = json.loads(r.out)["findings"]
        assert finding["also_in"] == ["refs/heads/main:conf/prod.env", "refs/heads/shares:conf/prod.env",
                                      "refs/tags/v2:deploy/app.env"], finding
        assert key not in r.out + r.err
