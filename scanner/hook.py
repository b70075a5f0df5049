"""`cexguard staged`: the pre-commit hook's check, and its fast path.

The hook runs before every commit, so what it imports is what every commit waits for. `cli.main`
hands `staged ARGS` to `parse_staged_args` before importing click; when the arguments are ones this
small parser knows (every option of `staged` except --verify/--api-url, and not --help), `run_staged`
runs without click, yaml, dataclasses or the engine:

- the staged files are read from the work tree when their bytes are the staged blob (no
  `git cat-file`), and
- each is checked against the engine's stage-one gates (the same patterns the Hyperscan prefilter
  compiles), cached in the user cache folder by the rule files' names, sizes and mtimes. A commit
  where no gate matches has no finding (the engine returns nothing for a chunk no gate matches,
  whatever the prefilter), so the engine is imported only when one does.

Anything else (a gate hit, a file over 1 MB or not in the work tree, UTF-16 or binary data) takes
the full path: the engine, exactly as before. `commands/staged.py`'s click command calls
`run_staged` too, so both paths share one implementation.
"""
from __future__ import annotations

import os
import sys
from scanner.errors import CexguardError

TYPE_CHECKING = False  # (not `typing.TYPE_CHECKING`: importing typing costs the hook ~2 ms)
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

    from scanner.config import Config
    from scanner.engine import Engine
    from scanner.models import Finding, ScanStats
    from scanner.reporting import ReportOptions
    from scanner.sources.git import Repo
    from scanner.sources.staged import StagedFile

NO_COMMIT = "-"
# Below this many bytes to scan, the pure-regex prefilter beats compiling the Hyperscan database
# (~50 ms); both give the same findings.
SMALL_SCAN = 2 << 20

# --------------------------------------------------------------------------------------------
# the command line, without click

_VALUES = {"--format": "fmt", "-o": "output", "--output": "output", "--baseline": "baseline_path",
           "--config": "config_path", "--max-file-size": "max_file_size", "--min-confidence": "min_confidence",
           "--color": "color", "--exit-code": "exit_code", "--exclude": "exclude"}
_FLAGS = {"--show-secrets": "show_secrets", "--include-examples": "include_examples", "-q": "quiet",
          "--quiet": "quiet", "--exit-zero": "exit_zero", "-v": "verbose", "--verbose": "verbose"}


def parse_staged_args(argv: list[str]) -> dict[str, Any] | None:
    """The arguments (`args`) and ReportOptions fields of `staged ARGV`, or None when click should
    parse them (--help, --verify, an unknown option, a bad value: click then says what is wrong)."""
    from scanner.reporting import COLORS, CONFIDENCES, FORMATS

    opts: dict[str, Any] = {"args": [], "fmt": "text", "output": None, "show_secrets": False,
                            "baseline_path": None, "config_path": None, "include_examples": False,
                            "max_file_size": None, "min_confidence": "low", "quiet": False, "color": "auto",
                            "exit_zero": False, "exit_code": "1", "verbose": False, "exclude": []}
    i = 0
    while i < len(argv):
        a = argv[i]
        i += 1
        if a == "--":
            opts["args"] += argv[i:]
            break
        if not a.startswith("-") or a == "-":
            opts["args"].append(a)
            continue
        name, eq, value = a.partition("=")
        if name in _FLAGS and not eq:
            opts[_FLAGS[name]] = True
        elif name in _VALUES:
            if not eq:
                if i >= len(argv):
                    return None
                value = argv[i]
                i += 1
            key = _VALUES[name]
            if key == "exclude":
                opts["exclude"].append(value)
            else:
                opts[key] = value
        else:
            return None
    if (opts["fmt"] not in FORMATS or opts["min_confidence"] not in CONFIDENCES or opts["color"] not in COLORS
            or not opts["exit_code"].isdigit() or int(opts["exit_code"]) > 255):
        return None
    return opts


def fast_main(parsed: dict[str, Any]) -> int:
    from scanner.reporting import ReportOptions

    args = tuple(parsed.pop("args"))
    return run_staged(args, ReportOptions(**parsed))


# --------------------------------------------------------------------------------------------
# the quick path: a clean commit, answered before anything heavy is imported

