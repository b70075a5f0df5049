"""--github-org / --gitlab-group against a local HTTP server that answers like the real APIs:
pagination (Link, X-Next-Page), tokens, rate-limit headers honoured, redirects kept on one host."""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from scanner.errors import CexguardError
from scanner.org import hosts
from tests.conftest import new_key
from tests.git.conftest import cg, env_line
from tests.org.conftest import Org, secrets_by_repos


class FakeApi(ThreadingHTTPServer):
    def __init__(self, routes: dict[str, Any]) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.routes = routes  # path -> callable(query, headers) -> (status, headers, body)
        self.seen: list[tuple[str, dict[str, str]]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: FakeApi

    def do_GET(self) -> None:
        u = urlsplit(self.path)
        self.server.seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        route = self.server.routes.get(u.path)
        status, headers, body = route(parse_qs(u.query), self.headers) if route else (404, {}, {"message": "Not Found"})
        data = json.dumps(body).encode()
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[FakeApi] = []

    def start(routes: dict[str, Any]) -> FakeApi:
        s = FakeApi(routes)
        threading.Thread(target=s.serve_forever, daemon=True).start()
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.shutdown()
        s.server_close()


def github_routes(pages: list[list[dict[str, Any]]], *, limited_once: bool = True) -> dict[str, Any]:
    state = {"limited": not limited_once}

    def repos(q: dict[str, list[str]], h: Any) -> tuple[int, dict[str, str], Any]:
        if not state["limited"]:  # the first call: out of requests, reset one second from now
            state["limited"] = True
            return 403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(time.time()) + 1)}, \
                {"message": "API rate limit exceeded"}
        page = int(q.get("page", ["1"])[0])
        headers = {"x-ratelimit-remaining": "4999"}
        if page < len(pages):
            headers["Link"] = (f'<{h["Host"] and "http://" + h["Host"]}/orgs/acme/repos?per_page=100&type=all&'
                               f'page={page + 1}>; rel="next", <http://x/last>; rel="last"')
        return 200, headers, pages[page - 1]

    return {"/orgs/acme/repos": repos}


def test_github_pages_token_and_rate_limit(serve: Any, tmp_path: Path) -> None:
    pages = [[{"clone_url": f"https://github.example/acme/r{p}{i}.git", "fork": i == 1} for i in range(3)]
             for p in range(3)]
    api = serve(github_routes(pages))
    slept: list[float] = []
    specs = hosts.github_org("acme", api_url=api.url, env={"GITHUB_TOKEN": "tok123"}, sleep=slept.append)
    assert [s.name for s in specs] == [f"acme/r{p}{i}" for p in range(3) for i in range(3)]
    assert [s.fork for s in specs[:3]] == [False, True, False]
    assert all(s.kind == "url" and s.auth == "github" for s in specs)
    assert len(slept) == 1 and 0 < slept[0] <= 3  # waited for the reset, once
    assert all(h.get("authorization") == "Bearer tok123" for _, h in api.seen)
    assert len(api.seen) == 4  # one refused, three pages


def test_gitlab_next_page_header_and_retry_after(serve: Any) -> None:
    calls = {"n": 0}

    def projects(q: dict[str, list[str]], h: Any) -> tuple[int, dict[str, str], Any]:
        calls["n"] += 1
        if calls["n"] == 2:
            return 429, {"Retry-After": "2"}, {"message": "429 Too Many Requests"}
        assert q["include_subgroups"] == ["true"]
        page = int(q["page"][0])
        nxt = str(page + 1) if page < 2 else ""
        return 200, {"X-Next-Page": nxt, "RateLimit-Remaining": "100"}, \
            [{"http_url_to_repo": f"https://gitlab.example/grp/sub/p{page}.git", "forked_from_project": None}]

    api = serve({"/api/v4/groups/grp%2Fsub/projects": projects, "/api/v4/groups/grp/sub/projects": projects})
    slept: list[float] = []
    specs = hosts.gitlab_group("grp/sub", api_url=api.url, env={"GITLAB_TOKEN": "glpat"}, sleep=slept.append)
    assert [s.name for s in specs] == ["grp/sub/p1", "grp/sub/p2"]
    assert slept == [2.0]
    assert all(h.get("private-token") == "glpat" for _, h in api.seen)


def test_rate_limit_beyond_the_allowed_wait_is_one_clear_error(serve: Any) -> None:
    def repos(q: Any, h: Any) -> tuple[int, dict[str, str], Any]:
        return 403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(time.time()) + 3600)}, {}

    api = serve({"/orgs/acme/repos": repos})
    with pytest.raises(CexguardError, match="rate limit"):
        hosts.github_org("acme", api_url=api.url, env={}, sleep=lambda s: None, max_wait=60)


def test_redirect_to_another_host_is_not_followed_with_the_token(serve: Any) -> None:
    other = serve({"/orgs/acme/repos": lambda q, h: (200, {}, [])})
    moved = other.url.replace("127.0.0.1", "localhost")
    api = serve({"/orgs/acme/repos": lambda q, h: (301, {"Location": moved + "/orgs/acme/repos"}, {})})
    with pytest.raises(CexguardError, match="another host"):
        hosts.github_org("acme", api_url=api.url, env={"GITHUB_TOKEN": "tok"})
    assert other.seen == []


def test_api_url_must_be_https_off_this_machine() -> None:
    with pytest.raises(CexguardError, match="https"):
        hosts.github_org("acme", api_url="http://api.example.com", env={})


@pytest.mark.slow
def test_cli_github_org_mirrors_and_audits(serve: Any, org: Org) -> None:
    key = new_key()
    bare = org.repo("svc", [{"prod.env": env_line(key)}])
    api = serve(github_routes([[{"clone_url": f"file://{bare}", "fork": False}]], limited_once=False))
    r = cg(org.root, "org", "--github-org", "acme", "--github-api", api.url, "--workers", "1",
           "--state-dir", str(org.root / "s"), "--format", "json", "--show-secrets", env={"GITHUB_TOKEN": "tok-9f3a"})
    assert r.code == 1, r.err
    doc = json.loads(r.out)
    assert secrets_by_repos(doc) == {key: {"svc"}}
    assert doc["repositories"][0]["fetch"] == "cloned"
    assert "tok-9f3a" not in r.err + r.out
