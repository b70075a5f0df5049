"""The mirror cache: `git clone --mirror URL` once, then `git fetch --prune` into it, so a second
run transfers only what is new. Runs on the worker, through the hardened git wrapper's mirror mode
(file/https/ssh only; no hooks, no credential helpers, no askpass, no gc: objects a force-push or
a deleted branch leaves behind stay in the mirror and stay audited).

A clone goes to a temporary folder first and is renamed into place when complete: a killed worker
never leaves a half mirror that a later run would take for a good one."""
from __future__ import annotations

import base64
import os
import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from scanner.org.repos import RepoSpec
from scanner.sources import git as g


def mirror_path(mirror_dir: str | Path, spec: RepoSpec) -> Path:
    slug = "".join(c if c.isalnum() or c in "-_." else "_" for c in spec.name.replace("/", "_"))[-60:]
    return Path(mirror_dir) / f"{slug}-{spec.id}.git"


def auth_env(spec: RepoSpec, env: dict[str, str] | None = None) -> dict[str, str]:
    """For an https repository found through --github-org/--gitlab-group with a token: the token as
    an `http.<origin>/.extraHeader`, passed in GIT_CONFIG_* variables (never on a command line), for
    that origin only."""
    e = os.environ if env is None else env
    if spec.auth is None or spec.protocol != "https":
        return {}
    if spec.auth == "github":
        token, user = e.get("GITHUB_TOKEN") or e.get("GH_TOKEN"), "x-access-token"
    else:
        token, user = e.get("GITLAB_TOKEN"), "oauth2"
    if not token:
        return {}
    u = urlsplit(spec.source)
    basic = base64.b64encode(f"{user}:{token}".encode()).decode()
    n = int(e.get("GIT_CONFIG_COUNT", "0") or 0) if (e.get("GIT_CONFIG_COUNT") or "0").isdigit() else 0
    return {"GIT_CONFIG_COUNT": str(n + 1), f"GIT_CONFIG_KEY_{n}": f"http.https://{u.netloc}/.extraHeader",
            f"GIT_CONFIG_VALUE_{n}": f"Authorization: Basic {basic}"}


def ensure_mirror(spec: RepoSpec, mirror_dir: str | Path, *, timeout: float) -> tuple[Path, str]:
    """The mirror of `spec`, cloned or brought up to date; (path, "cloned" | "fetched").
    Raises GitError (its message never holds the token)."""
    assert spec.protocol is not None
    protocols = (spec.protocol,)
    path = mirror_path(mirror_dir, spec)
    extra = auth_env(spec)
    if (path / "HEAD").is_file():
        g.run(path, "fetch", "--prune", "--no-auto-gc", "--quiet", "origin", protocols=protocols, timeout=timeout,
              extra_env=extra)
        return path, "fetched"
    Path(mirror_dir).mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".clone-", dir=mirror_dir))
    try:
        g.run(mirror_dir, "clone", "--mirror", "--quiet", "--no-local", "--", spec.source, str(tmp / "m.git"),
              protocols=protocols, timeout=timeout, extra_env=extra)
        try:
            os.rename(tmp / "m.git", path)
        except OSError:
            if not (path / "HEAD").is_file():  # (another worker finished the same clone first: keep theirs)
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path, "cloned"
