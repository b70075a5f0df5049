#!/usr/bin/env python3
"""Build a large git repository offline for the `run.py history` benchmark, through one `git fast-import`.

  make_history.py --out REPO [--commits 30000] [--gb 2] [--worktree] [--no-repack] [--seed 1] [--force]

History: a `main` line that real source files (Python stdlib and packages found on this machine, see
_common.source_roots) enter one by one and then evolve: every commit rewrites a few files with one inserted
line, so every blob is unique and the sum of all blob sizes reaches --gb GiB. Feature branches fork and merge
back (merge commits), a few stay open, release branches get backports, annotated and lightweight tags mark
releases. Structure and file choice are a pure function of --seed; only the planted key values are new on
every run (generated with `secrets`).

Planted credentials (plaintext in REPO.planted.json, next to the repository, never inside it):
  deleted      main: a .env added, then deleted 50 commits later (in history, not at HEAD)
  side-branch  only on the unmerged branch experiment/binance-bot
  tag-only     a commit reachable only from the annotated tag v0.9.9-hotfix (its branch was deleted)
  unreachable  a commit whose branch was deleted (no ref, no reflog), and a dangling blob written with
               `git hash-object -w`: only tools that read every object (cat-file --batch-all-objects) see them

--worktree makes a normal repository with `main` checked out (needed by `staged`); the default is bare.
By default the pack is then rewritten as `git gc` would (`repack -a -d -f -k`, which keeps the unreachable
objects, plus a commit-graph): fast-import deltas each blob against the previous blob of any path, a real
repository deltas each file against its own earlier versions (4-5x smaller, faster to read). --no-repack
skips that.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import binance_key, ed25519_pem, iter_source_files, redact, source_roots

AUTHORS = [("Ada Park", "ada@example.com"), ("Bo Chen", "bo@example.com"), ("Cai Ruiz", "cai@example.com"),
           ("Dee Okafor", "dee@example.com"), ("Eli Novak", "eli@example.com"), ("Fay Ito", "fay@example.com")]
WORDS = ["fix", "refactor", "tune", "cache", "retry", "parse", "order", "book", "depth", "ticker", "symbol", "filter", "handler", "config", "logging", "metrics", "client", "session", "timeout", "backoff", "limit", "window", "stream", "socket", "candle"]
EPOCH = 1577836800  # 2020-01-01


def load_pool(pool_mb: float, max_file: int, seed: int) -> list[tuple[str, bytes]]:
    """(repo path, content) of real source files, a fixed sample (hash order), about pool_mb MiB."""
    import hashlib
    out_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cands = [c for c in iter_source_files(source_roots(), skip_prefixes=(out_dir, "/tmp/bench"))
             if c[3] <= max_file]
    cands.sort(key=lambda c: hashlib.sha1(f"{seed}:{c[0]}/{c[1]}".encode()).digest())
    pool, total = [], 0
    for label, rel, path, _size in cands:
        if total >= pool_mb * 2**20:
            break
        try:
            with open(path, "rb") as fh:
                data = fh.read()
        except OSError:
            continue
        if not data.endswith(b"\n"):
            data += b"\n"
        pool.append((f"{label}/{rel}".replace(os.sep, "/"), data))
        total += len(data)
    if not pool:
        sys.exit("make_history: no source files found on this machine")
    return pool


class Importer:
    """Writes a fast-import stream; tracks marks, per-branch file contents and what was emitted."""

    def __init__(self, proc: subprocess.Popen, rng: random.Random):
        self.w = proc.stdin
        self.rng = rng
        self.mark = 0
        self.time = EPOCH
        self.blob_bytes = 0
        self.blobs = 0
        self.commits = 0

    def next_mark(self) -> int:
        self.mark += 1
        return self.mark

    def blob(self, data: bytes) -> int:
        m = self.next_mark()
        self.w.write(b"blob\nmark :%d\ndata %d\n" % (m, len(data)))
        self.w.write(data)
        self.w.write(b"\n")
        self.blob_bytes += len(data)
        self.blobs += 1
        return m

    def commit(self, ref: str, msg: str, changes: list[tuple[str, int | None]], parent: int | None = None,
               merge: int | None = None) -> int:
        """changes: (path, blob mark) or (path, None) to delete. Returns the commit mark."""
        m = self.next_mark()
        self.time += self.rng.randint(60, 3000)
        name, email = AUTHORS[self.rng.randrange(len(AUTHORS))]
        body = msg.encode()
        parts = [b"commit %s\nmark :%d\n" % (ref.encode(), m),
                 b"author %s <%s> %d +0000\n" % (name.encode(), email.encode(), self.time),
                 b"committer %s <%s> %d +0000\n" % (name.encode(), email.encode(), self.time),
                 b"data %d\n%s\n" % (len(body), body)]
        if parent is not None:
            parts.append(b"from :%d\n" % parent)
        if merge is not None:
            parts.append(b"merge :%d\n" % merge)
        for path, mark in changes:
            parts.append(b"D %s\n" % path.encode() if mark is None else b"M 100644 :%d %s\n" % (mark, path.encode()))
        parts.append(b"\n")
        self.w.write(b"".join(parts))
        self.commits += 1
        return m

    def tag(self, name: str, commit_mark: int, msg: str) -> None:
        self.time += 1
        body = msg.encode()
        self.w.write(b"tag %s\nfrom :%d\ntagger Release Bot <release@example.com> %d +0000\ndata %d\n%s\n"
                     % (name.encode(), commit_mark, self.time, len(body), body))

    def light_tag(self, name: str, commit_mark: int) -> None:
        self.w.write(b"reset refs/tags/%s\nfrom :%d\n\n" % (name.encode(), commit_mark))


def build(out: str, commits: int = 30000, gb: float = 2.0, worktree: bool = False, repack: bool = True,
          seed: int = 1, force: bool = False, quiet: bool = False, pool_mb: float | None = None) -> dict:
    t0 = time.monotonic()
    out = os.path.abspath(out)
    say = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))
    if os.path.exists(out):
        if not force and os.listdir(out):
            sys.exit(f"make_history: {out} exists and is not empty (use --force to replace it)")
        shutil.rmtree(out)
    os.makedirs(out)
    git = ["git", "-C", out]
    subprocess.run(["git", "init", "-q", "--initial-branch=main", *([] if worktree else ["--bare"]), out], check=True)
    for k, v in (("gc.auto", "0"), ("core.logAllRefUpdates", "false"), ("user.name", "Bench"),
                 ("user.email", "bench@example.com")):
        subprocess.run(git + ["config", k, v], check=True)
    gitdir = os.path.join(out, ".git") if worktree else out

    rng = random.Random(seed)
    total_target = int(gb * 2**30)
    per_commit = max(1, total_target // max(1, commits))
    # a pool big enough that files keep entering the repo, small enough to load fast
    pool = load_pool(pool_mb if pool_mb is not None else min(160.0, max(8.0, gb * 60)),
                     max_file=256 * 1024, seed=seed)
    say(f"make_history: pool of {len(pool)} source files ({sum(len(d) for _, d in pool) / 2**20:.0f} MiB), "
        f"{commits} commits, ~{per_commit / 1024:.0f} KiB of new blobs per commit")

    marks_file = os.path.join(gitdir, "bench-marks")
    # when the pack gets rewritten anyway (repack -f), import cheaply: no deltas, light zlib (~30% less CPU)
    cheap = ["-c", "core.compression=1", "-c", "pack.compression=1"] if repack else []
    proc = subprocess.Popen(git + cheap + ["fast-import", "--quiet", "--done", f"--export-marks={marks_file}",
                                           *(["--depth=0"] if repack else [])],
                            stdin=subprocess.PIPE, bufsize=1 << 20)
    imp = Importer(proc, rng)
    planted: list[dict] = []

    # main state: path -> content, path -> blob mark
    content: dict[str, bytes] = {}
    next_new = 0  # index into pool of the next file to add

    def mutate(data: bytes, i: int, path: str) -> bytes:
        off = data.find(b"\n", rng.randrange(len(data))) + 1 if len(data) > 1 else len(data)
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6)))
        line = b"# rev %d %s: %s\n" % (i, path.rsplit("/", 1)[-1].encode(), words.encode())
        return data[:off] + line + data[off:]

    def work(state: dict[str, bytes], i: int, budget: int, allow_add: bool = True) -> list[tuple[str, int | None]]:
        """One commit's worth of changes against `state` (mutated in place)."""
        nonlocal next_new
        changes, spent = [], 0
        paths = list(state) if state else []
        while spent < budget:
            if allow_add and next_new < len(pool) and (not paths or rng.random() < 0.15):
                path, data = pool[next_new]
                next_new += 1
                paths.append(path)
            else:
                path = paths[rng.randrange(len(paths))]
                if any(p == path for p, _ in changes):
                    if len(changes) >= len(paths):
                        break
                    continue
                data = mutate(state[path], i, path)
            state[path] = data
            changes.append((path, imp.blob(data)))
            spent += len(data)
        if paths and rng.random() < 0.01 and len(state) > 50:  # an occasional deletion
            victim = paths[rng.randrange(len(paths))]
            if all(p != victim for p, _ in changes):
                del state[victim]
                changes.append((victim, None))
        return changes

    def msg(i: int) -> str:
        return f"{rng.choice(WORDS).capitalize()} {rng.choice(WORDS)} {rng.choice(WORDS)} (#{i})\n"

    def plant_file(path: str, text: str, where: str, ref: str, kinds: list[tuple[str, str]]) -> tuple[str, int]:
        m = imp.blob(text.encode())
        lines = text.splitlines()
        for kind, value in kinds:
            probe = value.splitlines()[0] if kind == "binance_private_key" else value
            line = next(n for n, ln in enumerate(lines, 1) if probe in ln)
            planted.append({"where": where, "ref": ref, "file": path, "line": line, "kind": kind, "value": value,
                            "blob_mark": m})
        return path, m

    # schedule
    n_features = max(2, commits // 750)
    feature_at = {int(commits * (k + 0.5) / n_features): k for k in range(n_features)}
    open_features = set(sorted(feature_at.values())[-3:])  # the last three stay unmerged
    n_tags = max(3, commits // 3000)
    tag_at = {int(commits * (k + 1) / (n_tags + 1)): k for k in range(n_tags)}
    p_deleted, p_side, p_tag, p_unreach = (int(commits * f) for f in (0.25, 0.5, 0.75, 0.9))
    merged_refs: list[str] = []  # feature branches merged into main: deleted after the import, as usual
    pending_merges: list[tuple[int, int, dict[str, bytes], dict[str, int], str]] = []  # (due, mark, state, changed, ref)
    main_tip: int | None = None
    made = 0  # commits so far, all branches (the --commits budget)
    i = 0
    releases = 0
    while made < commits:
        i += 1
        # adaptive: spread what is left of the byte budget over the commits that are left
        per_commit = max(1, (total_target - imp.blob_bytes) // max(1, commits - made))
        budget = int(per_commit * rng.uniform(0.2, 1.4))
        changes = work(content, i, budget)
        extra_msg = ""
        if i == p_deleted:
            k, s = binance_key(), binance_key()
            changes.append(plant_file("config/.env.production",
                                      f"APP_ENV=production\nBINANCE_API_KEY={k}\nBINANCE_API_SECRET={s}\n",
                                      "deleted", "main", [("binance_api_key", k), ("binance_secret_key", s)]))
            extra_msg = "Add production env\n"
        if i == p_deleted + 50:
            changes.append(("config/.env.production", None))
            extra_msg = "Remove env file, use vault\n"
        # merge features that are due
        merge_mark = None
        if pending_merges and pending_merges[0][0] <= i:
            _, fmark, fstate, fchanged, fref = pending_merges.pop(0)
            merged_refs.append(fref)
            for path in fchanged:
                content[path] = fstate[path]
                changes = [c for c in changes if c[0] != path]
                changes.append((path, fchanged[path]))
            merge_mark = fmark
            extra_msg = f"Merge feature branch (#{i})\n"
        main_tip = imp.commit("refs/heads/main", extra_msg or msg(i), changes, parent=main_tip, merge=merge_mark)
        made += 1
        if i == p_deleted:
            planted[-1]["commit_mark"] = planted[-2]["commit_mark"] = main_tip
        if i in tag_at:
            k = tag_at[i]
            imp.tag(f"v1.{k}.0", main_tip, f"Release 1.{k}.0\n")
            imp.light_tag(f"build-{k:03d}", main_tip)
            if releases < 3:  # release branch with backports, never merged
                releases += 1
                state = dict(content)
                tip = main_tip
                for j in range(rng.randint(3, 8)):
                    tip = imp.commit(f"refs/heads/release/1.{k}", f"Backport fix {j} (#{i})\n",
                                     work(state, i * 1000 + j, per_commit // 2, allow_add=False), parent=tip)
                    made += 1
        if i in feature_at:
            k = feature_at[i]
            ref = f"refs/heads/feature/{k:03d}-{rng.choice(WORDS)}"
            state, changed, tip = dict(content), {}, main_tip
            for j in range(rng.randint(5, 30)):
                ch = work(state, i * 1000 + j, per_commit, allow_add=False)
                changed.update({p: m for p, m in ch if m is not None})
                for p, m in ch:
                    if m is None:
                        changed.pop(p, None)
                tip = imp.commit(ref, msg(i * 1000 + j), ch, parent=tip)
                made += 1
            changed = {p: m for p, m in changed.items() if p in state}
            if k not in open_features:
                pending_merges.append((i + rng.randint(3, 40), tip, state, changed, ref))
        if i == p_side:
            ref = "refs/heads/experiment/binance-bot"
            state, tip = dict(content), main_tip
            k, s = binance_key(), binance_key()
            tip = imp.commit(ref, "Try a trading bot\n", work(state, i * 1000, per_commit, False), parent=tip)
            tip = imp.commit(ref, "Bot client\n", [plant_file(
                "bot/binance_client.py",
                f'from binance.client import Client\n\nclient = Client("{k}", "{s}")\n',
                "side-branch", ref, [("binance_api_key", k), ("binance_secret_key", s)])], parent=tip)
            planted[-1]["commit_mark"] = planted[-2]["commit_mark"] = tip
            tip = imp.commit(ref, "Bot loop\n", work(state, i * 1000 + 1, per_commit, False), parent=tip)
            made += 3
        if i == p_tag:
            k, s = binance_key(), binance_key()
            tip = imp.commit("refs/heads/hotfix-tmp", "Hotfix: hardcode exchange creds\n", [plant_file(
                "deploy/secrets.yaml", f"exchange: binance\napiKey: {k}\napiSecret: {s}\n",
                "tag-only", "refs/tags/v0.9.9-hotfix", [("binance_api_key", k), ("binance_secret_key", s)])],
                parent=main_tip)
            planted[-1]["commit_mark"] = planted[-2]["commit_mark"] = tip
            imp.tag("v0.9.9-hotfix", tip, "Emergency hotfix\n")
            made += 1
        if i == p_unreach:
            k, s, pem = binance_key(), binance_key(), ed25519_pem()
            tip = imp.commit("refs/heads/wip-scratch", "WIP scratch\n", [
                plant_file("scratch/keys.env", f"BINANCE_KEY={k}\nBINANCE_SECRET={s}\n", "unreachable-commit",
                           "(deleted branch wip-scratch)", [("binance_api_key", k), ("binance_secret_key", s)]),
                plant_file("scratch/binance_ed25519.pem", pem, "unreachable-commit", "(deleted branch wip-scratch)",
                           [("binance_private_key", pem)])], parent=main_tip)
            for p in planted[-3:]:
                p["commit_mark"] = tip
            made += 1
        if not quiet and i % 2000 == 0:
            say(f"  {made} commits, {imp.blob_bytes / 2**30:.2f} GiB of blobs, {time.monotonic() - t0:.0f}s")
    proc.stdin.write(b"done\n")
    proc.stdin.close()
    if proc.wait() != 0:
        sys.exit(f"make_history: git fast-import failed (exit {proc.returncode})")
    t_import = time.monotonic() - t0

    # marks -> commit ids
    marks = {}
    with open(marks_file) as fh:
        for line in fh:
            m, sha = line.split()
            marks[int(m[1:])] = sha
    os.unlink(marks_file)
    for p in planted:
        p["commit"] = marks[p.pop("commit_mark")]
        p["blob"] = marks[p.pop("blob_mark")]
    # the deleted .env: also record the commit that removed it
    doomed = merged_refs + ["refs/heads/hotfix-tmp", "refs/heads/wip-scratch"]
    subprocess.run(git + ["update-ref", "--stdin"], input="".join(f"delete {r}\n" for r in doomed).encode(),
                   check=True)
    k, s = binance_key(), binance_key()
    dangling = f"# never committed\nbinance_api_key = {k}\nbinance_api_secret = {s}\n"
    sha = subprocess.run(git + ["hash-object", "-w", "--stdin"], input=dangling.encode(), check=True,
                         capture_output=True).stdout.decode().strip()
    for kind, value, line in (("binance_api_key", k, 2), ("binance_secret_key", s, 3)):
        planted.append({"where": "dangling-blob", "ref": "(none)", "file": "(blob only)", "line": line,
                        "kind": kind, "value": value, "blob": sha})
    if worktree:
        subprocess.run(git + ["checkout", "-q", "-f", "main"], check=True)
    if repack:  # what `git gc` would leave behind: one well-deltified pack and a commit-graph
        subprocess.run(git + ["repack", "-a", "-d", "-f", "-k", "-q", "--window=10", "--depth=50"], check=True)
        subprocess.run(git + ["commit-graph", "write", "--reachable"], check=True, capture_output=True)
    dt = time.monotonic() - t0

    def du(path: str) -> int:
        return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)

    refs = subprocess.run(git + ["for-each-ref", "--format=%(refname)"], capture_output=True, text=True).stdout.split()
    manifest = {"repo": out, "bare": not worktree, "commits": imp.commits, "blobs": imp.blobs,
                "blob_bytes": imp.blob_bytes, "git_dir_bytes": du(gitdir), "refs": refs, "seed": seed,
                "seconds_import": round(t_import, 1), "seconds_total": round(dt, 1), "planted": planted}
    with open(out.rstrip("/") + ".planted.json", "w") as fh:
        json.dump(manifest, fh, indent=1)
    say(f"make_history: {imp.commits} commits, {imp.blobs} blobs, {imp.blob_bytes / 2**30:.2f} GiB of blob content, "
        f".git {manifest['git_dir_bytes'] / 2**20:.0f} MiB on disk, {len(refs)} refs "
        f"({sum(r.startswith('refs/heads/') for r in refs)} branches, {sum(r.startswith('refs/tags/') for r in refs)} "
        f"tags) in {dt:.0f}s (fast-import {t_import:.0f}s) -> {out}")
    say(f"planted ({len(planted)} secrets, plaintext in {out.rstrip('/')}.planted.json):")
    for p in planted:
        where = p["commit"][:10] if "commit" in p else "blob:" + p["blob"][:5]
        say(f"  {p['where']:<19} {p['ref']:<30} {where} {p['file']}:{p['line']}  {p['kind']:<20} {redact(p['value'])}")
    return manifest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="repository to create (e.g. /tmp/bench/history.git)")
    ap.add_argument("--commits", type=int, default=30000, help="number of commits, all branches (default 30000)")
    ap.add_argument("--gb", type=float, default=2.0, help="GiB of total (unique) blob content (default 2)")
    ap.add_argument("--worktree", action="store_true", help="non-bare repository with main checked out")
    ap.add_argument("--no-repack", dest="repack", action="store_false",
                    help="keep fast-import's pack as is (default: repack -a -d -f -k + commit-graph, like gc)")
    ap.add_argument("--seed", type=int, default=1, help="structure and file choice (default 1)")
    ap.add_argument("--pool-mb", type=float, help="MiB of distinct source files to draw from (default: ~60 x GB)")
    ap.add_argument("--force", action="store_true", help="replace REPO if it exists")
    a = ap.parse_args()
    build(a.out, a.commits, a.gb, a.worktree, a.repack, a.seed, a.force, pool_mb=a.pool_mb)


if __name__ == "__main__":
    main()
