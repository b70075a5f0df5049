"""The history reader: git's output read into one reused buffer; blobs that straddle its end, blobs
larger than it, decoded blobs and skipped objects all come out whole and in step."""
from __future__ import annotations

from pathlib import Path

import pytest

from scanner.models import ScanStats
from scanner.sources import reading
from scanner.sources.git import open_repo
from scanner.sources.objects import list_all_objects
from tests.conftest import new_key
from tests.git.conftest import commit, env_line, git, make_repo


@pytest.mark.parametrize("buf", [reading._BUF, 1 << 12])
def test_every_blob_is_read_whole_whatever_the_buffer(tmp_path: Path, engine, buf: int,  # type: ignore[no-untyped-def]
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """With a 4 KiB buffer the blobs here straddle its end or outgrow it: each key (at a blob's first
    and last bytes) is still found, in the blob that holds it, and nothing is reported unreadable."""
    monkeypatch.setattr(reading, "_BUF", buf)
    monkeypatch.setattr(reading, "_MIN_READ", min(reading._MIN_READ, buf // 8))
    repo = make_repo(tmp_path / "r")
    keys: dict[str, set[str]] = {}
    for i, pad in enumerate((0, 700, 1500, 2200, 2900, 3300, 3500, 3900, 4200, 9000, 20000)):
        k1, k2 = new_key(), new_key()
        keys[f"f{i}.env"] = {k1, k2}  # one at its very start, one at its very end
        commit(repo, {f"f{i}.env": env_line(k1) + "# " + "x" * pad + "\n" + env_line(k2, "BINANCE_SECRET_KEY")})
    k = new_key()
    keys["utf16.env"] = {k}
    (repo / "utf16.env").write_bytes(b"\xff\xfe" + env_line(k).encode("utf-16-le"))
    git(repo, "add", "utf16.env")
    git(repo, "commit", "-q", "-m", "utf-16")
    big = new_key()
    commit(repo, {"huge.env": env_line(big) + "#" * 30000 + "\n"})  # over max_size: skipped, counted
    commit(repo, {"plain.txt": "nothing to see\n" * 500})
    r = open_repo(repo)
    procs: list = []
    listing = list_all_objects(r, max_size=1 << 30, procs=procs)
    tree = git(repo, "rev-parse", "HEAD^{tree}").strip().encode()
    listing.blobs.seek(0, 2)
    listing.blobs.write(tree + b"\n")  # not a blob: read past
    listing.count += 1
    stats = ScanStats()
    try:
        res = reading.stream_scan(r, engine, stats, listing, with_rest=False, max_size=25000, progress=None,
                                  procs=procs)
    finally:
        listing.close()
        for p in procs:
            p.stop()
    blob_of = {git(repo, "rev-parse", f"HEAD:{path}").strip(): k for path, k in keys.items()}
    assert set(res.hits) == set(blob_of)
    for oid, ks in blob_of.items():
        assert {f.secret for f in res.hits[oid]} == ks, oid
    assert stats.skipped.get("too_large") == 1
    assert stats.unreadable_lines() == []
    assert res.blobs == listing.count - 1  # every blob, the tree aside
