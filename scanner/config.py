"""Load `[tool.cexguard]` (pyproject.toml) or `.cexguard.toml` into a frozen Config.

Two kinds of config. The user's own (trusted): `--config FILE` on the command line, else the user
config file (`$XDG_CONFIG_HOME/cexguard/config.toml`, default `~/.config/cexguard/config.toml`).
The scanned repository's (untrusted): `.cexguard.toml` or `[tool.cexguard]` in `pyproject.toml` at
the scan root (for `staged` and `history --range`: as committed at HEAD or at the range's base,
never as the change under review has it). A repository's config may narrow a scan only visibly
(every narrowing is a notice in every report format) and may never lower detection: it cannot
raise `min_entropy`, cannot suppress built-in rules (see rules.py), cannot point outside the
repository, and it is ignored entirely when the user passes `--config`.

Nothing in here can change where verify/revoke traffic goes: keys such as `api_url` are refused.
"""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from scanner.errors import CexguardError

TYPE_CHECKING = False  # (not `typing.TYPE_CHECKING`: importing typing costs the pre-commit hook ~2 ms)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    # A reader of the repository's files as a commit has them: name -> bytes, or None when absent.
    RepoReader = Callable[[str], "bytes | None"]

DEFAULT_MAX_FILE_SIZE = 100 * 1024 * 1024
CONFIG_FILE = ".cexguard.toml"
IGNORE_FILE = ".cexguardignore"

_KNOWN = {"exclude", "rules_dirs", "max_file_size", "min_entropy", "include_examples", "ignore_file"}
_FORBIDDEN = {"api_url", "base_url", "api-url", "endpoint", "proxy"}


class Config:
    """A scan's settings (immutable: `with_` returns a changed copy). A plain class, not a dataclass:
    this module is on the pre-commit hook's path, where importing `dataclasses` costs more than the
    check itself."""

    __slots__ = ("root", "exclude", "rules_dirs", "max_file_size", "min_entropy", "include_examples",
                 "ignore_file", "source", "extra", "notices", "ignore_text")
    root: Path
    exclude: tuple[str, ...]
    rules_dirs: tuple[Path, ...]
    max_file_size: int
    min_entropy: float | None
    include_examples: bool
    ignore_file: Path | None
    source: str | None  # where the config came from, for messages
    extra: dict[str, Any]
    # what the scanned repository's config changed or was refused (one line each, for the report)
    notices: tuple[str, ...]
    ignore_text: str | None  # the ignore file's contents when read from a commit

    def __init__(self, root: Path = Path("."), exclude: tuple[str, ...] = (), rules_dirs: tuple[Path, ...] = (),
                 max_file_size: int = DEFAULT_MAX_FILE_SIZE, min_entropy: float | None = None,
                 include_examples: bool = False, ignore_file: Path | None = None, source: str | None = None,
                 extra: dict[str, Any] | None = None, notices: tuple[str, ...] = (),
                 ignore_text: str | None = None) -> None:
        values = dict(root=root, exclude=exclude, rules_dirs=rules_dirs, max_file_size=max_file_size,
                      min_entropy=min_entropy, include_examples=include_examples, ignore_file=ignore_file,
                      source=source, extra={} if extra is None else extra, notices=notices, ignore_text=ignore_text)
        for k, v in values.items():
            object.__setattr__(self, k, v)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"cannot assign to field {name!r}")

    def __reduce__(self) -> tuple[Any, ...]:  # (pickling: forked workers)
        return Config, tuple(getattr(self, k) for k in self.__slots__)

    def __repr__(self) -> str:
        return "Config(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__) + ")"

    def with_(self, **changes: Any) -> Config:
        values = {k: getattr(self, k) for k in self.__slots__}
        values.update(changes)
        return Config(**values)


def parse_size(value: Any, *, where: str = "max_file_size") -> int:
    if isinstance(value, bool):
        raise CexguardError(f"{where}: expected a size such as 10MB, got {value!r}")
    if isinstance(value, int):
        if value <= 0:
            raise CexguardError(f"{where}: must be positive, got {value}")
        return value
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmMgG]i?[bB]?|[bB])?\s*", str(value))
    if not m:
        raise CexguardError(f"{where}: expected a size such as 10MB, got {value!r}")
    unit = (m.group(2) or "b").lower().rstrip("b").rstrip("i")
    mult = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit]
    n = int(float(m.group(1)) * mult)
    if n <= 0:
        raise CexguardError(f"{where}: must be positive, got {value!r}")
    return n


