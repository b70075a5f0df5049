"""`cexguard org` end to end: a real LocalCluster of worker processes over real bare repositories."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Run, new_key
from tests.git.conftest import cg, commit, env_line, git
from tests.org.conftest import Org, blob_count, db, noise, run_org, secrets_by_repos

pytestmark = pytest.mark.slow


def build(org: Org) -> dict[str, str]:
    shared, secret, hidden, big, remote = (new_key() for _ in range(5))
    # the same key in three repositories: one incident, three repositories
    for name in ("alpha", "beta", "gamma"):
        org.repo(name, [{"README.md": f"# {name}\n"}, {"deploy/.env": env_line(shared) + env_line(secret, "BINANCE_SECRET_KEY")},
                        {"deploy/.env": None}])
        org.plant(shared, name)
        org.plant(secret, name)
    # a key only in an unreachable object (a deleted branch's leftover commit)
    org.repo("delta", [{"app.py": "print('hi')\n"}], unreachable={"config.py": f'BINANCE_API_KEY = "{hidden}"\n'})
    org.plant(hidden, "delta")
    # a larger repository
    org.repo("large", [noise(200, 20_000), noise(200, 20_000), {"bot/settings.env": env_line(big)}])
    org.plant(big, "large")
    # one mirrored through a file:// URL
    org.repo("remote", [{"k.env": env_line(remote)}], url=True)
    org.plant(remote, "remote")
    # a broken one: its pack truncated
    broken = org.repo("broken", [noise(20, 5_000), {"x.env": env_line(new_key())}])
    git(broken, "repack", "-q", "-a", "-d")
    for pack in (broken / "objects" / "pack").glob("*.pack"):
        data = pack.read_bytes()
        pack.chmod(0o644)
        pack.write_bytes(data[: len(data) // 2])
    return {"shared": shared, "hidden": hidden, "big": big}


def test_org_audit_finds_everything_dedups_reports_broken_and_resumes_incrementally(org: Org) -> None:
    keys = build(org)
    repos = org.repos_file()
    state = org.root / "state"
    code, doc, err = run_org(org.root, str(repos), "--workers", "2", "--state-dir", str(state))
    assert code == 1
    # every planted key found, in exactly the repositories it was planted in: one incident each
    found = secrets_by_repos(doc)
    for key, where in org.planted.items():
        assert found.get(key) == where, (key[:4], found.get(key), where)
    shared = next(i for i in doc["incidents"] if i["secret"] == keys["shared"])
    assert sorted(loc["repository"] for loc in shared["locations"]) == ["alpha", "beta", "gamma"]
    assert all(loc["path"] == "deploy/.env" and loc["commit"] for loc in shared["locations"])
    hidden = next(i for i in doc["incidents"] if i["secret"] == keys["hidden"])
    assert hidden["locations"][0]["reachable"] == "unreachable"
    # the broken repository is reported; the rest completed
    assert [e["repository"] for e in doc["errors"]] == ["broken"]
    rows = {r["name"]: r for r in doc["repositories"]}
    assert rows["broken"]["mode"] == "error" and rows["broken"]["error"]
    assert all(r["mode"] == "full" for n, r in rows.items() if n != "broken")
    assert rows["remote"]["fetch"] == "cloned"
    assert rows["large"]["blobs"] == blob_count(org.bare / "large.git")
    assert doc["stats"]["failed"] == 1 and doc["stats"]["audited"] == 6
    severities = [i["severity"] for i in doc["incidents"]]
    assert severities == sorted(severities, key=["critical", "high", "medium", "low"].index)
    assert "broken: " in err and "7/7 repositories" in err

    # second run: nothing changed, nothing read; the report is the same
    code2, doc2, _ = run_org(org.root, str(repos), "--workers", "2", "--state-dir", str(state))
    assert code2 == 1 and secrets_by_repos(doc2) == found
    rows2 = {r["name"]: r for r in doc2["repositories"]}
    assert all(r["mode"] == "unchanged" and r["blobs"] == 0 for n, r in rows2.items() if n != "broken")
    assert rows2["remote"]["fetch"] == "fetched"

    # a new commit in one repository: only its new blobs are scanned, the new key found, nothing lost
    work = org.work / "alpha"
    fresh = new_key()
    commit(work, {"new.env": env_line(fresh), "notes.txt": "hello\n"})
    git(work, "push", "-q", str(org.bare / "alpha.git"), "main")
    code3, doc3, _ = run_org(org.root, str(repos), "--workers", "2", "--state-dir", str(state))
    rows3 = {r["name"]: r for r in doc3["repositories"]}
    assert rows3["alpha"]["mode"] == "incremental" and rows3["alpha"]["blobs"] == 2
    assert all(r["mode"] == "unchanged" for n, r in rows3.items() if n not in ("alpha", "broken"))
    found3 = secrets_by_repos(doc3)
    assert found3[fresh] == {"alpha"}
    assert {k: v for k, v in found3.items() if k != fresh} == found
    with db(state) as c:
        scanned = dict(c.execute("SELECT repo, SUM(blobs) FROM audits GROUP BY repo").fetchall())
        names = dict(c.execute("SELECT id, name FROM repos").fetchall())
    total = {names[k]: v for k, v in scanned.items()}
    # every blob of alpha scanned exactly once over the three runs
    assert total["alpha"] == blob_count(org.bare / "alpha.git")


def test_other_formats_and_text_table(org: Org) -> None:
    key = new_key()
    org.repo("one", [{"a.env": env_line(key)}])
    org.repo("two", [{"b/a.env": env_line(key)}])
    repos = org.repos_file()
    r = cg(org.root, "org", str(repos), "--workers", "1", "--state-dir", str(org.root / "s"), "--format", "sarif")
    assert r.code == 1, r.err
    import json

    sarif = json.loads(r.out)
    uris = sorted(res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                  for res in sarif["runs"][0]["results"])
    assert uris == ["one/a.env", "two/b/a.env"]
    assert "repository" in r.err and "one" in r.err  # the per-repository table on stderr
    t = cg(org.root, "org", str(repos), "--workers", "1", "--state-dir", str(org.root / "s"))
    assert t.code == 1
    assert "incident 1: binance_api_key" in t.out and "2 repositories, 2 location(s)" in t.out
    assert key not in t.out and key[:4] in t.out
    assert "one: a.env:1" in t.out and "two: b/a.env:1" in t.out
    assert "repository" in t.out and "unchanged" in t.out


def test_bad_inputs_are_one_line_errors(tmp_path: Path) -> None:
    cases = {
        "missing": (None, "no such file"),
        "http": ("http://example.com/x.git\n", "unsupported URL scheme 'http'"),
        "ext": ("ext::sh -c touch% /tmp/pwned\n", "unsupported"),
        "creds": ("https://user:pw@example.com/x.git\n", "credentials in a URL"),
        "empty": ("# nothing\n\n", "no repositories"),
        "dash": ("--upload-pack=touch\n", "may not start with '-'"),
    }
    for name, (text, msg) in cases.items():
        f = tmp_path / f"{name}.txt"
        if text is not None:
            f.write_text(text)
        r = cg(tmp_path, "org", str(f), "--state-dir", str(tmp_path / "s"))
        assert r.code == 2, (name, r.err)
        assert msg in r.err and "Traceback" not in r.err and len(r.err.strip().splitlines()) == 1, (name, r.err)
    r = cg(tmp_path, "org", "--state-dir", str(tmp_path / "s"))
    assert r.code == 2 and "name the repositories" in r.err


def test_nothing_found_but_a_repository_failed_is_incomplete_not_clean(org: Org) -> None:
    org.repo("fine", [{"README.md": "# fine\n"}])
    broken = org.repo("broken", [noise(20, 5_000)])
    git(broken, "repack", "-q", "-a", "-d")
    for pack in (broken / "objects" / "pack").glob("*.pack"):
        data = pack.read_bytes()
        pack.chmod(0o644)
        pack.write_bytes(data[: len(data) // 2])
    code, doc, err = run_org(org.root, str(org.repos_file()), "--workers", "1", "--state-dir", str(org.root / "s"))
    assert code == 4, err
    assert doc["incidents"] == [] and [e["repository"] for e in doc["errors"]] == ["broken"]


def test_exit_code_conventions_and_colour_as_every_command(org: Org) -> None:
    """--exit-code N and --exit-zero decide the exit status with findings, and --color always colours the
    text report, as for scan and history (org used to exit 1 and colour only a terminal, whatever it was told)."""
    org.repo("one", [{"a.env": env_line(new_key())}])
    repos = org.repos_file()
    base = ["org", str(repos), "--workers", "1", "--state-dir", str(org.root / "s")]
    assert cg(org.root, *base).code == 1
    assert cg(org.root, *base, "--exit-code", "3").code == 3
    z = cg(org.root, *base, "--exit-zero")
    assert z.code == 0 and "incident 1" in z.out
    plain = cg(org.root, *base)
    coloured = cg(org.root, *base, "--color", "always")
    assert "\x1b[" not in plain.out and "\x1b[" in coloured.out
    assert "\x1b[" not in cg(org.root, *base, "--color", "never", env={"FORCE_COLOR": "1"}).out


def test_exclude_and_verbose_as_every_command(org: Org) -> None:
    """--exclude drops findings at matching paths (a path in any repository, or REPOSITORY/path), counted and
    listed; -v says what was read."""
    org.repo("one", [{"vendor/a.env": env_line(new_key()), "app/b.env": env_line(new_key())}])
    org.repo("two", [{"app/b.env": env_line(new_key())}])
    repos = org.repos_file()
    base = ["org", str(repos), "--workers", "1", "--state-dir", str(org.root / "s"), "--format", "json"]
    import json

    def paths(r: Run) -> list[str]:
        return sorted(f"{loc['repository']}/{loc['path']}" for i in json.loads(r.out)["incidents"]
                      for loc in i["locations"])

    assert paths(cg(org.root, *base)) == ["one/app/b.env", "one/vendor/a.env", "two/app/b.env"]
    r = cg(org.root, *base, "--exclude", "vendor", "--exclude", "two/app", "-v")
    assert paths(r) == ["one/app/b.env"]
    doc = json.loads(r.out)
    assert doc["stats"]["skipped"]["excluded"] == 2
    assert "cexguard: excluded: one/vendor/a.env" in r.err and "cexguard: excluded: two/app/b.env" in r.err
    assert "cexguard: config:" in r.err