IGNORE_FILE = ".cexguardignore"  # (scanner.config's names: that module imports pathlib and re)
CONFIG_FILES = (b".cexguard.toml", b"pyproject.toml")


def quick_staged(argv: list[str]) -> int | None:
    """`cexguard staged [REPO]` (no option), or `cexguard staged FILE...` as the pre-commit framework
    runs it under a commit (the staged files' names), run in the top folder of a work tree, for
    the usual commit: 0 (and the text report's line) when it adds nothing any stage-one gate
    matches; None for anything else, which `run_staged` then answers in full. With names, only when
    every one is a file the commit adds or changes (run_staged then checks the staged content of
    those files alone; a name not staged, as under `pre-commit run --files/--all-files`, makes it
    scan the files in full, which is left to it).

    It imports no `re`, `pathlib`, `enum` or report modules (~25 ms of a ~60 ms hook before) and
    starts its three git processes at once (rev-parse, ls-tree of HEAD's top folder, diff-index),
    after the checks that need no git. It stands aside (None) whenever the full path could answer
    differently: a user config file, a `.cexguard.toml` (in the work tree or HEAD) or a
    `pyproject.toml` that mentions cexguard (or is not a regular file, or differs from HEAD's in
    the work tree), an ignore file, no commit yet, a staged file not
    byte-for-byte in the work tree (or over 1 MB, or binary, UTF-16, with a BOM), 2 MB or more in
    all, no gate cache for this Python, any gate match, any git error."""
    names = _staged_names(argv)
    if names is None:
        return None
    where = argv[0] if argv and not names else "."
    # first what needs no git (a configured repository then costs no git process twice): a user
    # config, an ignore file, a repository config in the work tree (whether HEAD has it is checked below)
    if _user_config_may_exist() or os.path.lexists(os.path.join(where, IGNORE_FILE)) \
            or os.path.lexists(os.path.join(where, ".cexguard.toml")) or _names_cexguard(where, "pyproject.toml"):
        return None
    gates = _quick_gates([], None)
    if gates is None:
        return None
    from scanner.sources.git import OPEN_ARGS, split_z, start
    from scanner.sources.staged import DIFF_INDEX, SMALL_FILE, parse_diff_index, worktree_blob

    procs = []
    try:
        for args in (OPEN_ARGS, ("ls-tree", "--full-tree", "-z", "HEAD"), (*DIFF_INDEX, "HEAD")):
            procs.append(start(where, *args))
    except CexguardError:
        for p in procs:
            p.kill()
        return None
    opened, top, index = (p.result() for p in procs)
    if opened.returncode or top.returncode or index.returncode:
        return None
    # bare, inside a work tree, shallow, git dir, common dir, object format, cdup, HEAD
    lines = opened.stdout.decode("utf-8", "surrogateescape").split("\n")
    if len(lines) < 8 or lines[:2] != ["false", "true"] or lines[6] != "":
        return None  # (cdup: not the top of the work tree)
    fmt, head = lines[5] or "sha1", lines[7]
    if len(head) not in (40, 64) or head.strip("0123456789abcdef"):
        return None
    for item in split_z(top.stdout):  # the repository's config as HEAD has it
        meta, _, name = item.partition(b"\t")
        if name not in CONFIG_FILES:
            continue
        mode, kind, oid = (meta.decode("ascii", "replace").split() + ["", "", ""])[:3]
        if name == b".cexguard.toml" or kind != "blob" or mode not in ("100644", "100755"):
            return None
        data = worktree_blob(where, name.decode(), oid, fmt, SMALL_FILE)
        if data is None or b"cexguard" in data or b"\\u" in data or b"\\U" in data:
            return None  # (load_config parses a pyproject.toml only when it may hold [tool.cexguard])
    files = parse_diff_index(index.stdout)
    if names:  # `staged FILE...`: every name staged (else run_staged scans the files in full), only those
        if not set(names) <= {f.path for f in files}:
            return None
        files = [f for f in files if f.path in names]
    contents = []
    for f in files:
        data = worktree_blob(where, f.path, f.blob, fmt, SMALL_FILE)
        if data is None or data[:3] == b"\xef\xbb\xbf" or data[:2] in (b"\xff\xfe", b"\xfe\xff") \
                or b"\x00" in data[:8192]:
            return None  # (as _worktree_contents: git's copy, or the engine's decoding)
        contents.append(data)
    if not files or sum(len(d) for d in contents) >= SMALL_SCAN:
        return None
    if any(gates(d) for d in contents) \
            or any(gates(f.path.encode("utf-8", "surrogateescape")) for f in files):
        return None
    # what run_staged reports for it: the text report's one line, exit 0
    _write_stdout(f"0 finding(s) in {len(files)} file(s) scanned\n")
    return 0