SMALL_FILE_LIMIT = 4 * 1024 * 1024  # config, ignore and rule files: larger ones are refused


def read_small_file(path: str | Path, what: str, *, limit: int = SMALL_FILE_LIMIT) -> bytes | None:
    """The bytes of a config, ignore or rule file; None when it does not exist. A symlink, FIFO,
    device or folder is refused with one line (never followed, never opened for reading: a FIFO
    would block forever, /dev/zero would never end); so is a file over `limit` bytes."""
    import os
    import stat

    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        return None
    except OSError as e:
        import errno

        if e.errno == errno.ELOOP or os.path.islink(path):
            raise CexguardError(f"refusing {what} {path}: it is a symlink") from None
        raise CexguardError(f"cannot read {what} {path}: {e.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file (a FIFO, socket or device)"
            raise CexguardError(f"refusing {what} {path}: {kind}")
        if st.st_size > limit:
            raise CexguardError(f"refusing {what} {path}: larger than {limit // (1024 * 1024)} MB")
        chunks = []
        total = 0
        while True:
            got = os.read(fd, 1 << 16)
            if not got:
                break
            total += len(got)
            if total > limit:
                raise CexguardError(f"refusing {what} {path}: larger than {limit // (1024 * 1024)} MB")
            chunks.append(got)
        return b"".join(chunks)
    except OSError as e:
        raise CexguardError(f"cannot read {what} {path}: {e.strerror}") from None
    finally:
        os.close(fd)


def _toml_parse(data: bytes, source: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise CexguardError(f"bad config {source}: not UTF-8") from None
    except tomllib.TOMLDecodeError as e:
        raise CexguardError(f"bad config {source}: {e}") from None


def _toml_load(path: Path) -> dict[str, Any]:
    data = read_small_file(path, "config")
    if data is None:
        raise CexguardError(f"cannot read config {path}: No such file or directory")
    return _toml_parse(data, str(path))


def _from_table(table: Any, *, root: Path, source: str) -> Config:
    if not isinstance(table, dict):
        raise CexguardError(f"bad config {source}: [tool.cexguard] must be a table")
    for key in table:
        if key in _FORBIDDEN:
            raise CexguardError(
                f"bad config {source}: '{key}' is not allowed in a repository's config "
                "(use --api-url or CEXGUARD_API_URL)"
            )
        if key not in _KNOWN:
            raise CexguardError(f"bad config {source}: unknown key '{key}' (known: {', '.join(sorted(_KNOWN))})")
    cfg = Config(root=root, source=source)
    if "exclude" in table:
        ex = table["exclude"]
        if not isinstance(ex, list) or not all(isinstance(x, str) for x in ex):
            raise CexguardError(f"bad config {source}: exclude must be a list of glob strings")
        cfg = cfg.with_(exclude=tuple(ex))
    if "rules_dirs" in table:
        rd = table["rules_dirs"]
        if not isinstance(rd, list) or not all(isinstance(x, str) for x in rd):
            raise CexguardError(f"bad config {source}: rules_dirs must be a list of folder paths")
        cfg = cfg.with_(rules_dirs=tuple((root / x) for x in rd))
    if "max_file_size" in table:
        cfg = cfg.with_(max_file_size=parse_size(table["max_file_size"], where=f"{source}: max_file_size"))
    if "min_entropy" in table:
        me = table["min_entropy"]
        if isinstance(me, bool) or not isinstance(me, (int, float)) or not 0 <= me <= 6:
            raise CexguardError(f"bad config {source}: min_entropy must be a number between 0 and 6")
        cfg = cfg.with_(min_entropy=float(me))
    if "include_examples" in table:
        if not isinstance(table["include_examples"], bool):
            raise CexguardError(f"bad config {source}: include_examples must be true or false")
        cfg = cfg.with_(include_examples=table["include_examples"])
    if "ignore_file" in table:
        if not isinstance(table["ignore_file"], str):
            raise CexguardError(f"bad config {source}: ignore_file must be a path")
        cfg = cfg.with_(ignore_file=root / table["ignore_file"])
    return cfg


def user_config_path() -> Path:
    """The user's own config file: $XDG_CONFIG_HOME/cexguard/config.toml (~/.config/... by default)."""
    import os

    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "cexguard" / "config.toml"


def _table_of(data: dict[str, Any], name: str) -> Any:
    tool = data.get("tool")
    if isinstance(tool, dict) and "cexguard" in tool:
        return tool["cexguard"]
    return {} if name == "pyproject.toml" else data




def load_config(root: Path, explicit: Path | None = None, *, committed: RepoReader | None = None,
                committed_at: str = "", committed_ignore: bool = True) -> Config:
    """Config for a scan rooted at `root`.

    --config FILE (trusted) is the whole config; otherwise the user config file (trusted, if it
    exists) with the repository's `.cexguard.toml` (else `[tool.cexguard]` in `pyproject.toml`)
    applied on top under the untrusted rules. `committed` reads the repository's files from a
    commit (`staged`: HEAD; `history --range`: the base) instead of the work tree; with
    `committed_ignore` the ignore file too."""
    root = Path(root)
    base = root if root.is_dir() else root.parent
    if explicit is not None:
        explicit = Path(explicit)
        table = _toml_load(explicit)
        return _from_table(_table_of(table, explicit.name), root=explicit.parent.resolve(), source=str(explicit))
    user = user_config_path()
    cfg = Config(root=base)
    try:
        user.exists()  # raises PermissionError where the home cannot be looked into
        user_data = read_small_file(user, "config")
    except PermissionError:  # a home this user cannot even look into (sudo -u nobody): it holds no config of theirs
        user_data = None
    if user_data is not None:
        cfg = _from_table(_table_of(_toml_parse(user_data, str(user)), user.name), root=user.parent, source=str(user))
        cfg = cfg.with_(root=base)
    for d in ([base] if committed is not None else search_dirs(base)):
        for name in (CONFIG_FILE, "pyproject.toml"):
            if committed is not None:
                data = committed(name)
                where = f"{name} at {committed_at}" if committed_at else name
            else:
                data = read_small_file(d / name, "config")
                where = str(d / name)
            if data is None:
                continue
            if name == "pyproject.toml" and b"cexguard" not in data and b"\\u" not in data and b"\\U" not in data:
                continue  # no [tool.cexguard], not even spelled with escapes: not parsed (tomllib not imported)
            doc = _toml_parse(data, where)
            if name == "pyproject.toml":
                tool = doc.get("tool")
                if not (isinstance(tool, dict) and "cexguard" in tool):
                    continue
                where += " [tool.cexguard]"
            repo_cfg = _from_table(_table_of(doc, name), root=d, source=where)
            if d != base:  # found above the scan root: its globs are relative to its own folder
                prefix = base.resolve().relative_to(d.resolve()).as_posix()
                repo_cfg = repo_cfg.with_(exclude=tuple(g for g in (rebase_glob(x, prefix) for x in repo_cfg.exclude)
                                                        if g is not None))
            out = _apply_repository(cfg.with_(root=d), repo_cfg, set(_table_of(doc, name)), d,
                                    committed if committed_ignore else None)
            return out
        if committed is None and os.path.lexists(d / IGNORE_FILE):
            return cfg.with_(root=d)  # the project's ignore file, without a config
    if committed is not None and committed_ignore:
        return _apply_repository(cfg, Config(root=base), set(), base, committed)
    return cfg


def search_dirs(base: Path) -> list[Path]:
    """Where a scan rooted at `base` looks for the repository's config: `base`, then each folder
    above it up to the top of its git work tree (the first folder holding `.git`), as ruff and
    pre-commit users expect. Outside a git work tree: `base` only (a config in a shared parent
    such as /tmp is never picked up)."""
    start = base.resolve()
    chain = [start]
    d = start
    while not os.path.lexists(d / ".git"):
        if d.parent == d:
            return [base]  # not in a work tree
        d = d.parent
        chain.append(d)
    return [base, *chain[1:]]


def rebase_glob(glob: str, prefix: str) -> str | None:
    """An exclude glob written relative to a folder, rewritten for a scan rooted at `prefix` below
    it: None if it cannot match anything there; "*" if it excludes the whole scan root."""
    import fnmatch

    g = glob.rstrip("/")
    if "/" not in g:
        return glob  # a name pattern: matches at any depth
    parts = g.split("/")
    for i, comp in enumerate(prefix.split("/")):
        if i >= len(parts):
            return "*"
        if parts[i] == "**":
            return "/".join(parts[i:])
        if not fnmatch.fnmatchcase(comp, parts[i]):
            return None
    rest = "/".join(parts[len(prefix.split("/")):])
    return rest + ("/" if glob.endswith("/") and rest else "") if rest else "*"


def _inside(base: Path, p: Path, key: str, source: str) -> None:
    try:
        p.resolve().relative_to(base.resolve())
    except ValueError:
        raise CexguardError(f"bad config {source}: {key} must stay inside the repository ({p})") from None


def _apply_repository(cfg: Config, repo: Config, keys: set[str], base: Path, committed: RepoReader | None) -> Config:
    """The repository's settings on top of the user's, under the untrusted rules."""
    src = repo.source or CONFIG_FILE
    notes: list[str] = []
    changes: dict[str, Any] = {"source": src} if repo.source else {}
    if repo.exclude:
        changes["exclude"] = cfg.exclude + repo.exclude
        notes.append(f"repository config {src} excludes {', '.join(repo.exclude)} from the scan")
    if repo.rules_dirs:
        for d in repo.rules_dirs:
            _inside(base, d, "rules_dirs", src)
        changes["rules_dirs"] = cfg.rules_dirs + repo.rules_dirs
    if "max_file_size" in keys and repo.max_file_size != cfg.max_file_size:
        changes["max_file_size"] = repo.max_file_size
        if repo.max_file_size < cfg.max_file_size:
            notes.append(f"repository config {src} lowers max_file_size to {repo.max_file_size} bytes: larger files "
                         "are not scanned (counted as too_large)")
    if repo.min_entropy is not None:
        ceiling = cfg.min_entropy if cfg.min_entropy is not None else _builtin_min_entropy()
        if repo.min_entropy <= ceiling:
            changes["min_entropy"] = repo.min_entropy  # lower: stricter (more candidates pass)
        else:
            notes.append(f"repository config {src}: min_entropy = {repo.min_entropy:g} ignored: above {ceiling:g} "
                         "it would weaken detection (only --config or your user config can set it)")
    if repo.include_examples:
        changes["include_examples"] = True  # more findings, never fewer
    if repo.ignore_file is not None:
        _inside(base, repo.ignore_file, "ignore_file", src)
        changes["ignore_file"] = repo.ignore_file
    if committed is not None:
        import os

        rel = os.path.relpath(repo.ignore_file or base / IGNORE_FILE, base).replace(os.sep, "/")
        data = committed(rel)
        changes["ignore_text"] = "" if data is None else data.decode("utf-8", "replace")
    return cfg.with_(notices=cfg.notices + tuple(notes), **changes)


def _builtin_min_entropy() -> float:
    """The lowest min_entropy of the built-in token rules (what a repository may not go above)."""
    from scanner.rules import load_rules

    values = [r.min_entropy for r in load_rules() if r.type == "token"]
    return min(values) if values else 0.0


def committed_reader(repo: Any, rev: str) -> RepoReader:
    """Read repository files (config, ignore file) as commit `rev` has them (one `git ls-tree` of
    the top folder answers for the files there)."""
    from scanner.sources.git import split_z, tree_file

    top: list[list[bytes]] = []

    def read(name: str) -> bytes | None:
        if "/" in name:
            return tree_file(repo, rev, name, limit=SMALL_FILE_LIMIT)
        if not top:  # with sizes (-l), which need the blobs: a partial clone may lack them
            p = repo.run("ls-tree", "-z", "-l", rev, check=False)
            top.append(list(split_z(p.stdout if p.returncode == 0 else repo.git("ls-tree", "-z", rev))))
        return tree_file(repo, rev, name, limit=SMALL_FILE_LIMIT, listing=top[0], worktree=True)

    return read


def record_notices(stats: Any, config: Config) -> None:
    """Put what the repository's config changed into the report's stats (every format shows them)."""
    lines = list(config.notices)
    excluded = stats.skipped.get("excluded", 0)
    if excluded:
        paths = stats.extra.get("excluded_paths") or []
        shown = ", ".join(paths[:20]) + (f" and {len(paths) - 20} more" if len(paths) > 20 else "")
        lines.append(f"{excluded} path(s) excluded by config" + (f": {shown}" if shown else ""))
    if config.rules_dirs:  # (scanner.rules imports dataclasses: not on the hook's path without custom rules)
        try:
            from scanner.rules import load_rules_full

            lines += load_rules_full(config.rules_dirs)[2]
        except CexguardError:
            pass
    if lines:
        stats.extra["config_notices"] = lines
