"""Fixtures for the remote layer: a fake Binance on 127.0.0.1, an environment scrubbed of real
credentials, and a guard that fails any attempt to reach a non-loopback address."""
from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from scanner.cli import main
from tests.remote.fakebinance import Account, FakeBinance, Issued

SCRUB_PREFIXES = ("BINANCE_", "CEXGUARD_")
PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


def _loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """No real credentials, proxies or audit files; no connection or DNS lookup beyond loopback."""
    for name in list(os.environ):
        if name.startswith(SCRUB_PREFIXES) or name.lower() in PROXY_VARS:
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))

    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(str(address[0])):
            raise AssertionError(f"a test tried to reach the network: {address!r}")
        return real_connect(self, address)

    def getaddrinfo(host: Any, *args: Any, **kw: Any) -> Any:
        if host is not None and not _loopback(host.decode() if isinstance(host, bytes) else str(host)):
            raise AssertionError(f"a test tried to resolve {host!r}")
        return real_getaddrinfo(host, *args, **kw)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture
def fake() -> Iterator[FakeBinance]:
    f = FakeBinance().start()
    yield f
    f.stop()


@dataclass
class World:
    """A master account with one sub-account whose key leaked (withdrawals on, no IP whitelist)."""

    fake: FakeBinance
    master: Account
    sub: Account
    master_key: Issued
    leaked: Issued

    def env(self, *, leaked_secret: bool = True, master: bool = True) -> dict[str, str]:
        e = {"BINANCE_API_KEY": self.leaked.api_key, "CEXGUARD_API_URL": self.fake.url}
        if leaked_secret and self.leaked.secret:
            e["BINANCE_API_SECRET"] = self.leaked.secret
        if master:
            e.update(self.master_key.env(prefix="MASTER"))
        return e


@pytest.fixture
def world(fake: FakeBinance) -> World:
    master = fake.add_account("owner@example.com")
    fake.add_account("other@example.com", master=master)
    sub = fake.add_account("bot@example.com", master=master)
    master_key = fake.add_key(master, enableWithdrawals=True, enableSpotAndMarginTrading=True)
    leaked = fake.add_key(sub, enableWithdrawals=True, enableSpotAndMarginTrading=True)
    return World(fake, master, sub, master_key, leaked)


@dataclass
class Out:
    code: int
    out: str
    err: str


RunCli = Callable[..., Out]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> RunCli:
    """Run `cexguard ARGS` in process through scanner.cli.main with exactly `env` as the credentials
    environment. A traceback (any exception other than SystemExit) fails the test."""

    def _run(*args: str, env: dict[str, str] | None = None) -> Out:
        for name in list(os.environ):
            if name.startswith(SCRUB_PREFIXES):
                monkeypatch.delenv(name)
        for k, v in (env or {}).items():
            monkeypatch.setenv(k, v)
        capsys.readouterr()
        with pytest.raises(SystemExit) as ex:
            main(list(args))
        out, err = capsys.readouterr()
        code = ex.value.code
        return Out(code if isinstance(code, int) else (0 if code is None else 2), out, err)

    return _run