def _staged_names(argv: list[str]) -> set[str] | None:
    """quick_staged's arguments: `[REPO]` (an empty set), or file names as the pre-commit framework
    passes them from the top of the work tree (their repository-relative paths, as run_staged's
    `_repo_relative` makes them); None for anything the quick path leaves to run_staged: an option,
    a folder among names, an absolute name or one that leaves the folder."""
    if not argv or (len(argv) == 1 and not argv[0].startswith("-") and os.path.isdir(argv[0])):
        return set()
    names = set()
    for a in argv:
        rel = os.path.normpath(a)
        if a.startswith("-") or os.path.isabs(a) or rel == "." or rel == ".." or rel.startswith("../") \
                or os.path.isdir(a):
            return None
        names.add(rel)
    return names


def _names_cexguard(where: str, name: str) -> bool:
    """The work tree's `name` may hold [tool.cexguard] (as load_config decides whether to parse it),
    or is something else than a regular file: the full path then reads HEAD's version."""
    import stat

    path = os.path.join(where, name)
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return True
        with open(path, "rb") as fh:
            data = fh.read(SMALL_SCAN)
    except FileNotFoundError:
        return False
    except OSError:
        return True
    return b"cexguard" in data or b"\\u" in data or b"\\U" in data


def _user_config_may_exist() -> bool:
    """False only when config.user_config_path() surely does not exist (the full path reads it)."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    try:
        os.lstat(os.path.join(base, "cexguard", "config.toml"))
    except FileNotFoundError:
        return False
    except OSError:
        return True
    return True


def _write_stdout(text: str) -> None:
    """reporting.write_out for an ASCII line (that module imports the models and their enums)."""
    from scanner.errors import OutputError, output_error

    try:
        if sys.stdout is None:
            raise BrokenPipeError(32, "standard output is closed")
        sys.stdout.write(text)
        sys.stdout.flush()
    except OSError as e:
        raise OutputError(output_error(e)) from None


# --------------------------------------------------------------------------------------------
# the check


def load_repo_config(root: Path, opts: ReportOptions, *, repo: Repo | None = None,
                     at: str | None = None, committed_ignore: bool = True) -> Config:
    """The user's config (--config, or the user config file) and the repository's: from the work
    tree, or with `repo` and `at`, as commit `at` has it (NO_COMMIT: none); --max-file-size and
    --exclude applied."""
    from pathlib import Path

    from scanner.config import committed_reader, load_config, parse_size

    committed = None
    if repo is not None and at is not None:
        committed = committed_reader(repo, at) if at != NO_COMMIT else (lambda _name: None)
    config = load_config(root, Path(opts.config_path) if opts.config_path else None, committed=committed,
                         committed_at=(at or "")[:12], committed_ignore=committed_ignore)
    if opts.max_file_size:
        config = config.with_(max_file_size=parse_size(opts.max_file_size, where="--max-file-size"))
    if opts.exclude:
        config = config.with_(exclude=config.exclude + opts.exclude)
    return config


def _split_args(args: tuple[str, ...]) -> tuple[Path | None, list[str]]:
    """`staged [REPO]` or `staged FILE...` (what pre-commit passes): one directory is the repository."""
    from pathlib import Path

    if len(args) == 1 and os.path.isdir(args[0]):
        return Path(args[0]), []
    for a in args:
        if os.path.isdir(a):
            raise CexguardError(f"{a} is a folder: pass one repository folder, or file names (as pre-commit does)")
    return None, list(args)


def run_staged(args: tuple[str, ...], opts: ReportOptions) -> int:
    from scanner.models import ScanResult, ScanStats
    from scanner.reporting import finish, say
    from scanner.sources.git import open_repo

    repo_arg, files = _split_args(args)
    repo = open_repo(repo_arg, need_worktree=True)
    assert repo.root is not None
    # the repository's config as HEAD has it: never the version this commit would add
    # (the ignore file is the developer's, read from the work tree: adding a false positive's
    # fingerprint to it unblocks the commit, as documented)
    config = load_repo_config(repo.root, opts, repo=repo, at=repo.head_at_open or NO_COMMIT, committed_ignore=False)
    stats = ScanStats()
    rels = [_repo_relative(f, repo.root) for f in files]
    from scanner.sources.staged import estimated_size, staged_files

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
        findings = _scan_index(repo, in_index, config, stats, small=estimated_size(repo, in_index) < SMALL_SCAN)
    from scanner import filters

    findings = filters.apply(findings, config=config, baseline_path=opts.baseline_path,
                             include_examples=opts.include_examples, min_confidence=opts.min_confidence, stats=stats)
    from scanner.config import record_notices

    record_notices(stats, config)
    if mode == "index" and findings:
        _note_exposure(repo, findings)
    if rels and stats.files_scanned == 0 and not opts.quiet:
        say(f"cexguard: warning: none of the {len(rels)} file(s) given could be scanned "
            f"(skipped: {', '.join(f'{k}: {v}' for k, v in sorted(stats.skipped.items())) or 'none'})")
    rules: tuple[Any, ...] = ()
    if findings:  # the engine ran: its rules (from the rule cache) title and advise the findings
        from scanner.rules import load_rules

        rules = tuple(load_rules(config.rules_dirs))
    rc = finish(ScanResult(findings=findings, stats=stats, rules=rules), opts, config_source=config.source)
    if findings and mode == "index" and not opts.quiet:
        say("cexguard: commit blocked: it adds the secret(s) above. Unstage them (git restore --staged FILE), "
            "move each value to an environment variable or a secret manager, or mark a false positive with a "
            "`cexguard:allow` comment.")
    return rc


def _engine(config: Config, *, small: bool = False) -> Engine:
    from scanner.rules import build_engine

    engine: Engine = build_engine(config, prefilter="regex" if small else "auto")
    return engine


def _repo_relative(name: str, root: Path) -> str:
    from pathlib import Path

    p = Path(os.path.abspath(name))
    try:
        rel = p.relative_to(root)
    except ValueError:
        try:
            rel = p.resolve().relative_to(root)
        except ValueError:
            raise CexguardError(f"{name} is outside the repository {root}") from None
    return rel.as_posix()


def _scan_index(repo: Repo, files: list[StagedFile], config: Config, stats: ScanStats, *, small: bool
                ) -> list[Finding]:
    """What the commit adds. A small commit whose files no stage-one gate matches is answered here
    (no finding, the same counts the engine would give); anything else goes to the engine."""
    from scanner.sources.staged import scan_staged

    if small and files:
        kept = _excluded_dropped(files, config, stats)
        local = _worktree_contents(repo, kept, config.max_file_size)
        if local is not None:
            gates = gate_checker(config)
            # (a path naming an exchange is context too: such files go to the engine)
            if gates is not None and not any(gates(data) for data in local) \
                    and not any(gates(f.path.encode("utf-8", "surrogateescape")) for f in kept):
                stats.extra["staged_files"] = len(kept)
                stats.extra["prefilter"] = "gates"
                stats.files_scanned += len(local)
                stats.bytes_scanned += sum(len(d) for d in local)
                return []
        files = kept
        config = config.with_(exclude=())  # (already applied and counted)
    engine = _engine(config, small=small)
    stats.extra["prefilter"] = engine.prefilter.name
    return scan_staged(repo, engine, stats, files=files, max_size=config.max_file_size, exclude=config.exclude)


def _excluded_dropped(files: list[StagedFile], config: Config, stats: ScanStats) -> list[StagedFile]:
    if not config.exclude:
        return files
    from scanner.sources.files import _excluded, note_excluded

    kept = []
    for f in files:
        if _excluded(f.path, config.exclude):
            note_excluded(stats, f.path)
        else:
            kept.append(f)
    return kept


def _worktree_contents(repo: Repo, files: list[StagedFile], max_size: int) -> list[bytes] | None:
    """The staged bytes of every file, read from the work tree (each proven to be the staged blob
    by its id), or None if any must come from git or needs the engine's text decoding (a BOM,
    UTF-16, binary data)."""
    from scanner.sources.staged import _from_worktree

    out = []
    for f in files:
        data = _from_worktree(repo, f, max_size)
        if data is None or data[:3] == b"\xef\xbb\xbf" or data[:2] in (b"\xff\xfe", b"\xfe\xff") \
                or b"\x00" in data[:8192]:
            return None
        out.append(data)
    return out


# --------------------------------------------------------------------------------------------
# stage-one gates, cached


def _cache_dir() -> str:
    return os.environ.get("CEXGUARD_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "cexguard")


def _builtin_rules_dir() -> str:
    from scanner.resources import builtin_rules_dir

    return builtin_rules_dir()


def gate_cache_path(config: Config) -> str | None:
    """The cache file for these rules: keyed by cexguard's version, the Python running it, the
    engine's source and every rule file's path, size and mtime (a changed rule or engine builds it
    again). None: a rules folder is missing (the engine reports that)."""
    return _gate_cache_path([str(x) for x in config.rules_dirs], config.min_entropy)


def _gate_cache_path(rules_dirs: list[str], min_entropy: float | None) -> str | None:
    from scanner import __version__

    h = _sha256(__version__.encode())
    h.update(f"python={sys.hexversion}".encode())  # (the cache holds `_sre` code, which is per version)
    engine_src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "engine", "__init__.py")
    for d in [_builtin_rules_dir(), *rules_dirs]:
        try:
            names = sorted(n for n in os.listdir(d) if n.endswith((".yaml", ".yml")))
        except OSError:
            return None
        for n in names:
            p = os.path.join(d, n)
            st = os.lstat(p)
            h.update(f"{os.path.realpath(p)}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    try:
        st = os.stat(engine_src)
        h.update(f"{st.st_size}\0{st.st_mtime_ns}\0".encode())
    except OSError:
        pass
    if min_entropy is not None:
        h.update(f"min_entropy={min_entropy}".encode())
    return os.path.join(_cache_dir(), f"gates-{h.hexdigest()[:24]}.marshal")


def _sha256(data: bytes) -> Any:
    try:  # (the C module: hashlib loads OpenSSL, scanner.models more than this step needs)
        from _sha256 import sha256
    except ImportError:  # pragma: no cover
        try:
            from _sha2 import sha256  # Python >= 3.12
        except ImportError:
            from hashlib import sha256
    return sha256(data)


def _read_gate_cache(path: str | None) -> tuple[list[tuple[bytes, bytes | None]] | None, Any]:
    """(gates, sre) from the cache file: the gates' (pattern, literal) pairs, and what `_sre.compile`
    takes for each pattern (see _sre_args) or None; (None, None) when missing or damaged."""
    import marshal  # (built in: json would cost more to import than the rest of this step)

    if path is None:
        return None, None
    try:
        with open(path, "rb") as fh:
            doc = marshal.loads(fh.read())
        gates = [(p, lit) for p, lit in doc["gates"]
                 if isinstance(p, bytes) and (lit is None or isinstance(lit, bytes))]
        if len(gates) != len(doc["gates"]) or not gates:
            return None, None
        return gates, doc.get("sre")
    except (OSError, ValueError, EOFError, KeyError, TypeError, AttributeError):
        return None, None


def _sre_args(patterns: list[bytes]) -> Any:
    """What `_sre.compile` takes to make each of `patterns`, exactly as `re.compile` makes it, for
    this Python (sys.hexversion): the hook's quick path then builds its gates without importing `re`
    (re, enum and the regex parser: ~10 ms of a ~40 ms hook). Each is checked equal (same flags and
    code) to re.compile's pattern; None if this Python's `re` internals differ from what is expected
    here (the quick path then leaves the check to the full one)."""
    import re

    try:
        import _sre  # type: ignore[import-not-found]
        from re import _compiler, _parser  # type: ignore[attr-defined]

        out = []
        for p in patterns:
            tree = _parser.parse(p, 0)
            state = tree.state
            indexgroup: list[str | None] = [None] * state.groups
            for k, i in state.groupdict.items():
                indexgroup[i] = k
            args = (p, int(state.flags), [int(c) for c in _compiler._code(tree, 0)], state.groups - 1,
                    {str(k): int(v) for k, v in state.groupdict.items()},
                    tuple(indexgroup))
            if _sre.compile(*args) != re.compile(p):
                raise ValueError(p)
            out.append(args)
        return {"python": sys.hexversion, "magic": _sre.MAGIC, "code": out}
    except Exception:  # (internals of another Python version: noted, so it is not tried on every run)
        return {"python": sys.hexversion, "magic": None, "code": None}


def _unique_gates(gates: list[tuple[bytes, bytes | None]]) -> list[tuple[bytes, bytes | None]]:
    return list(dict.fromkeys(gates))  # (several rules share a gate)


def gate_checker(config: Config) -> Any:
    """A function bytes -> bool: does any stage-one gate match? (None: could not tell.)"""
    import marshal

    path = gate_cache_path(config)
    gates, sre = _read_gate_cache(path)
    if gates is None:
        engine = _engine(config, small=True)
        gates = [(p, lit) for _, p, lit in engine.gates]
    if sre is None or sre.get("python") != sys.hexversion:  # (built once per rules and Python)
        sre = _sre_args([p for p, lit in _unique_gates(gates) if lit is None])
        if path is not None:
            _write_cache(path, marshal.dumps({"gates": gates, "sre": sre}))
    import re

    compiled = [(re.compile(p), lit) for p, lit in _unique_gates(gates)]

    def hit(data: bytes) -> bool:
        for rx, lit in compiled:
            if lit is not None:
                if lit in data:  # as the regex prefilter decides: stage two looks closer
                    return True
            elif rx.search(data):
                return True
        return False

    return hit


def _quick_gates(rules_dirs: list[str], min_entropy: float | None) -> Any:
    """gate_checker's function from the cache alone, without `re` (None: no usable cache)."""
    gates, sre = _read_gate_cache(_gate_cache_path(rules_dirs, min_entropy))
    if gates is None or not isinstance(sre, dict):
        return None
    try:
        import _sre  # type: ignore[import-not-found]

        if sre["python"] != sys.hexversion or sre["magic"] != _sre.MAGIC or not isinstance(sre["code"], list):
            return None
        regexes = [_sre.compile(*args) for args in sre["code"]]
    except Exception:  # (a damaged entry: the full path rebuilds it)
        return None
    uniq = _unique_gates(gates)
    literals = [lit for _p, lit in uniq if lit is not None]
    if [p for p, lit in uniq if lit is None] != [rx.pattern for rx in regexes]:
        return None

    def hit(data: bytes) -> bool:
        return any(lit in data for lit in literals) or any(rx.search(data) for rx in regexes)

    return hit


