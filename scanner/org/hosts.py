"""List an organisation's repositories through the GitHub or GitLab REST API.

GitHub: `GET /orgs/{org}/repos?per_page=100&type=all`, next pages from the `Link: <...>; rel="next"`
header, token from GITHUB_TOKEN (or GH_TOKEN) as a Bearer token. GitLab: `GET
/api/v4/groups/{group}/projects?per_page=100&include_subgroups=true`, next page from `X-Next-Page`,
token from GITLAB_TOKEN as PRIVATE-TOKEN. Rate limits are honoured: an answer with no requests left
(`X-RateLimit-Remaining: 0`, GitLab's `RateLimit-Remaining: 0`) or a 403/429 that says so waits until
the reset time (or `Retry-After`) and tries again, up to a bounded wait; beyond it, one clear error.
The API's base URL is an option, so tests answer from a local HTTP server.
"""
from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

from scanner.errors import CexguardError
from scanner.org.repos import RepoSpec, spec_for
from scanner.safetext import safe

GITHUB_API = "https://api.github.com"
GITLAB_API = "https://gitlab.com"
MAX_PAGES = 10_000
_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


def github_token(env: dict[str, str] | None = None) -> str | None:
    e = os.environ if env is None else env
    return e.get("GITHUB_TOKEN") or e.get("GH_TOKEN") or None


def gitlab_token(env: dict[str, str] | None = None) -> str | None:
    e = os.environ if env is None else env
    return e.get("GITLAB_TOKEN") or None


