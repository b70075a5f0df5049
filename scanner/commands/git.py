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
from scanner.hook import NO_COMMIT, SMALL_SCAN  # noqa: F401  (SMALL_SCAN: re-exported)
from scanner.models import GitProvenance, ScanResult, ScanStats
from scanner.safetext import safe
from scanner.status import ExitCode

if TYPE_CHECKING:
    from scanner.config import Config
    from scanner.engine import Engine
    from scanner.sources.git import Repo

ZERO = ("0" * 40, "0" * 64)




def _config(root: Path, config_path: str | None, max_file_size: str | None, *, repo: Repo | None = None,
            at: str | None = None, committed_ignore: bool = True) -> Config:
    """The user's config (--config, or the user config file) and the repository's: from the work
    tree, or with `repo` and `at`, as commit `at` has it (NO_COMMIT: none)."""
    from scanner.hook import load_repo_config

    return load_repo_config(root, config_path, max_file_size, repo=repo, at=at, committed_ignore=committed_ignore)




def _engine(config: Config, *, small: bool = False) -> Engine:
    from scanner.rules import build_engine

    engine: Engine = build_engine(config, prefilter="regex" if small else "auto")
    return engine


def _filter(findings: list, config: Config, stats: ScanStats, *, baseline_path: str | None,  # type: ignore[type-arg]
            include_examples: bool, min_confidence: str) -> list:  # type: ignore[type-arg]
    from scanner import filters

    return filters.apply(findings, config=config, baseline_path=baseline_path, include_examples=include_examples,
                         min_confidence=min_confidence, stats=stats)


# --------------------------------------------------------------------------------------------
# staged


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
    from scanner.hook import run_staged  # (also the hook's fast path, which runs without click)

    return run_staged(args, fmt=fmt, output=output, show_secrets=show_secrets, baseline_path=baseline_path,
                      config_path=config_path, include_examples=include_examples, max_file_size=max_file_size,
                      min_confidence=min_confidence, quiet=quiet, do_verify=do_verify, api_url=api_url)


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
    rules = built[0].rules if built else ()
    return finish(ScanResult(findings=findings, stats=stats, rules=rules), fmt=fmt, output=output,
                  show_secrets=show_secrets, quiet=quiet, do_verify=do_verify, api_url=api_url, root=repo.root)


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
        sub = prefix.rstrip("/")
        found = [f.replace(path=prefix + f.path, provenance=(f.git or GitProvenance()).replace(submodule=sub))
                 for f in found]
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
# Run by the hook's Python: one process, no probe. `python -c` puts the current folder (the
# repository being committed to) first on sys.path: it is removed, so a `scanner/` folder in a
# repository can never be imported in cexguard's place. If cexguard is no longer importable there
# (the virtual environment was removed or rebuilt), fall back to `cexguard` on PATH, else say so.
_LAUNCHER = (
    "import sys\n"
    "if sys.path and sys.path[0] == \"\":\n"
    "    del sys.path[0]\n"
    "try:\n"
    "    from scanner.cli import main\n"
    "except ImportError:\n"
    "    import os, shutil\n"
    "    exe = shutil.which(\"cexguard\")\n"
    "    if exe:\n"
    "        os.execv(exe, [exe, *sys.argv[1:]])\n"
    "    sys.exit(\"cexguard: not found (reinstall it, or skip this check once with --no-verify)\")\n"
    "main(sys.argv[1:])\n"
)


def hook_script(hook_type: str) -> str:
    sub = HOOK_COMMANDS[hook_type]
    py = sys.executable.replace("'", "'\\''")
    return f"""#!/bin/sh
{MARKER}
# Remove this file (or run `git commit --no-verify` once) to skip the check.
CEXGUARD_PYTHON='{py}'
if [ -x "$CEXGUARD_PYTHON" ]; then
    exec "$CEXGUARD_PYTHON" -c '{_LAUNCHER}' {sub}
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
            return ExitCode.OK
        if not ours:
            raise CexguardError(f"{target} was not installed by cexguard; not removing it")
        target.unlink()
        click.echo(safe(f"cexguard: removed {target}"), err=True)
        return ExitCode.OK
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
    return ExitCode.OK