def _write_cache(path: str, data: bytes) -> None:
    import tempfile

    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError:
        pass


# --------------------------------------------------------------------------------------------
# --all-files / --files, and where else a staged key already is


def _scan_files(root: Path, files: list[str], rels: list[str], config: Config, engine: Engine,
                stats: ScanStats) -> list[Finding]:
    """pre-commit run --all-files / --files: each file in full, as it is in the working tree."""
    from scanner.sources.files import annotate_git_status, iter_files

    present = []
    for _name, rel in zip(files, rels):
        if os.path.lexists(os.path.join(root, rel)):
            present.append(root / rel)
        else:
            stats.skip("missing")  # pre-commit --all-files lists tracked files deleted in the work tree
    stats.extra["prefilter"] = engine.prefilter.name
    findings = []
    for chunk in iter_files(present, config, stats, root=root):
        findings.extend(engine.scan(chunk, stats))
    return annotate_git_status(findings, root)


ALSO_IN_TIPS = 16  # tips searched for a staged value: HEAD, then branches, remotes, tags, other refs
ALSO_IN_BLOBS = 128  # files of other tips that differ from HEAD's searched, at most (in that order)
ALSO_IN_SECONDS = 1.0  # each search's deadline: a hook that found a key must still answer fast


def _note_exposure(repo: Repo, findings: list[Finding]) -> None:
    """A staged key was never committed here, but it may have been elsewhere: look for its exact
    value in HEAD and in the tips of branches, remotes and tags (HEAD and branches first, at most
    ALSO_IN_TIPS distinct commits), with `git grep -F` (the values on stdin, never on a command
    line). Where found, the finding's `also_in` lists `REF:PATH` (at most 5, in tip order).

    Each file is read once, not once per tip (16 tips of sqlalchemy: 0.65-1.4 s, often past the
    deadline): HEAD through its work tree (every tracked file there, ~25 ms; a file that matches is
    then checked in HEAD itself, so a place named is always HEAD's, but a value only in a file whose
    work-tree copy has lost it is missed); the other tips through what they change against HEAD
    (`git diff-tree`: a file a tip shares with HEAD holds what HEAD's does), at most ALSO_IN_BLOBS
    blobs, so a tip far from HEAD (an old release branch) is searched in part. Each search is
    dropped after ALSO_IN_SECONDS."""
    secrets = sorted({f.secret for f in findings if "\n" not in f.secret and f.secret.isascii()})
    if not secrets:
        return
    p = repo.run("for-each-ref", "--format=%(objectname) %(objecttype) %(*objectname) %(*objecttype) %(refname)",
                 check=False, offline=True)
    order = ("refs/heads/", "refs/remotes/", "refs/tags/")
    refs = sorted((line.split(" ", 4) for line in p.stdout.decode("utf-8", "replace").splitlines()),
                  key=lambda r: next((i for i, pre in enumerate(order) if r[-1].startswith(pre)), len(order)))
    tips: dict[str, str] = {}  # commit -> the first ref naming it
    for oid, kind, peeled, peeled_kind, ref in (r for r in refs if len(r) == 5):
        commit = oid if kind == "commit" else peeled if peeled_kind == "commit" else ""
        if commit and commit not in tips:  # (a tag of a tree or blob, or of a tag: not searched)
            tips[commit] = ref
    head = repo.head()
    if head:  # searched first, under its branch's name if it has one
        tips = {head: tips.pop(head, "HEAD"), **tips}
    if not tips:
        return
    values = "".join(s + "\n" for s in secrets).encode()
    rank = {oid: i for i, oid in enumerate(list(tips)[:ALSO_IN_TIPS])}
    found: set[tuple[int, str, str]] = set()  # (tip's rank, path, value)
    if head is None:  # (no commit yet: no HEAD to compare with) each tip in full
        for name, value in _grep(repo, values, "--full-name", *rank, "--", ":(top)"):
            oid, _, path = name.partition(":")
            found.add((rank[oid], path, value))
    else:
        in_head: dict[str, set[str]] = {}
        diff = _start_diff(repo, head, list(rank)[1:])  # (beside the greps of HEAD: it needs no value)
        candidates = sorted({path for path, _ in _grep(repo, values, "--full-name", "--", ":(top)")})
        if candidates:
            for name, value in _grep(repo, values, "--full-name", head, "--", *(f":(top,literal){c}" for c in candidates)):
                in_head.setdefault(name.partition(":")[2], set()).add(value)
        changed, blobs = _changed_against_head(diff, list(rank)[1:])
        for path, vals in in_head.items():
            for oid, r in rank.items():
                if oid != head and changed is None:
                    break  # (what the other tips change is unknown: only HEAD's places)
                if path not in (changed or {}).get(oid, {}):
                    found.update((r, path, v) for v in vals)
        where_blob: dict[str, list[tuple[int, str]]] = {}
        for oid, files in (changed or {}).items():
            for path, blob in files.items():
                if blob in blobs:
                    where_blob.setdefault(blob, []).append((rank[oid], path))
        if blobs:
            for blob, value in _grep(repo, values, *blobs, "--"):
                found.update((r, path, value) for r, path in where_blob.get(blob, ()))
    where: dict[str, list[str]] = {}
    names = list(tips)
    for r, path, value in sorted(found):
        if value in secrets:
            where.setdefault(value, []).append(f"{tips[names[r]]}:{path}")
    from scanner.models import FileProvenance

    for i, f in enumerate(findings):
        if f.secret in where:
            prov = f.provenance if isinstance(f.provenance, FileProvenance) else FileProvenance(staged=True)
            findings[i] = f.replace(provenance=prov.replace(also_in=tuple(where[f.secret][:5])))


