"""`cexguard staged`, `cexguard history` and `cexguard install-hook`: git-aware scanning.

`staged` is the pre-commit hook's path: it imports only what it uses (no gitpython; the engine,
filters and reporters are imported inside the function).
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from scanner.clikit import finish, report_options
from scanner.errors import CexguardError
from scanner.models import ScanResult, ScanStats
from scanner.safetext import safe

if TYPE_CHECKING:
    from scanner.config import Config
    from scanner.engine import Engine
    from scanner.sources.git import Repo

ZERO = ("0" * 40, "0" * 64)


NO_COMMIT = "-"  # `at` for a repository config that no commit holds yet (none is read)


def _config(root: Path, config_path: str | None, max_file_size: str | None, *, repo: Repo | None = None,
            at: str | None = None, committed_ignore: bool = True) -> Config:
    """The user's config (--config, or the user config file) and the repository's: from the work
    tree, or with `repo` and `at`, as commit `at` has it (NO_COMMIT: none)."""
    from scanner.config import committed_reader, load_config, parse_size

    committed = None
    if repo is not None and at is not None:
        committed = committed_reader(repo, at) if at != NO_COMMIT else (lambda _name: None)
    config = load_config(root, Path(config_path) if config_path else None, committed=committed,
                         committed_at=(at or "")[:12], committed_ignore=committed_ignore)
    if max_file_size:
        config = config.with_(max_file_size=parse_size(max_file_size, where="--max-file-size"))
    return config


# Below this many bytes to scan, the pure-regex prefilter beats compiling the Hyperscan database
# (~50 ms); both give the same findings.
SMALL_SCAN = 2 << 20


def _engine(config: Config, *, small: bool = False) -> Engine:
    from scanner.engine import Engine

    return Engine.from_config(config, prefilter="regex" if small else "auto")


def _filter(findings: list, config: Config, stats: ScanStats, *, baseline_path: str | None,  # type: ignore[type-arg]
            include_examples: bool, min_confidence: str) -> list:  # type: ignore[type-arg]
    from scanner import filters

    return filters.apply(findings, config=config, baseline_path=baseline_path, include_examples=include_examples,
                         min_confidence=min_confidence, stats=stats)


# --------------------------------------------------------------------------------------------
# staged


def _split_args(args: tuple[str, ...]) -> tuple[Path | None, list[str]]:
    """`staged [REPO]` or `staged FILE...` (what pre-commit passes): one directory is the repository."""
    if len(args) == 1 and os.path.isdir(args[0]):
        return Path(args[0]), []
    for a in args:
        if os.path.isdir(a):
            raise CexguardError(f"{a} is a folder: pass one repository folder, or file names (as pre-commit does)")
    return None, list(args)


@click.command()
@click.argument("args", nargs=-1, metavar="[REPO | FILE...]")
@report_options
def staged(args: tuple[str, ...], fmt: str, output: str | None, show_secrets: bool, baseline_path: str | None,
           config_path: str | None, include_examples: bool, max_file_size: str | None, min_confidence: str,
           quiet: bool, do_verify: bool, api_url: str | None) -> int:
    """Scan what the next commit adds (the index, not the working tree).

    \b
    Blocks (exit 1) exactly when the commit adds a secret: a secret already
    in the file's committed version is not reported again; unstaged edits,
    untracked files and deleted files are not part of the commit.
    With FILE names (pre-commit passes them): when every one is staged, only
    those staged files are checked as above; otherwise (pre-commit run
    --all-files / --files) the files are scanned in full from the working tree.
    Exit 0: nothing added; 1: secrets added; 2: error; 4: a staged object
    could not be read (incomplete).
    """
    from scanner.sources.git import open_repo

    repo_arg, files = _split_args(args)
    repo = open_repo(repo_arg, need_worktree=True)
    assert repo.root is not None
    # the repository's config as HEAD has it: never the version this commit would add
    # (the ignore file is the developer's, read from the work tree: adding a false positive's
    # fingerprint to it unblocks the commit, as documented)
    config = _config(repo.root, config_path, max_file_size, repo=repo, at=repo.head() or NO_COMMIT,
                     committed_ignore=False)
    stats = ScanStats()
    rels = [_repo_relative(f, repo.root) for f in files]
    from scanner.sources.staged import estimated_size, scan_staged, staged_files

    in_index = staged_files(repo)
    staged_now = {f.path for f in in_index}
    mode = "files" if rels and not all(r in staged_now for r in rels) else "index"
    stats.extra["mode"] = mode
    if mode == "files":
        size = sum(os.path.getsize(p) for p in files if os.path.isfile(p))
        findings = _scan_files(repo.root, files, rels, config, _engine(config, small=size < SMALL_SCAN), stats)
    else:
        if rels:
            wanted = set(rels)
            in_index = [f for f in in_index if f.path in wanted]
        engine = _engine(config, small=estimated_size(repo, in_index) < SMALL_SCAN)
        findings = scan_staged(repo, engine, stats, files=in_index, max_size=config.max_file_size,
                               exclude=config.exclude)
    findings = _filter(findings, config, stats, baseline_path=baseline_path, include_examples=include_examples,
                       min_confidence=min_confidence)
    from scanner.config import record_notices

    record_notices(stats, config)
    if rels and stats.files_scanned == 0 and not quiet:
        click.echo(f"cexguard: warning: none of the {len(rels)} file(s) given could be scanned "
                   f"(skipped: {', '.join(f'{k}: {v}' for k, v in sorted(stats.skipped.items())) or 'none'})",
                   err=True)
    rc = finish(ScanResult(findings=findings, stats=stats), fmt=fmt, output=output, show_secrets=show_secrets,
                quiet=quiet, do_verify=do_verify, api_url=api_url, root=repo.root)
    if findings and mode == "index" and not quiet:
        click.echo("cexguard: commit blocked: it adds the secret(s) above. Unstage them (git restore --staged "
                   "FILE, or edit and git add), or mark a false positive with a `cexguard:allow` comment.", err=True)
    return rc


def _repo_relative(name: str, root: Path) -> str:
    p = Path(os.path.abspath(name))
    try:
        rel = p.relative_to(root)
    except ValueError:
        try:
            rel = p.resolve().relative_to(root)
        except ValueError:
            raise CexguardError(f"{name} is outside the repository {root}") from None
    return rel.as_posix()


def _scan_files(root: Path, files: list[str], rels: list[str], config: Config, engine: Engine,
                stats: ScanStats) -> list:  # type: ignore[type-arg]
    """pre-commit run --all-files / --files: each file in full, as it is in the working tree."""
    from scanner.sources.files import annotate_git_status, iter_files

    present = []
    for _name, rel in zip(files, rels):
        if os.path.lexists(os.path.join(root, rel)):
            present.append(root / rel)
        else:
            stats.skip("missing")  # pre-commit --all-files lists tracked files deleted in the work tree
    findings = []
    for chunk in iter_files(present, config, stats, root=root):
        findings.extend(engine.scan(chunk, stats))
    return annotate_git_status(findings, root)


# --------------------------------------------------------------------------------------------
# history


def _verify_rev(repo: Repo, rev: str) -> str:
    p = repo.run("rev-parse", "--verify", "-q", "--end-of-options", f"{rev}^{{commit}}", check=False)
    if p.returncode != 0:
        hint = " (this clone is shallow: fetch more history, e.g. fetch-depth: 0)" if repo.shallow else ""
        raise CexguardError(f"unknown revision: {rev}{hint}")
    return p.stdout.decode().strip()


def range_revs(repo: Repo, spec: str) -> list[str]:
    """`BASE..HEAD` (or `BASE...HEAD`, or one commit: its whole history) as git log arguments."""
    if spec.startswith("-"):
        raise CexguardError(f"bad range: {spec}")
    for sep in ("...", ".."):
        if sep in spec:
            base, tip = spec.split(sep, 1)
            tip_oid = _verify_rev(repo, tip or "HEAD")
            if not base or base in ZERO:  # a new branch (CI gives a zero base): everything it has
                return [tip_oid]
            base_oid = _verify_rev(repo, base)
            if sep == "...":
                return [base_oid, tip_oid, "--not", *_merge_bases(repo, base_oid, tip_oid)]
            return [tip_oid, "--not", base_oid]
    return [_verify_rev(repo, spec)]


def _range_base(revs: list[str]) -> str | None:
    """The commit a range is reviewed against: the first commit id after `--not` (None: a new
    branch's whole history, which has no base)."""
    if "--not" not in revs:
        return None
    for r in revs[revs.index("--not") + 1:]:
        if len(r) in (40, 64) and all(c in "0123456789abcdef" for c in r):
            return r
    return None


def _merge_bases(repo: Repo, a: str, b: str) -> list[str]:
    return repo.git("merge-base", "--all", a, b).decode().split()


def pre_push_revs(repo: Repo, remote: str | None, stdin_text: str | None) -> list[str] | None:
    """The commits a push sends: from pre-commit's environment, else git's pre-push stdin lines.

    None means nothing to check (e.g. only deleting remote branches)."""
    env = os.environ
    if env.get("PRE_COMMIT_FROM_REF") and env.get("PRE_COMMIT_TO_REF"):
        return range_revs(repo, f"{env['PRE_COMMIT_FROM_REF']}..{env['PRE_COMMIT_TO_REF']}")
    remote = remote or env.get("PRE_COMMIT_REMOTE_NAME")
    not_remote = [f"--remotes={remote}"] if remote else ["--remotes"]
    if env.get("PRE_COMMIT_LOCAL_BRANCH") and env.get("PRE_COMMIT_REMOTE_NAME"):
        # pre-commit pushing a new branch down to its root commit: everything the remote lacks
        return [_verify_rev(repo, env["PRE_COMMIT_LOCAL_BRANCH"]), "--not", *not_remote]
    if stdin_text is None or not stdin_text.strip():  # run by hand: what HEAD has that the remotes lack
        return [_verify_rev(repo, "HEAD"), "--not", *not_remote]
    tips: list[str] = []
    have: list[str] = []
    for line in stdin_text.splitlines():
        parts = line.split()
        if len(parts) != 4:
            continue
        _local_ref, local_sha, _remote_ref, remote_sha = parts
        if local_sha in ZERO:
            continue  # deleting a remote branch sends nothing
        tips.append(_verify_rev(repo, local_sha))
        if remote_sha not in ZERO and repo.run("cat-file", "-e", f"{remote_sha}^{{commit}}",
                                               check=False).returncode == 0:
            have.append(remote_sha)
    if not tips:
        return None
    return [*tips, "--not", *have, *not_remote]


@click.command()
@click.argument("repo_path", metavar="[REPO]", required=False, type=click.Path(file_okay=False))
@click.option("--range", "range_spec", metavar="BASE..HEAD", default=None,
              help="Only what these commits add (CI). BASE...HEAD and a zero BASE (new branch) work too.")
@click.option("--since", "since", metavar="REF", default=None, help="Same as --range REF..HEAD.")
@click.option("--reachable-only", is_flag=True,
              help="Skip objects no ref or reflog reaches (default: scan every object in the store).")
@click.option("--pre-push", "pre_push", is_flag=True,
              help="Scan the commits being pushed (pre-commit's pre-push stage, or git's pre-push stdin).")
@click.option("--remote", default=None, help="With --pre-push: the remote being pushed to.")
@click.option("--recurse-submodules", is_flag=True,
              help="Also audit checked-out submodules (full audit only, not with a range).")
@report_options
def history(repo_path: str | None, range_spec: str | None, since: str | None, reachable_only: bool, pre_push: bool,
            remote: str | None, recurse_submodules: bool, fmt: str, output: str | None, show_secrets: bool,
            baseline_path: str | None, config_path: str | None, include_examples: bool, max_file_size: str | None,
            min_confidence: str, quiet: bool, do_verify: bool, api_url: str | None) -> int:
    """Audit a repository's whole history: every blob once, from all refs and unreachable objects.

    \b
    One finding per secret and path: the commit that first added it, author,
    date, refs holding it, whether HEAD still has it, the exposure window and
    how many commits/blobs hold it. --range/--since scan only what those
    commits add. Works on bare, shallow, partial and empty repositories and
    worktrees. Objects that cannot be read (missing, corrupt) are skipped,
    named and counted. Exit 0: nothing found; 1: findings; 2: error;
    4: nothing found but the audit is incomplete (objects not read).
    """
    from scanner.sources.git import open_repo

    if sum(x is not None and x is not False for x in (range_spec, since, pre_push or None)) > 1:
        raise CexguardError("use only one of --range, --since and --pre-push")
    if reachable_only and (range_spec or since or pre_push):
        raise CexguardError("--reachable-only applies to the full audit, not to --range/--since/--pre-push")
    repo = open_repo(repo_path)
    stats = ScanStats()
    if pre_push:
        stdin_text = None if sys.stdin is None or sys.stdin.isatty() else sys.stdin.read()
        revs = pre_push_revs(repo, remote, stdin_text)
        if revs is None:
            return finish(ScanResult(findings=[], stats=stats), fmt=fmt, output=output, show_secrets=show_secrets,
                          quiet=quiet)
    elif range_spec or since:
        revs = range_revs(repo, range_spec if range_spec else f"{since}..HEAD")
    else:
        revs = None
    # a range reads the repository's config as its base has it, never as the commits under review do
    at = (_range_base(revs) or NO_COMMIT) if revs is not None else None
    config = _config(repo.root or repo.git_dir, config_path, max_file_size, repo=repo, at=at)
    built: list[Engine] = []

    def engine() -> Engine:  # built after the object listing (the memory peak), once
        if not built:
            built.append(_engine(config))
        return built[0]

    findings = _audit(repo, engine, config, stats, revs=revs, reachable_only=reachable_only, quiet=quiet,
                      prefix="", recurse=recurse_submodules)
    findings = _filter(findings, config, stats, baseline_path=baseline_path, include_examples=include_examples,
                       min_confidence=min_confidence)
    from scanner.config import record_notices

    record_notices(stats, config)
    if not quiet:
        for line in _warnings(stats):
            click.echo(safe(f"cexguard: warning: {line}"), err=True)  # paths and refs may hold escapes
    return finish(ScanResult(findings=findings, stats=stats), fmt=fmt, output=output, show_secrets=show_secrets,
                  quiet=quiet, do_verify=do_verify, api_url=api_url, root=repo.root)


def _audit(repo: Repo, engine: Callable[[], Engine], config: Config, stats: ScanStats, *, revs: list[str] | None,
           reachable_only: bool, quiet: bool, prefix: str, recurse: bool) -> list:  # type: ignore[type-arg]
    from scanner.sources.history import audit
    from scanner.sources.progress import Progress

    if repo.shallow:
        stats.extra["history_truncated"] = True
    if repo.head() is None:
        stats.extra.setdefault("empty_repository", True)
    progress = Progress(enabled=False if quiet else None, label="blobs")
    found = audit(repo, engine, stats, revs=revs, reachable_only=reachable_only, max_size=config.max_file_size,
                  progress=progress if progress.enabled else None)
    if prefix:
        found = [f.replace(path=prefix + f.path, meta={**f.meta, "submodule": prefix.rstrip("/")}) for f in found]
    if recurse and revs is None and repo.root is not None:  # (a range names superproject commits only)
        from scanner.sources.git import open_repo

        for sub in submodule_paths(repo):
            top = repo.root / sub
            if not _strictly_inside(top, repo.root):
                stats.skip("submodule_outside_tree")
                stats.errors.append(f"{prefix}.gitmodules: submodule path {sub!r} is not inside the repository; "
                                    "not audited")
                continue
            if not (top / ".git").exists():
                stats.skip("submodule_not_checked_out")
                continue
            sub_repo = open_repo(top)
            if not any(_strictly_inside(sub_repo.common_dir, d) or sub_repo.common_dir == d
                       for d in (top, repo.common_dir)):
                stats.skip("submodule_outside_tree")
                stats.errors.append(f"{prefix}{sub}: its git folder is outside the superproject; not audited")
                continue
            found += _audit(sub_repo, engine, config, stats, revs=None, reachable_only=reachable_only,
                            quiet=quiet, prefix=f"{prefix}{sub}/", recurse=True)
    return found


def _strictly_inside(path: Path, root: Path) -> bool:
    """`path` (symlinks resolved) is below `root`, not `root` itself nor anywhere outside it."""
    try:
        rel = path.resolve().relative_to(root.resolve())
    except (ValueError, OSError, RuntimeError):
        return False
    return rel != Path(".")


def submodule_paths(repo: Repo) -> list[str]:
    assert repo.root is not None
    if not (repo.root / ".gitmodules").is_file():
        return []
    p = repo.run("config", "-z", "--file", ".gitmodules", "--get-regexp", r"^submodule\..*\.path$", check=False)
    out = []
    for item in p.stdout.split(b"\0"):
        _key, _, value = item.partition(b"\n")
        if value:
            out.append(os.fsdecode(value))
    return out


def _warnings(stats: ScanStats) -> list[str]:
    lines = []
    x = stats.extra
    if x.get("history_truncated"):
        lines.append("shallow clone: the history is truncated; for a full audit run `git fetch --unshallow` "
                     "(CI: fetch-depth: 0)")
    if x.get("missing_objects"):
        lines.append(f"{x['missing_objects']} object(s) are missing (partial clone or damaged repository) and "
                     "were not scanned")
    if stats.skipped.get("missing_object"):
        lines.append(f"{stats.skipped['missing_object']} listed object(s) could not be read")
    return lines


# --------------------------------------------------------------------------------------------
# install-hook

MARKER = "# cexguard-hook: installed by `cexguard install-hook`"
HOOK_COMMANDS = {"pre-commit": "staged", "pre-push": 'history --pre-push --remote "$1"'}


def hook_script(hook_type: str) -> str:
    sub = HOOK_COMMANDS[hook_type]
    py = sys.executable.replace("'", "'\\''")
    return f"""#!/bin/sh
{MARKER}
# Remove this file (or run `git commit --no-verify` once) to skip the check.
CEXGUARD_PYTHON='{py}'
if [ -x "$CEXGUARD_PYTHON" ] && "$CEXGUARD_PYTHON" -c 'import scanner.cli' >/dev/null 2>&1; then
    exec "$CEXGUARD_PYTHON" -m scanner {sub}
elif command -v cexguard >/dev/null 2>&1; then
    exec cexguard {sub}
fi
echo "cexguard: not found (reinstall it, or skip this check once with --no-verify)" >&2
exit 1
"""


def hooks_dir(repo: Repo) -> Path:
    """Where git looks for hooks: core.hooksPath if set (relative to the work tree), else .git/hooks."""
    value = (repo.config_value("core.hooksPath") or "").strip()
    if value:
        path = Path(os.path.expanduser(value))
        if not path.is_absolute():
            path = (repo.root or repo.git_dir) / path
        return path
    return repo.common_dir / "hooks"


@click.command("install-hook")
@click.argument("repo_path", metavar="[REPO]", required=False, type=click.Path(file_okay=False))
@click.option("--hook-type", type=click.Choice(sorted(HOOK_COMMANDS)), default="pre-commit", show_default=True,
              help="pre-commit: block commits that add secrets; pre-push: check the commits being pushed.")
@click.option("--force", is_flag=True, help="Replace an existing hook that cexguard did not write (kept as .bak).")
@click.option("--uninstall", is_flag=True, help="Remove the hook cexguard installed.")
def install_hook(repo_path: str | None, hook_type: str, force: bool, uninstall: bool) -> int:
    """Install the git hook, for teams without the pre-commit framework.

    Writes to core.hooksPath when it is set, else .git/hooks. Refuses to
    overwrite a hook it did not write unless --force.
    """
    from scanner.sources.git import open_repo

    repo = open_repo(repo_path)
    directory = hooks_dir(repo)
    target = directory / hook_type
    existing = None
    if target.is_file() or target.is_symlink():
        try:
            existing = target.read_text(encoding="utf-8", errors="replace")
        except OSError as e:
            raise CexguardError(f"cannot read {target}: {e.strerror}") from None
    ours = existing is not None and MARKER in existing
    if uninstall:
        if existing is None:
            click.echo(safe(f"cexguard: no {hook_type} hook at {target}"), err=True)
            return 0
        if not ours:
            raise CexguardError(f"{target} was not installed by cexguard; not removing it")
        target.unlink()
        click.echo(safe(f"cexguard: removed {target}"), err=True)
        return 0
    if existing is not None and not ours:
        if not force:
            raise CexguardError(f"a {hook_type} hook already exists at {target} (not written by cexguard); "
                                "use --force to replace it (it is kept as .bak), or call `cexguard staged` from it")
        backup = target.with_name(target.name + ".bak")
        os.replace(target, backup)
        click.echo(safe(f"cexguard: kept the previous hook as {backup}"), err=True)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CexguardError(f"cannot write {target}: {e.strerror}") from None
    from scanner.atomic import write_atomic

    write_atomic(target, hook_script(hook_type), what="hook", mode=0o755)
    click.echo(safe(f"cexguard: installed the {hook_type} hook at {target}"), err=True)
    return 0
