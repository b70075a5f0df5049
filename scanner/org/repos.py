"""Which repositories an org audit covers: a file of repositories (one a line), or every git
repository under a folder. A repository is a local path (work tree or bare) audited in place, or a
clone URL (file://, https://, ssh://, or scp-like `git@host:path`) mirrored first."""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from scanner.errors import CexguardError

URL_SCHEMES = ("file", "https", "ssh")
_SCP = re.compile(r"^(?P<user>[A-Za-z0-9._-]+@)?(?P<host>[A-Za-z0-9.-]+):(?P<path>[^/:].*)$")


@dataclass(frozen=True)
class RepoSpec:
    """One repository to audit. `id` is stable across runs (the state database's key)."""

    id: str
    name: str  # for people: "owner/repo" or the folder name
    source: str  # an absolute path, or the URL as given
    kind: str  # "local" (audited in place) | "url" (mirrored)
    auth: str | None = None  # "github" | "gitlab": the worker sends that host's token from its environment
    fork: bool = False

    @property
    def protocol(self) -> str | None:
        if self.kind != "url":
            return None
        if _SCP.match(self.source) and "://" not in self.source:
            return "ssh"
        return urlsplit(self.source).scheme


def _id(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def spec_for(line: str, *, base: Path, where: str, auth: str | None = None, fork: bool = False) -> RepoSpec:
    """A RepoSpec for one input line; a URL that cexguard never fetches is a usage error."""
    if "::" in line.split("/", 1)[0]:
        raise CexguardError(f"{where}: unsupported transport {line.split('::', 1)[0]!r}:: (use https://, ssh://, "
                            "file:// or a local path)")
    if "://" in line:
        u = urlsplit(line)
        if u.scheme not in URL_SCHEMES:
            raise CexguardError(f"{where}: unsupported URL scheme {u.scheme!r} (use https://, ssh://, file:// "
                                "or a local path)")
        if u.password is not None or (u.scheme == "https" and u.username):
            raise CexguardError(f"{where}: credentials in a URL are not accepted; put the token in the environment "
                                "(GITHUB_TOKEN / GITLAB_TOKEN, see `cexguard org --help`)")
        path = u.path.rstrip("/")
        if u.scheme == "file":
            if not path:
                raise CexguardError(f"{where}: file:// URL without a path")
            name = Path(path).name
        else:
            if not u.hostname:
                raise CexguardError(f"{where}: URL without a host")
            name = "/".join(p for p in path.split("/") if p)[-200:]
        return RepoSpec(id=_id(line), name=_strip_git(name) or line, source=line, kind="url", auth=auth, fork=fork)
    m = _SCP.match(line)
    if m and not os.path.exists(base / line) and len(m.group("host")) > 1:
        return RepoSpec(id=_id(line), name=_strip_git(m.group("path").strip("/")), source=line, kind="url",
                        auth=auth, fork=fork)
    if line.startswith("-"):
        raise CexguardError(f"{where}: a repository may not start with '-': {line!r}")
    local = (base / os.path.expanduser(line)).resolve()
    return RepoSpec(id=_id(str(local)), name=_strip_git(local.name), source=str(local), kind="local", auth=auth,
                    fork=fork)


def _strip_git(name: str) -> str:
    return name[:-4] if name.endswith(".git") else name


def read_repos_file(path: str) -> list[RepoSpec]:
    """One repository a line; blank lines and `#` comments skipped; relative paths are relative to
    the file's folder."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CexguardError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise CexguardError(f"{path} is a folder: pass a file of repositories, or --dir {path}") from None
    except UnicodeDecodeError:
        raise CexguardError(f"cannot read {path}: not UTF-8") from None
    except OSError as e:
        raise CexguardError(f"cannot read {path}: {e.strerror}") from None
    out = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        out.append(spec_for(line, base=p.parent.resolve(), where=f"{path}:{n}"))
    return out


def is_repository(d: Path) -> bool:
    """A work tree (has .git) or a bare repository (HEAD, objects/, refs/)."""
    return (d / ".git").exists() or ((d / "HEAD").is_file() and (d / "objects").is_dir() and (d / "refs").is_dir())


def find_repositories(folder: str) -> list[RepoSpec]:
    """Every git repository under `folder` (not descending into one found, never following symlinks)."""
    top = Path(folder)
    if not top.is_dir():
        raise CexguardError(f"--dir {folder}: not a folder")
    out: list[RepoSpec] = []
    for here, dirs, _files in os.walk(top, followlinks=False):
        d = Path(here)
        if is_repository(d):
            out.append(spec_for(str(d.resolve()), base=top, where=str(d)))
            dirs[:] = []
            continue
        dirs[:] = sorted(x for x in dirs if x != ".git")
    return out


def unique(specs: list[RepoSpec]) -> list[RepoSpec]:
    """Drop repeated sources; make display names unique (a suffix from the id)."""
    seen: dict[str, RepoSpec] = {}
    for s in specs:
        seen.setdefault(s.id, s)
    by_name: dict[str, int] = {}
    for s in seen.values():
        by_name[s.name] = by_name.get(s.name, 0) + 1
    return [s if by_name[s.name] == 1 else RepoSpec(id=s.id, name=f"{s.name}~{s.id[:6]}", source=s.source,
                                                     kind=s.kind, auth=s.auth, fork=s.fork)
            for s in seen.values()]