def _grep(repo: Repo, values: bytes, *args: str) -> list[tuple[str, str]]:
    """(name, value) of every match of `git grep -F -o -I -z -f - ARGS` (name: `PATH`, `TREE:PATH` or
    a blob's id); none when git fails or passes the deadline (the note is a courtesy)."""
    from scanner.sources.git import run as git_run

    try:
        g = git_run(repo.cwd, "grep", "-F", "-o", "-I", "-z", "-f", "-", *args, input=values, check=False,
                    offline=True, timeout=ALSO_IN_SECONDS)
    except Exception:  # (GitError: past the deadline, too big a tree)
        return []
    if g.returncode != 0:
        return []
    res = []
    out, pos = g.stdout, 0
    while (nul := out.find(b"\0", pos)) >= 0:  # `NAME\0MATCH\n`, one per match (a path may hold \n)
        nl = out.find(b"\n", nul + 1)
        nl = len(out) if nl < 0 else nl
        res.append((out[pos:nul].decode("utf-8", "replace"), out[nul + 1:nl].decode("ascii", "replace")))
        pos = nl + 1
    return res


def _signal_kill(pid: int) -> None:
    try:
        os.kill(pid, 9)
    except OSError:
        pass


def _start_diff(repo: Repo, head: str, others: list[str]) -> Any:
    """`git diff-tree --stdin` of each of `others` against HEAD, started (None: nothing to compare, or
    git could not start), to be read by _changed_against_head."""
    from scanner.sources.git import start

    if not others:
        return None
    try:
        return start(repo.cwd, "diff-tree", "-r", "-z", "--no-renames", "--stdin",
                     input="".join(f"{oid} {head}\n" for oid in others).encode())
    except Exception:
        return None


