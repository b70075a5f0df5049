"""Thin wrappers around the `git` executable: run it, describe a repository, read objects.

Plain `subprocess` only (this module is on the pre-commit hook's path: no gitpython, nothing
heavy). Every command runs with `core.quotepath=off` and NUL-separated output where git offers it,
so odd file names come through unchanged. Paths are decoded with the file-system encoding
(`os.fsdecode`), so they round-trip back to git with `os.fsencode`.

Every git process is hardened here, in one place (`command`, `environment`): a scanned repository
is untrusted input, and neither its config (`.git/config`, a `.git` file pointing elsewhere, an
included file) nor the user's global config can make git run a program, reach the network or show
cexguard something other than the objects on disk. The `-c` overrides in HARDENING come last among
git's config sources (after system, global, repository, included files and GIT_CONFIG_PARAMETERS /
GIT_CONFIG_COUNT), so they win whatever those say. Nothing here ever lets git reach the network: a
partial clone's missing object is reported as missing instead of being fetched (or hanging).
"""
from __future__ import annotations

import os
from collections import namedtuple

from scanner.errors import CexguardError

TYPE_CHECKING = False  # (not `typing.TYPE_CHECKING`: importing typing costs the pre-commit hook ~2 ms)
if TYPE_CHECKING:  # (pathlib, ~5-15 ms, is imported where a Path is made: not on the hook's quick path)
    import subprocess
    from collections.abc import Iterator, Sequence
    from pathlib import Path
    from typing import IO

# subprocess's values for these (importing subprocess costs the pre-commit hook ~6 ms: `run` spawns
# git with os.posix_spawnp instead; long-running readers, below, use subprocess.Popen)
PIPE = -1
DEVNULL = -3

GIT = os.environ.get("CEXGUARD_GIT", "git")

# -- hardening: the one list every git invocation uses -------------------------------------------
# (what each would otherwise let a repository's config do; checked against git 2.39, each vector
# has a test in tests/git/test_hardening.py)
HARDENING: tuple[str, ...] = (
    "core.quotepath=off",  # (not security: odd file names come through unchanged)
    "core.fsmonitor=false",  # ls-files, diff-index, status... run the fsmonitor hook program
    "core.hooksPath=/dev/null",  # no hook (e.g. post-index-change) can run
    "log.showSignature=false",  # log/show would run gpg.program on a commit with a gpgsig header
    "core.pager=cat",  # (and --no-pager, GIT_PAGER): pager.<cmd> and core.pager are programs
    "credential.helper=",  # the empty value resets the list: no helper runs
    "core.askPass=",  # with GIT_ASKPASS="" below: no askpass program
    "protocol.allow=never",  # no transport at all: no lazy fetch of a partial clone's missing
    "protocol.file.allow=never",  # objects (which would run remote.*.uploadpack, core.sshCommand,
    "protocol.ext.allow=never",  # core.gitProxy, ext:: commands); per-protocol keys beat
    "protocol.ssh.allow=never",  # protocol.allow, so they are overridden too, and GIT_ALLOW_PROTOCOL
    "protocol.git.allow=never",  # (below) beats every config
    "protocol.http.allow=never",
    "protocol.https.allow=never",
    "core.sshCommand=false",
    "core.alternateRefsCommand=",  # (fetch/receive-pack only; never run here)
    "diff.external=",  # (and --no-ext-diff where a diff is made; raw diffs never run it)
)
# Global options (before the subcommand): no pager; replace refs (`git replace`) could show
# cexguard an innocent blob or commit in place of the real one, so they are ignored.
GLOBAL_OPTIONS = ("--no-pager", "--no-replace-objects")
# Variables set for every git process.
SET_ENV = {
    "GIT_TERMINAL_PROMPT": "0",  # never wait for a password
    "GIT_ASKPASS": "",  # empty: git runs no askpass program (nor core.askPass, nor SSH_ASKPASS)
    "GIT_ALLOW_PROTOCOL": "",  # an empty allow-list: no transport, whatever the config says
    "GIT_NO_LAZY_FETCH": "1",  # git >= 2.44 honours this too
    "GIT_NO_REPLACE_OBJECTS": "1",
    "GIT_PAGER": "cat",
    "GIT_GRAFT_FILE": os.devnull,  # a repository's info/grafts cannot rewrite its history
}
# Variables dropped from the inherited environment: programs git would run.
DROP_ENV = ("GIT_EXTERNAL_DIFF", "GIT_SSH", "GIT_SSH_COMMAND", "GIT_PROXY_COMMAND", "SSH_ASKPASS", "PAGER",
            "GIT_EDITOR", "GIT_SEQUENCE_EDITOR", "GIT_DIFF_OPTS")
