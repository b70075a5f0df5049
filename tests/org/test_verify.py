"""--verify: each distinct pair verified once, in the client, however many repositories hold it."""
from __future__ import annotations

import json

import pytest

from tests.git.conftest import cg, env_line
from tests.org.conftest import Org
from tests.remote.conftest import World, fake, world  # noqa: F401 (fixtures)


@pytest.mark.slow
def test_a_pair_in_three_repositories_is_verified_once(world: World, org: Org) -> None:  # noqa: F811
    pair = env_line(world.leaked.api_key) + env_line(world.leaked.secret, "BINANCE_API_SECRET")
    for name in ("a", "b", "c"):
        org.repo(name, [{"bot/.env": pair}])
    r = cg(org.root, "org", str(org.repos_file()), "--workers", "2", "--state-dir", str(org.root / "s"),
           "--format", "json", "--verify", env={"CEXGUARD_API_URL": world.fake.url})
    assert r.code == 1, r.err
    doc = json.loads(r.out)
    assert len(doc["incidents"]) == 2  # the key and the secret
    for inc in doc["incidents"]:
        assert inc["repositories"] == ["a", "b", "c"]
        assert inc["verification"]["status"] == "live" and inc["severity"] == "critical"
    # one verification's worth of requests, not three: compare with a scan of one copy
    per_pair = len(world.fake.calls())
    world.fake.requests.clear()
    one = cg(org.work / "a", "scan", ".", "--format", "json", "--verify", env={"CEXGUARD_API_URL": world.fake.url})
    assert one.code == 1, one.err
    assert per_pair == len(world.fake.calls()) > 0
    assert world.leaked.secret not in r.out + r.err