def _changed_against_head(diff: Any, others: list[str]
                          ) -> tuple[dict[str, dict[str, str]] | None, list[str]]:
    """For each commit in `others`: {path: blob} of the files it changes against HEAD (a zero id:
    deleted); and the distinct blobs among them to search, at most ALSO_IN_BLOBS, tips in order, from
    `diff` (_start_diff's git, stopped at ALSO_IN_SECONDS). (None, []): git failed or passed the deadline."""
    import threading

    if not others:
        return {}, []
    if diff is None:
        return None, []
    late = threading.Timer(ALSO_IN_SECONDS, _signal_kill, (diff.pid,))  # (only the signal: this thread reads it)
    late.daemon = True
    late.start()
    try:
        d = diff.result()
    except Exception:
        return None, []
    finally:
        late.cancel()
    if d.returncode != 0:
        return None, []
    changed: dict[str, dict[str, str]] = {}
    blobs: dict[str, None] = {}
    tip: dict[str, str] | None = None
    wanted = set(others)
    parts = d.stdout.split(b"\0")
    i = 0
    while i < len(parts):
        item = parts[i].decode("utf-8", "surrogateescape")
        i += 1
        if item in wanted:  # (a tip's header: its commit id)
            tip = changed.setdefault(item, {})
            continue
        if not item.startswith(":") or tip is None or i >= len(parts):
            continue
        fields = item[1:].split(" ")  # old_mode new_mode old_oid new_oid STATUS, then the path
        path = parts[i].decode("utf-8", "replace")
        i += 1
        if len(fields) != 5:
            continue
        new_mode, new_oid = fields[1], fields[3]
        tip[path] = new_oid  # (deleted in the tip: a zero id, never searched; HEAD's copy is not there)
        if new_mode != "160000" and new_oid.strip("0") and (new_oid in blobs or len(blobs) < ALSO_IN_BLOBS):
            blobs[new_oid] = None
    return changed, list(blobs)