# Variables that point git at a repository (`git rev-parse --local-env-vars`). They are the
# caller's, not the scanned repository's: git sets GIT_INDEX_FILE for every pre-commit hook (the
# temporary index of `git commit -a` / `git commit FILE`), GIT_DIR in a linked worktree, and
# GIT_OBJECT_DIRECTORY/GIT_ALTERNATE_OBJECT_DIRECTORIES in a pre-receive hook. So they are kept
# for git processes run in the folder cexguard was started in (where git runs its hooks), and
# dropped anywhere else (a submodule, a repository named by path), where they would make git read
# another repository than the one named.
LOCAL_ENV = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES",
             "GIT_COMMON_DIR", "GIT_IMPLICIT_WORK_TREE", "GIT_NAMESPACE", "GIT_PREFIX", "GIT_SHALLOW_FILE",
             "GIT_QUARANTINE_PATH", "GIT_REPLACE_REF_BASE", "GIT_INTERNAL_SUPER_PREFIX", "GIT_CONFIG")


# -- the one exception: mirroring for `cexguard org` -----------------------------------------------
# `git clone --mirror` / `git fetch` into cexguard's own mirror cache may use exactly these
# transports, and only when a caller passes `protocols=` (scanning never does). Everything else in
# HARDENING stays (no hooks, credential helpers, askpass, pager, fsmonitor); ext::, git:// and plain
# http:// stay refused. ssh runs the system `ssh` in batch mode (the user's ~/.ssh/config and agent,
# never a password prompt); GIT_SSH/GIT_SSH_COMMAND/core.sshCommand from anywhere are still ignored.
MIRROR_PROTOCOLS = ("file", "https", "ssh")
MIRROR_SSH = "ssh -o BatchMode=yes -o ConnectTimeout=30 -o ServerAliveInterval=15 -o ServerAliveCountMax=4"
MIRROR_CONFIG = (
    "gc.auto=0",  # a fetch must never prune: unreachable objects stay for the audit
    "maintenance.auto=false",
    "fetch.writeCommitGraph=false",
    "fetch.recurseSubmodules=false",
    "fetch.prune=false",  # the mirror keeps deleted refs' objects; refs follow the remote (clone --mirror)
    "http.lowSpeedLimit=1000",  # a stalled https transfer fails instead of hanging
    "http.lowSpeedTime=60",
)


def _allowing(protocols: Sequence[str]) -> tuple[str, ...]:
    bad = [p for p in protocols if p not in MIRROR_PROTOCOLS]
    if bad:
        raise ValueError(f"protocol(s) never allowed: {bad}")
    out = []
    for item in HARDENING:
        key = item.split("=", 1)[0]
        if key.startswith("protocol.") and key.endswith(".allow") and key[9:-6] in protocols:
            item = f"{key}=always"
        elif key == "core.sshCommand" and "ssh" in protocols:
            item = f"core.sshCommand={MIRROR_SSH}"
        out.append(item)
    return (*out, *MIRROR_CONFIG)


def command(*args: str, protocols: Sequence[str] = ()) -> list[str]:
    """The hardened command line for `git ARGS` (`protocols`: see MIRROR_PROTOCOLS)."""
    cmd = [GIT, *GLOBAL_OPTIONS]
    for item in (_allowing(protocols) if protocols else HARDENING):
        cmd += ("-c", item)
    return [*cmd, *args]