class _SameOrigin(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only within the same scheme, host and port: urllib would otherwise carry
    the Authorization/PRIVATE-TOKEN header to whatever host the redirect names."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        a, b = urlsplit(req.full_url), urlsplit(urljoin(req.full_url, newurl))
        if (a.scheme, a.netloc) != (b.scheme, b.netloc):
            raise CexguardError(f"{_where(req.full_url)}: redirected to another host ({safe(b.netloc)[:80]}); "
                                "not following it with the token")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def check_api_url(url: str, what: str) -> None:
    """https, or plain http to this machine only (a local test server): a token never crosses a
    network in clear."""
    u = urlsplit(url)
    if u.scheme == "https" and u.hostname:
        return
    if u.scheme == "http" and u.hostname in ("localhost", "127.0.0.1", "::1"):
        return
    raise CexguardError(f"{what} {safe(url)[:100]}: expected an https:// URL")


class Api:
    """GET JSON pages with bounded rate-limit waits; `sleep` is injectable for tests."""

    def __init__(self, *, headers: dict[str, str], timeout: float = 30.0, max_wait: float = 900.0,
                 sleep: Callable[[float], None] = time.sleep, say: Callable[[str], None] | None = None) -> None:
        self.headers = {"User-Agent": "cexguard-org", **headers}
        self.timeout, self.max_wait, self.sleep, self.say = timeout, max_wait, sleep, say
        self.waited = 0.0
        self.opener = urllib.request.build_opener(_SameOrigin)

    def get(self, url: str) -> tuple[Any, dict[str, str]]:
        for _attempt in range(20):
            req = urllib.request.Request(url, headers=self.headers)
            try:
                with self.opener.open(req, timeout=self.timeout) as r:
                    body = r.read(64 << 20)
                    headers = {k.lower(): v for k, v in r.headers.items()}
            except urllib.error.HTTPError as e:
                headers = {k.lower(): v for k, v in (e.headers or {}).items()}
                wait = self._limited(e.code, headers)
                if wait is None:
                    raise CexguardError(f"{_where(url)}: HTTP {e.code} {safe(str(e.reason))[:100]}"
                                        + (" (is the token set and allowed to read it?)" if e.code in (401, 403, 404)
                                           else "")) from None
                self._wait(wait, url)
                continue
            except (urllib.error.URLError, OSError) as e:
                reason = getattr(e, "reason", e)
                raise CexguardError(f"{_where(url)}: cannot connect: {safe(str(reason))[:150]}") from None
            try:
                doc = json.loads(body)
            except ValueError:
                raise CexguardError(f"{_where(url)}: the answer is not JSON") from None
            remaining = headers.get("x-ratelimit-remaining", headers.get("ratelimit-remaining"))
            if remaining is not None and remaining.strip() == "0":
                self.pending_wait = _reset_wait(headers)
            else:
                self.pending_wait = 0.0
            return doc, headers
        raise CexguardError(f"{_where(url)}: still rate-limited after 20 attempts")

    pending_wait = 0.0

    def before_next(self, url: str) -> None:
        """The last answer used up the budget: wait for the reset before asking again."""
        if self.pending_wait > 0:
            self._wait(self.pending_wait, url)
            self.pending_wait = 0.0

    def _limited(self, code: int, headers: dict[str, str]) -> float | None:
        if code not in (403, 429):
            return None
        if "retry-after" in headers:
            try:
                return max(0.0, float(headers["retry-after"]))
            except ValueError:
                return 60.0
        remaining = headers.get("x-ratelimit-remaining", headers.get("ratelimit-remaining"))
        if remaining is not None and remaining.strip() == "0":
            return _reset_wait(headers)
        return 60.0 if code == 429 else None

    def _wait(self, seconds: float, url: str) -> None:
        if self.waited + seconds > self.max_wait:
            raise CexguardError(f"{_where(url)}: rate limit: the reset is {seconds:.0f} s away, more than the "
                                f"{self.max_wait:.0f} s allowed; try again later")
        if self.say is not None:
            self.say(f"cexguard: {_where(url)}: rate limit reached, waiting {seconds:.0f} s")
        self.waited += seconds
        self.sleep(seconds)


def _reset_wait(headers: dict[str, str]) -> float:
    reset = headers.get("x-ratelimit-reset", headers.get("ratelimit-reset"))
    try:
        return max(1.0, float(reset) - time.time() + 1) if reset is not None else 60.0
    except ValueError:
        return 60.0


def _where(url: str) -> str:
    u = urlsplit(url)
    return safe(f"{u.scheme}://{u.netloc}{u.path}")


def _pages(api: Api, url: str, next_url: Callable[[str, dict[str, str]], str | None]) -> Iterator[list[Any]]:
    for _ in range(MAX_PAGES):
        doc, headers = api.get(url)
        if not isinstance(doc, list):
            raise CexguardError(f"{_where(url)}: expected a list of repositories")
        yield doc
        nxt = next_url(url, headers)
        if not nxt:
            return
        api.before_next(nxt)
        url = nxt


def github_org(org: str, *, api_url: str = GITHUB_API, env: dict[str, str] | None = None, **kw: Any) -> list[RepoSpec]:
    check_api_url(api_url, "--github-api")
    token = github_token(env)
    headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    api = Api(headers=headers, **kw)
    url = f"{api_url.rstrip('/')}/orgs/{quote(org, safe='')}/repos?per_page=100&type=all"

    def next_url(_url: str, h: dict[str, str]) -> str | None:
        m = _LINK_NEXT.search(h.get("link", ""))
        return m.group(1) if m else None

    return _specs(_pages(api, url, next_url), url_key="clone_url", fork_key="fork", where=f"github {org}",
                  auth="github" if token else None)


def gitlab_group(group: str, *, api_url: str = GITLAB_API, env: dict[str, str] | None = None,
                 **kw: Any) -> list[RepoSpec]:
    check_api_url(api_url, "--gitlab-api")
    token = gitlab_token(env)
    api = Api(headers={"PRIVATE-TOKEN": token} if token else {}, **kw)
    base = f"{api_url.rstrip('/')}/api/v4/groups/{quote(group, safe='')}/projects"
    url = f"{base}?per_page=100&include_subgroups=true&page=1"

    def next_url(_url: str, h: dict[str, str]) -> str | None:
        n = (h.get("x-next-page") or "").strip()
        if n.isdigit():
            return f"{base}?per_page=100&include_subgroups=true&page={n}"
        link = _LINK_NEXT.search(h.get("link", ""))
        return urljoin(_url, link.group(1)) if link else None

    return _specs(_pages(api, url, next_url), url_key="http_url_to_repo", fork_key="forked_from_project",
                  where=f"gitlab {group}", auth="gitlab" if token else None)


def _specs(pages: Any, *, url_key: str, fork_key: str, where: str, auth: str | None) -> list[RepoSpec]:
    """One RepoSpec per repository the API listed (its clone URL under `url_key`)."""
    out = []
    for page in pages:
        for r in page:
            clone = r.get(url_key) if isinstance(r, dict) else None
            if isinstance(clone, str) and clone:
                out.append(spec_for(clone, base=Path.cwd(), where=where, auth=auth, fork=bool(r.get(fork_key))))
    return out
