"""What the next commit will contain: the index, compared with HEAD.

A commit is blocked exactly when it adds a secret. So this source reads the *staged* blob of every
added, modified, renamed or type-changed file (never the working tree: partial staging is honoured
both ways, and a key staged and then removed from the working file still counts), and a finding is
kept only when the secret is new to that file: not found in the file's version at HEAD (or the
rename source; during a merge, in any merged parent's version). Deleted files, untracked files and
unstaged edits are not part of the commit and are never read.

Cheap on purpose (it is the pre-commit hook's path): one `git diff-index` and one `git cat-file`,
and the HEAD version is read only for the rare file that has a finding.
"""
from __future__ import annotations

from collections import namedtuple

from scanner.sources.git import CatFile, GitError, Repo, blob_id, decode_path, split_z

TYPE_CHECKING = False  # (not `typing.TYPE_CHECKING`: importing typing costs the pre-commit hook ~2 ms)
if TYPE_CHECKING:  # (scanner.models is imported where a chunk or finding is made: not on the hook's quick path)
    from collections.abc import Collection, Iterator

    from scanner.engine import Engine
    from scanner.models import Chunk, Finding, ScanStats

GITLINK = b"160000"  # a submodule's commit, not a file


class StagedFile(namedtuple("StagedFile", "path blob status old_path old_blob", defaults=(None, None))):
    """path: repository-relative, '/'-separated; blob: the staged version; status: A, M, R, C or T;
    old_path: the file's path at HEAD (differs for a rename); old_blob: its blob at HEAD, None when
    the commit adds the file. (collections.namedtuple: typing is not imported on the hook's path.)"""

    __slots__ = ()
    path: str
    blob: str
    status: str
    old_path: str | None
    old_blob: str | None


def staged_files(repo: Repo, *, paths: Collection[str] | None = None) -> list[StagedFile]:
    """The files the next commit adds or changes, from `git diff-index --cached -M HEAD`.

    `paths` (repository-relative) limits the answer to those files (pre-commit passes the staged
    names it matched, maybe in several batches).
    """
    p = repo.run(*DIFF_INDEX, "HEAD", check=False, offline=True)  # one process in the common case
    raw = p.stdout if p.returncode == 0 else repo.git(*DIFF_INDEX, repo.head() or repo.empty_tree, offline=True)
    return parse_diff_index(raw, paths)


DIFF_INDEX = ("diff-index", "--cached", "-z", "-M", "--no-ext-diff")  # then the commit (HEAD) or the empty tree


def parse_diff_index(raw: bytes, paths: Collection[str] | None = None) -> list[StagedFile]:
    """`staged_files`' answer from the output of `git DIFF_INDEX HEAD`."""
    parts = split_z(raw)
    res: list[StagedFile] = []
    for meta in parts:
        fields = meta[1:].split(b" ")  # ':old_mode new_mode old_oid new_oid STATUS'
        if len(fields) != 5:
            break  # never expected; do not misread what follows
        old_mode, new_mode, old_oid, new_oid, status = fields
        st = status[:1].decode()
        src = next(parts)
        dst = next(parts) if st in ("R", "C") else src
        if st in ("D", "U", "X") or new_mode == GITLINK:
            continue
        path = decode_path(dst)
        if paths is not None and path not in paths:
            continue
        if st in ("R", "C") and old_oid == new_oid:
            continue  # moved or copied unchanged: adds nothing
        has_old = st != "A" and old_mode != GITLINK and set(old_oid) != {ord("0")}
        res.append(StagedFile(path=path, blob=new_oid.decode(), status=st,
                              old_path=decode_path(src) if has_old else None,
                              old_blob=old_oid.decode() if has_old else None))
    return res


def estimated_size(repo: Repo, files: list[StagedFile]) -> int:
    """Bytes the commit's files hold, from the working tree's sizes (close, and free to learn)."""
    import os

    total = 0
    for f in files:
        try:
            total += os.stat(os.path.join(repo.cwd, f.path)).st_size
        except OSError:
            total += 1 << 20  # staged, then deleted or replaced in the work tree: assume big
    return total


def merge_heads(repo: Repo) -> list[str]:
    """The other parents of the commit being made when a merge is in progress."""
    try:
        text = (repo.git_dir / "MERGE_HEAD").read_text()
    except OSError:
        return []
    return [line.strip() for line in text.splitlines() if line.strip()]


def _from_worktree(repo: Repo, f: StagedFile, max_size: int) -> bytes | None:
    """The staged contents read from the work tree, when the file there is byte for byte the
    staged blob (its id proves it): the usual case under pre-commit, which sets unstaged edits
    aside first. Saves starting `git cat-file` for a small commit."""
    return worktree_blob(str(repo.cwd), f.path, f.blob, repo.object_format, max_size)