def environment(cwd: str | os.PathLike[str] | None = None, protocols: Sequence[str] = ()) -> dict[str, str]:
    """The hardened environment for a git process run in `cwd` (see LOCAL_ENV)."""
    env = dict(os.environ)
    for k in DROP_ENV:
        env.pop(k, None)
    if cwd is not None and any(k in env for k in LOCAL_ENV) and not _same_dir(cwd, "."):
        for k in LOCAL_ENV:
            env.pop(k, None)
    env.update(SET_ENV)
    if protocols:
        _allowing(protocols)  # (validates)
        env["GIT_ALLOW_PROTOCOL"] = ":".join(protocols)
    return env


def _same_dir(a: str | os.PathLike[str], b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False
EMPTY_TREE = {"sha1": "4b825dc642cb6eb9a060e54bf8d69288fbee4904",
              "sha256": "6ef19b41225c5369f1c104d45d8d85efa9b057b53b14b4b9b939dd74decc5321"}


class GitError(CexguardError):
    """git failed or is missing; the message is git's own first line, never object contents."""


def _first_line(err: bytes) -> str:
    for raw in err.decode("utf-8", "replace").splitlines():
        line = raw.strip()
        if line:
            for prefix in ("fatal: ", "error: "):
                line = line.removeprefix(prefix)
            return line[:300]
    return "no message"


def run(cwd: str | os.PathLike[str], *args: str, input: bytes | None = None, check: bool = True,
        offline: bool = True, protocols: Sequence[str] = (), timeout: float | None = None,
        extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes] | Done:
    """Run `git ARGS` in `cwd` (hardened) and capture its output (bytes). Raise GitError when
    check fails. No git call reaches the network, except the org mirror's clone/fetch, which pass
    `protocols` (a subset of MIRROR_PROTOCOLS), a `timeout` and maybe `extra_env` (GIT_CONFIG_*)."""
    env = environment(cwd, protocols)
    if extra_env:
        env.update(extra_env)
    if timeout is None:
        try:
            proc: subprocess.CompletedProcess[bytes] | Done = _spawn(command(*args, protocols=protocols), cwd, env,
                                                                     input)
        except FileNotFoundError:
            raise GitError("git is not installed or not on PATH") from None
        except NotADirectoryError:
            raise GitError(f"not a directory: {cwd}") from None
    else:
        import subprocess

        try:
            proc = subprocess.run(command(*args, protocols=protocols), cwd=cwd, input=input, capture_output=True,
                                  env=env, check=False, timeout=timeout)
        except FileNotFoundError:
            raise GitError("git is not installed or not on PATH") from None
        except NotADirectoryError:
            raise GitError(f"not a directory: {cwd}") from None
        except subprocess.TimeoutExpired:
            sub = next((a for a in args if not a.startswith("-")), "git")
            raise GitError(f"git {sub} timed out after {timeout:g} s") from None
    if check and proc.returncode != 0:
        sub = next((a for a in args if not a.startswith("-")), "git")
        raise GitError(f"git {sub} failed: {_first_line(proc.stderr)}")
    return proc


class Done:
    """What `run` returns (the fields of subprocess.CompletedProcess that callers read)."""

    __slots__ = ("args", "returncode", "stdout", "stderr")

    def __init__(self, args: list[str], returncode: int, stdout: bytes, stderr: bytes) -> None:
        self.args, self.returncode, self.stdout, self.stderr = args, returncode, stdout, stderr


class Started:
    """A git process `start` left running; `result()` collects it (its output, then its exit)."""

    __slots__ = ("argv", "pid", "fds", "input")

    def __init__(self, argv: list[str], pid: int, fds: tuple[int, int, int], input: bytes | None) -> None:
        self.argv, self.pid, self.fds, self.input = argv, pid, fds, input

    def result(self) -> Done:
        return _collect(self)

    def kill(self) -> None:
        """Stop it unread (a caller that no longer needs its answer)."""
        try:
            os.kill(self.pid, 9)
        except OSError:
            pass
        try:
            _collect(self)
        except OSError:
            pass


def start(cwd: str | os.PathLike[str], *args: str, input: bytes | None = None) -> Started:
    """`git ARGS` in `cwd`, hardened as `run` does, started and left running: the pre-commit hook
    starts the few it needs at once and collects them with `result()` (run's check=False: read
    `returncode`). Raises GitError when git is missing or `cwd` is not a folder."""
    try:
        return _start(command(*args), cwd, environment(cwd), input)
    except FileNotFoundError:
        raise GitError("git is not installed or not on PATH") from None
    except NotADirectoryError:
        raise GitError(f"not a directory: {cwd}") from None


def _spawn(cmd: list[str], cwd: str | os.PathLike[str], env: dict[str, str], input: bytes | None) -> Done:
    """`cmd` (a hardened `command()`) in `cwd` with `env`, its output captured: posix_spawn and
    pipes, as subprocess's run with capture_output would (stdin: `input`, else /dev/null). The folder
    is given to git as `-C` (posix_spawn has no cwd); an interrupted wait kills git."""
    return _collect(_start(cmd, cwd, env, input))


def _start(cmd: list[str], cwd: str | os.PathLike[str], env: dict[str, str], input: bytes | None) -> Started:
    if not os.path.isdir(cwd):
        raise NotADirectoryError(cwd)
    argv = [cmd[0], "-C", os.fspath(cwd), *cmd[1:]]
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    in_r, in_w = os.pipe() if input else (os.open(os.devnull, os.O_RDONLY), -1)
    try:
        pid = os.posix_spawnp(argv[0], argv, env, file_actions=[(os.POSIX_SPAWN_DUP2, in_r, 0),
                                                                (os.POSIX_SPAWN_DUP2, out_w, 1),
                                                                (os.POSIX_SPAWN_DUP2, err_w, 2)])
    except BaseException:
        for fd in (out_r, err_r, in_w):
            if fd >= 0:
                os.close(fd)
        raise
    finally:
        for fd in (in_r, out_w, err_w):
            os.close(fd)
    return Started(argv, pid, (out_r, err_r, in_w), input)


def _collect(proc: Started) -> Done:
    import select

    argv, pid, input = proc.argv, proc.pid, proc.input
    out_r, err_r, in_w = proc.fds
    if out_r < 0:
        raise OSError("already collected")
    proc.fds = (-1, -1, -1)
    chunks: dict[int, list[bytes]] = {out_r: [], err_r: []}
    pending = memoryview(input) if input else None
    poller = select.poll()
    for fd in chunks:
        poller.register(fd, select.POLLIN)
    if in_w >= 0:
        os.set_blocking(in_w, False)
        poller.register(in_w, select.POLLOUT)
    try:
        open_fds = len(chunks) + (in_w >= 0)
        while open_fds:
            for fd, _ev in poller.poll():
                if fd == in_w:
                    try:
                        n = os.write(in_w, pending[:1 << 16]) if pending else 0
                    except BrokenPipeError:  # git stopped reading: as subprocess, go on reading
                        n, pending = 0, None
                    if pending is not None:
                        pending = pending[n:]
                    if not pending:
                        poller.unregister(in_w)
                        os.close(in_w)
                        in_w, open_fds = -1, open_fds - 1
                    continue
                data = os.read(fd, 1 << 16)
                if data:
                    chunks[fd].append(data)
                else:
                    poller.unregister(fd)
                    open_fds -= 1
        _, status = os.waitpid(pid, 0)
    except BaseException:
        try:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        except OSError:
            pass
        raise
    finally:
        for fd in (out_r, err_r, in_w):
            if fd >= 0:
                os.close(fd)
    return Done(argv, os.waitstatus_to_exitcode(status), b"".join(chunks[out_r]), b"".join(chunks[err_r]))


def out(cwd: str | os.PathLike[str], *args: str, offline: bool = True) -> bytes:
    return run(cwd, *args).stdout


def _gitproc_class() -> type:
    import subprocess

    class GitProc(subprocess.Popen):  # type: ignore[type-arg]
        """A long-running git whose stderr goes to a temporary file (a full pipe would stall it)."""

        errfile: IO[bytes]
        what: str

        def check(self) -> None:
            """Wait; raise GitError with git's own first line if it failed."""
            rc = self.wait()
            if rc != 0:
                try:
                    self.errfile.seek(0)
                    err = self.errfile.read()
                except (OSError, ValueError):
                    err = b""
                raise GitError(f"git {self.what} failed: {_first_line(err)}")

        def stop(self) -> None:
            if self.poll() is None:
                self.kill()
            self.wait()
            for stream in (self.stdin, self.stdout):
                try:
                    if stream is not None:
                        stream.close()
                except OSError:
                    pass
            self.errfile.close()

    return GitProc


def __getattr__(name: str) -> type:
    """GitProc, a subclass of subprocess.Popen, made on first use (see PIPE)."""
    if name == "GitProc":
        cls = globals()["GitProc"] = _gitproc_class()
        return cls
    raise AttributeError(name)


if TYPE_CHECKING:  # what mypy sees of the class made on first use above
    import subprocess

    class GitProc(subprocess.Popen[bytes]):
        errfile: IO[bytes]
        what: str

        def check(self) -> None: ...

        def stop(self) -> None: ...


def popen(cwd: str | os.PathLike[str], *args: str, stdin: int | None = None, offline: bool = True,
          bufsize: int = -1, stdout: int | IO[bytes] = PIPE, nice: int = 0,
          keep_stderr: bool = True) -> GitProc:
    """Start a long-running `git ARGS` (hardened) with stdout piped (or to a file); `nice` lowers
    its priority."""
    cmd = command(*args)
    if keep_stderr:
        import tempfile  # not at the top: the hook's path does without it

        err: IO[bytes] = tempfile.TemporaryFile()
    else:
        err = open(os.devnull, "wb")
    lower = (lambda: os.nice(nice)) if nice and hasattr(os, "nice") else None
    try:
        GitProc = __getattr__("GitProc")
        p = GitProc(cmd, cwd=cwd, stdin=stdin, stdout=stdout, stderr=err, env=environment(cwd),
                    bufsize=bufsize,
                    preexec_fn=lower)
    except FileNotFoundError:
        err.close()
        raise GitError("git is not installed or not on PATH") from None
    p.errfile = err
    words = [a for i, a in enumerate(args) if a != "-c" and (i == 0 or args[i - 1] != "-c")]  # no -c settings
    p.what = " ".join(a for a in words[:2] if not a.startswith("--format"))
    return p


def decode_path(raw: bytes) -> str:
    return os.fsdecode(raw)


def encode_path(path: str) -> bytes:
    return os.fsencode(path)


class Repo(namedtuple("Repo", "cwd git_dir common_dir root bare shallow object_format head_at_open",
                      defaults=(None,))):
    """What a command needs to know about a repository before reading it. (A named tuple, not a
    dataclass nor a typing.NamedTuple: this is on the hook's path, where importing `dataclasses` or
    `typing` costs more than the check.)

    cwd: Path            where git commands run: the work tree's top, or the git dir of a bare repository
    git_dir: Path
    common_dir: Path
    root: Path | None    top of the work tree; None for a bare repository
    bare: bool
    shallow: bool
    object_format: str   sha1 | sha256
    head_at_open: str | None   the commit HEAD pointed at when opened (None: no commit yet)
    """

    __slots__ = ()
    cwd: Path
    git_dir: Path
    common_dir: Path
    root: Path | None
    bare: bool
    shallow: bool
    object_format: str
    head_at_open: str | None

    @property
    def worktree(self) -> bool:
        """A linked worktree (`git worktree add`): its git dir is not the common one."""
        return self.git_dir != self.common_dir

    @property
    def empty_tree(self) -> str:
        return EMPTY_TREE.get(self.object_format, EMPTY_TREE["sha1"])

    @property
    def hexlen(self) -> int:
        return 64 if self.object_format == "sha256" else 40

    def git(self, *args: str, offline: bool = False) -> bytes:
        return out(self.cwd, *args, offline=offline)

    def run(self, *args: str, input: bytes | None = None, check: bool = True,
            offline: bool = False) -> subprocess.CompletedProcess[bytes] | Done:
        return run(self.cwd, *args, input=input, check=check, offline=offline)

    def config_value(self, key: str) -> str | None:
        """The repository's own value of `key` (its last one), ignoring the hardening overrides
        (which `git config` reports in the "command" scope); None when unset."""
        p = self.run("config", "--show-scope", "-z", "--get-all", key, check=False)
        value = None
        items = list(split_z(p.stdout))  # scope, value, scope, value...
        for scope, v in zip(items[::2], items[1::2]):
            if scope != b"command":
                value = v.decode("utf-8", "surrogateescape")
        return value

    def head(self) -> str | None:
        """The commit HEAD points at, or None in a repository without commits (or a broken HEAD)."""
        p = self.run("rev-parse", "--verify", "-q", "HEAD^{commit}", check=False)
        return p.stdout.decode().strip() or None if p.returncode == 0 else None

    def partial(self) -> str | None:
        """The promisor remote's name if this is a partial clone (`--filter=...`), else None."""
        p = self.run("config", "-z", "--get-regexp", r"^(extensions\.partialclone|remote\..*\.promisor)$",
                     check=False)
        for item in p.stdout.split(b"\0"):
            key, _, value = item.decode("utf-8", "replace").partition("\n")
            if key == "extensions.partialclone" and value:
                return value
            if key.endswith(".promisor") and value.lower() in ("true", "1", "yes", "on"):
                return key[len("remote."):-len(".promisor")]
        return None


# what open_repo asks (the hook's quick path too): one line each; --show-cdup prints one only inside a
# work tree; --revs-only: nothing for HEAD when there is no commit
OPEN_ARGS = ("rev-parse", "--is-bare-repository", "--is-inside-work-tree", "--is-shallow-repository",
             "--absolute-git-dir", "--git-common-dir", "--show-object-format", "--show-cdup",
             "--revs-only", "HEAD^{commit}")


def open_repo(path: str | os.PathLike[str] | None = None, *, need_worktree: bool = False) -> Repo:
    """Describe the repository at `path` (default: the current directory); one `git rev-parse`."""
    from pathlib import Path

    cwd = Path(path) if path is not None else Path.cwd()
    if not cwd.exists():
        raise CexguardError(f"no such directory: {cwd}")
    if not cwd.is_dir():
        raise CexguardError(f"not a directory: {cwd}")
    p = run(cwd, *OPEN_ARGS, check=False)
    if p.returncode != 0:
        msg = _first_line(p.stderr)
        if "not a git repository" in msg:
            raise CexguardError(f"not a git repository: {cwd}")
        raise GitError(f"cannot open the repository at {cwd}: {msg}")
    lines = p.stdout.decode("utf-8", "surrogateescape").split("\n")
    bare, inside, shallow = (v == "true" for v in lines[:3])
    git_dir = Path(lines[3])
    common = Path(lines[4])
    common_dir = (cwd / common).resolve() if not common.is_absolute() else common
    fmt = lines[5] or "sha1"
    root: Path | None = None
    if inside and not bare:  # (--show-cdup prints a line only inside a work tree)
        root = (cwd / lines[6]).resolve() if lines[6] else cwd.resolve()
    head_line = lines[7 if inside else 6] if len(lines) > (7 if inside else 6) else ""
    head = head_line if len(head_line) in (40, 64) and all(c in "0123456789abcdef" for c in head_line) else None
    if need_worktree and root is None:
        raise CexguardError(f"{cwd} has no work tree (a bare repository or a .git folder); "
                            "run this inside a checkout")
    return Repo(cwd=root if root is not None else git_dir, git_dir=git_dir, common_dir=common_dir,
                root=root, bare=bare, shallow=shallow, object_format=fmt, head_at_open=head)


class CatFile:
    """One `git cat-file --batch` process answering requests for objects by id, one at a time.
    Started at the first request (a hook run that never needs it never pays for it)."""

    def __init__(self, repo: Repo) -> None:
        self._repo = repo
        self._proc: GitProc | None = None

    def _start(self) -> GitProc:
        if self._proc is None:
            self._proc = popen(self._repo.cwd, "cat-file", "--batch", stdin=PIPE, keep_stderr=False)
            assert self._proc.stdin is not None and self._proc.stdout is not None
            self._in, self._out = self._proc.stdin, self._proc.stdout
        return self._proc

    def get(self, oid: str, *, max_size: int | None = None) -> tuple[str, bytes | None, int] | None:
        """(type, contents, size) of `oid` (any name cat-file takes, e.g. `REV:path`), or None when
        it is missing. Contents are None (and skipped unread) when larger than `max_size`."""
        self._start()
        try:
            self._in.write(oid.encode("utf-8", "surrogateescape") + b"\n")
            self._in.flush()
        except BrokenPipeError:
            raise GitError("git cat-file stopped unexpectedly") from None
        header = self._out.readline()
        if not header:
            raise GitError("git cat-file stopped unexpectedly")
        parts = header.split()
        if len(parts) != 3 or not parts[2].isdigit():
            return None  # '<name> missing' or '<name> ambiguous'
        size = int(parts[2])
        if max_size is not None and size > max_size:
            skip(self._out, size + 1)
            return parts[1].decode(), None, size
        data = self._out.read(size)
        if len(data) < size or self._out.read(1) != b"\n":  # git stopped inside it: a corrupt object
            self.close()
            raise GitError("git cat-file could not read an object (corrupt)")
        return parts[1].decode(), data, size

    def close(self) -> None:
        if self._proc is None:
            return
        try:
            self._in.close()
        except OSError:
            pass
        self._proc.stop()
        self._proc = None  # a later request starts a new git

    def __enter__(self) -> CatFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def skip(stream: IO[bytes], n: int) -> None:
    """Read and drop `n` bytes without holding them all."""
    while n > 0:
        got = stream.read(min(n, 1 << 20))
        if not got:
            raise GitError("git output ended early")
        n -= len(got)


def blob_id(data: bytes, object_format: str = "sha1") -> str:
    """The object id git gives a blob with these contents (`git hash-object`)."""
    if object_format == "sha256":
        from scanner.models import sha256

        h = sha256()
    else:
        try:  # (the C module: scanner.models costs the pre-commit hook's quick path more than the check)
            from _sha1 import sha1
        except ImportError:  # pragma: no cover
            from hashlib import sha1
        h = sha1()
    h.update(b"blob %d\0" % len(data))
    h.update(data)
    return h.hexdigest()


def split_z(data: bytes) -> Iterator[bytes]:
    """The fields of NUL-separated git output, without the empty tail."""
    parts = data.split(b"\0")
    if parts and parts[-1] == b"":
        parts.pop()
    return iter(parts)


def ls_tree_blobs(repo: Repo, treeish: str, paths: Sequence[str] = ()) -> dict[str, str]:
    """path -> blob id of the files in `treeish` (limited to `paths`, matched literally)."""
    args = ["--literal-pathspecs", "ls-tree", "-r", "-z", "--full-tree", treeish]
    if paths:
        args += ["--", *paths]
    res: dict[str, str] = {}
    for item in split_z(repo.git(*args, offline=True)):
        meta, _, name = item.partition(b"\t")
        fields = meta.split()
        if len(fields) == 3 and fields[1] == b"blob":
            res[decode_path(name)] = fields[2].decode()
    return res


def _same_in_worktree(repo: Repo, path: str, oid: str, size: int) -> bytes | None:
    """The work tree's copy of `path` if it is a regular file holding exactly blob `oid`."""
    import stat

    assert repo.root is not None
    full = os.path.join(repo.root, path)
    try:
        fd = os.open(full, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size != size:
            return None
        data = os.read(fd, size + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    return data if len(data) == size and blob_id(data, repo.object_format) == oid else None


def tree_file(repo: Repo, rev: str, path: str, *, limit: int, listing: list[bytes] | None = None,
              worktree: bool = False) -> bytes | None:
    """The contents of regular file `path` as commit `rev` has it (None when absent). A symlink or
    submodule there, or a file over `limit` bytes, is refused with one line. `listing`: the
    `ls-tree -z` (or `ls-tree -z -l`: with sizes) lines of the folder holding `path`, if the caller
    has them. `worktree`: read the work tree's copy instead when its object id proves it is the
    same bytes (saves starting git on the pre-commit hook's path)."""
    items = listing if listing is not None else list(
        split_z(repo.git("--literal-pathspecs", "ls-tree", "-z", "--full-tree", rev, "--", path)))
    for item in items:
        meta, _, name = item.partition(b"\t")
        if decode_path(name) != path:
            continue
        mode, kind, oid, *sized = meta.decode().split()
        if kind != "blob" or mode not in ("100644", "100755"):
            what = "a symlink" if mode == "120000" else f"not a regular file (mode {mode})"
            raise CexguardError(f"refusing {path} at {rev[:12]}: {what}")
        size = int(sized[0]) if sized and sized[0].isdigit() else int(repo.git("cat-file", "-s", oid).strip() or 0)
        if size > limit:
            raise CexguardError(f"refusing {path} at {rev[:12]}: larger than {limit // (1024 * 1024)} MB")
        if worktree and repo.root is not None:
            local = _same_in_worktree(repo, path, oid, size)
            if local is not None:
                return local
        return repo.git("cat-file", "blob", oid)
    return None


# --------------------------------------------------------------------------------------------
# revisions: what `history --range/--since/--pre-push` reads, and submodules

ZERO = ("0" * 40, "0" * 64)  # the all-zero id git and CI give for "no commit" (a new or deleted branch)


def verify_rev(repo: Repo, rev: str) -> str:
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
            tip_oid = verify_rev(repo, tip or "HEAD")
            if not base or base in ZERO:  # a new branch (CI gives a zero base): everything it has
                return [tip_oid]
            base_oid = verify_rev(repo, base)
            if sep == "...":
                return [base_oid, tip_oid, "--not", *merge_bases(repo, base_oid, tip_oid)]
            return [tip_oid, "--not", base_oid]
    return [verify_rev(repo, spec)]


def range_base(revs: list[str]) -> str | None:
    """The commit a range is reviewed against: the first commit id after `--not` (None: a new
    branch's whole history, which has no base)."""
    if "--not" not in revs:
        return None
    for r in revs[revs.index("--not") + 1:]:
        if len(r) in (40, 64) and all(c in "0123456789abcdef" for c in r):
            return r
    return None


def merge_bases(repo: Repo, a: str, b: str) -> list[str]:
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
        return [verify_rev(repo, env["PRE_COMMIT_LOCAL_BRANCH"]), "--not", *not_remote]
    if stdin_text is None or not stdin_text.strip():  # run by hand: what HEAD has that the remotes lack
        return [verify_rev(repo, "HEAD"), "--not", *not_remote]
    tips: list[str] = []
    have: list[str] = []
    for line in stdin_text.splitlines():
        parts = line.split()
        if len(parts) != 4:
            continue
        _local_ref, local_sha, _remote_ref, remote_sha = parts
        if local_sha in ZERO:
            continue  # deleting a remote branch sends nothing
        tips.append(verify_rev(repo, local_sha))
        if remote_sha not in ZERO and repo.run("cat-file", "-e", f"{remote_sha}^{{commit}}",
                                               check=False).returncode == 0:
            have.append(remote_sha)
    if not tips:
        return None
    return [*tips, "--not", *have, *not_remote]


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
