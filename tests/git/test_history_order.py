"""The full audit reads blobs in delta order (each delta base just before the blobs built on it), so a
small delta-base cache is enough on real histories; whatever the order, every blob is read exactly once."""
from __future__ import annotations

from pathlib import Path

from scanner.sources.git import open_repo
from scanner.sources.objects import DELTA_MEM, _DeltaOrder, list_all_objects
from tests.git.conftest import cg_json, commit, env_line, git, make_repo

ZERO = b"0" * 40


def _oid(n: int) -> bytes:
    return f"{n:040x}".encode()


def _order(pairs: list[tuple[int, int | None]]) -> list[bytes]:
    d = _DeltaOrder()
    for oid, base in pairs:
        d.add(_oid(oid), _oid(base) if base is not None else ZERO)
    return [list(d.index)[i] for i in d.positions()]


def test_bases_come_before_their_deltas_depth_first() -> None:
    # pack order: 1, 2 (delta of 1), 3, 4 (delta of 2), 5 (delta of 1), 6 (delta of 4)
    got = _order([(1, None), (2, 1), (3, None), (4, 2), (5, 1), (6, 4)])
    assert got == [_oid(n) for n in (1, 2, 4, 6, 5, 3)]


def test_a_base_listed_later_or_absent_and_a_cycle_still_list_every_blob_once() -> None:
    # 1's base (2) is listed after it; 3's base is not in the listing (too large, another pack);
    # 4 and 5 name each other (duplicate objects in two packs)
    got = _order([(1, 2), (2, None), (3, 99), (4, 5), (5, 4)])
    assert sorted(got) == [_oid(n) for n in (1, 2, 3, 4, 5)]
    assert got.index(_oid(2)) < got.index(_oid(1))


def test_the_listing_of_a_deltified_history_is_in_delta_order(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "r")
    lines = [f"line {i} of a file that changes a little in every version\n" for i in range(200)]
    for v in range(25):
        lines[v * 7 % 200] = f"version {v}\n"
        commit(repo, {"big.txt": "".join(lines), f"other{v % 3}.txt": f"{v}\n" * 50})
    git(repo, "repack", "-a", "-d", "-f", "-q", "--depth=50", "--window=50")
    bases = {}
    for line in git(repo, "cat-file", "--batch-all-objects", "--batch-check=%(objecttype) %(objectname) "
                    "%(deltabase)").splitlines():
        kind, oid, base = line.split()
        if kind == "blob":
            bases[oid] = base
    assert sum(b != "0" * 40 for b in bases.values()) >= 10  # (a real delta chain to order)
    listing = list_all_objects(open_repo(repo), max_size=1 << 20, procs=[])
    try:
        listing.blobs.seek(0)
        got = listing.blobs.read().decode().split()
    finally:
        listing.close()
    assert sorted(got) == sorted(bases) and listing.count == len(bases)
    pos = {oid: i for i, oid in enumerate(got)}
    assert all(pos[b] < pos[o] for o, b in bases.items() if b in pos)
    assert listing.git_mem == DELTA_MEM


def test_a_deltified_history_is_audited_in_full(tmp_path: Path) -> None:
    """Every version that holds a key is found, whichever order git reads them in."""
    from tests.conftest import new_key

    repo = make_repo(tmp_path / "r")
    keys = [new_key() for _ in range(6)]
    body = "".join(f"setting_{i} = {i}\n" for i in range(300))
    for k in keys:
        commit(repo, {"config.env": body + env_line(k)})
    git(repo, "repack", "-a", "-d", "-f", "-q", "--depth=50", "--window=50")
    _, doc, _ = cg_json(repo, "history")
    assert doc["stats"]["blobs"] == len(keys)  # one blob per version
    assert len(doc["findings"]) == len(keys)
    assert len({f["fingerprint"] for f in doc["findings"]}) == len(keys)


def test_the_log_filter_finds_every_entry_whatever_the_block_boundaries(tmp_path: Path, monkeypatch) -> None:
    """The whole-history log is filtered block by block, reading back only the entries that name a
    blob with findings: with tiny blocks (ids, entries and commit headers cut at every place) it gives
    the same events, in the same order, as parsing every record whole."""
    from scanner.sources import gitlog as h

    repo = make_repo(tmp_path / "r")
    for v in range(12):
        commit(repo, {f"d{v % 4}/file {v % 3}.env": f"value {v}\n", "b.txt": f"{v}\n" * (v + 1)})
        if v % 4 == 3:
            git(repo, "checkout", "-q", "-b", f"side{v}")
            commit(repo, {"side.txt": f"{v}\n"})
            git(repo, "checkout", "-q", "-")
            git(repo, "merge", "-q", "--no-ff", "-m", "merge", f"side{v}")
    g = open_repo(repo)
    log = h.HistoryLog(g)
    log.start()
    assert log.proc is not None and log.out is not None
    log.proc.check()
    log.out.seek(0)
    text = log.out.read()
    blobs = sorted(set(git(repo, "rev-list", "--objects", "--all").split()) & set(
        x.split()[1] for x in git(repo, "cat-file", "--batch-all-objects", "--batch-check=%(objecttype) %(objectname)")
        .splitlines() if x.startswith("blob ")))
    want = {b.encode() for b in blobs[::2]}
    log.out.seek(0)
    reference = [e for rec in h._records_mentioning(log.out, want) for e in h._record_events(rec, want, False)]
    assert len(reference) >= 10
    for block in (7, 64, 129, 1000, len(text)):
        monkeypatch.setattr(h, "_BLOCK", block)
        for finder in (h._id_finder(want), _bytes_find(want)):
            log.out.seek(0)
            assert h._entries_mentioning(log.out, want, finder) == reference, block
    log.close()


def _bytes_find(want: set[bytes]):
    def find(buf) -> list[int]:
        data = bytes(buf)
        return sorted(i + len(w) - 1 for w in want for i in range(len(data)) if data.startswith(w, i))
    return find