def worktree_blob(root: str, path: str, oid: str, object_format: str, max_size: int) -> bytes | None:
    """The bytes of `path` in the work tree at `root` if it is a regular file of at most
    min(max_size, SMALL_FILE) bytes holding exactly blob `oid`, else None."""
    import os
    import stat

    full = os.path.join(root, path)
    try:
        st = os.lstat(full)
        if not stat.S_ISREG(st.st_mode) or st.st_size > max_size or st.st_size > SMALL_FILE:
            return None
        with open(full, "rb") as fh:
            data = fh.read(SMALL_FILE + 1)
    except OSError:
        return None
    return data if blob_id(data, object_format) == oid else None


SMALL_FILE = 1 << 20  # larger staged files are read from git directly


def iter_staged(repo: Repo, files: list[StagedFile], cat: CatFile, stats: ScanStats,
                *, max_size: int) -> Iterator[tuple[StagedFile, Chunk]]:
    """The staged contents of `files` as chunks (too large ones are skipped and counted)."""
    from scanner.models import Chunk, FileProvenance

    for f in files:
        local = _from_worktree(repo, f, max_size)
        if local is not None:
            yield f, Chunk(data=local, path=f.path, git_status="tracked",
                           provenance=FileProvenance(staged=True, blob=f.blob))
            continue
        try:
            got = cat.get(f.blob, max_size=max_size)
        except GitError:  # git stopped inside it (corrupt); the next read starts a new git
            stats.skip("missing_object")
            stats.unread(f"{f.blob} at {f.path} (corrupt: git cannot read it)")
            continue
        if got is None:
            stats.skip("missing_object")
            stats.unread(f"{f.blob} at {f.path} (missing)")
            continue
        _type, data, _size = got
        if data is None:
            stats.skip("too_large")
            continue
        yield f, Chunk(data=data, path=f.path, git_status="tracked",
                       provenance=FileProvenance(staged=True, blob=f.blob))


def scan_staged(repo: Repo, engine: Engine, stats: ScanStats, *, paths: Collection[str] | None = None,
                max_size: int, exclude: tuple[str, ...] = (), files: list[StagedFile] | None = None
                ) -> list[Finding]:
    """Findings for the secrets that the next commit adds (`exclude`: the config's path globs;
    `files`: the answer of `staged_files` if the caller already has it)."""
    if files is None:
        files = staged_files(repo)
    if paths is not None:
        files = [f for f in files if f.path in paths]
    if exclude:
        from scanner.sources.files import _excluded, note_excluded

        kept = []
        for f in files:
            if _excluded(f.path, exclude):
                note_excluded(stats, f.path)
            else:
                kept.append(f)
        files = kept
    stats.extra["staged_files"] = len(files)
    if not files:
        return []
    findings: list[Finding] = []
    others = merge_heads(repo)
    with CatFile(repo) as cat:
        for f, chunk in iter_staged(repo, files, cat, stats, max_size=max_size):
            found = engine.scan(chunk, stats)
            if found:
                found = _new_in_commit(repo, engine, cat, f, found, others, max_size=max_size)
                findings.extend(found)
    return findings


def _new_in_commit(repo: Repo, engine: Engine, cat: CatFile, f: StagedFile, found: list[Finding],
                   merge_parents: list[str], *, max_size: int) -> list[Finding]:
    """Drop the findings whose secret the file already had before this commit."""
    from scanner.models import Chunk, ScanStats

    olds: list[tuple[str, str]] = []  # (object name, path) of the previous versions
    if f.old_blob:
        olds.append((f.old_blob, f.old_path or f.path))
    olds += [(f"{parent}:{f.path}", f.path) for parent in merge_parents if "\n" not in f.path]
    for name, path in olds:
        try:
            got = cat.get(name, max_size=max_size)
        except GitError:  # an unreadable old version: the secret counts as new (reported, never hidden)
            continue
        if got is None or got[1] is None:
            continue
        old = got[1]
        known = {x.fingerprint for x in engine.scan(Chunk(data=old, path=path), ScanStats())}
        found = [x for x in found if x.fingerprint not in known and not _literally_in(x.secret, old)]
        if not found:
            break
    return found


def _literally_in(secret: str, data: bytes) -> bool:
    """The secret's bytes are already in the old version (even where nothing reported them)."""
    try:
        return secret.encode("ascii") in data
    except UnicodeEncodeError:
        return False
