"""Two core replicas on one Redis: a deployment opened by one is skipped by the other; with
Redis gone, both keep serving on their own breakers."""

from __future__ import annotations

import secrets
import time
import urllib.parse
from collections.abc import Iterator

import pytest

from tests.redis_server import redis_server
from tests.servers import LoopThread
from tests.upstream_fleet import TcpFront, catalog_toml

TABLES = """
[models."{model}".routing]
strategy = "least_busy"
[models."{model}".breaker]
failures = 1
cooldown = 5.0
"""


@pytest.fixture
def redis_front() -> Iterator[tuple[str, TcpFront]]:
    """A Redis URL through a TcpFront, so the test can take Redis away."""
    with redis_server() as (url, why):
        if url is None:
            pytest.skip(why)
        parts = urllib.parse.urlsplit(url)
        loop = LoopThread()
        front = TcpFront(parts.port or 6379, loop)
        try:
            yield f"redis://127.0.0.1:{front.port}{parts.path}", front
        finally:
            front.refuse()
            loop.close()


def test_a_deployment_opened_by_one_replica_is_skipped_by_the_other(
    fleet3, start_core, redis_front
):
    url, front = redis_front
    model = f"chat-{secrets.token_hex(4)}"  # its own Redis keys
    toml = catalog_toml(fleet3.members, model=model, tables=TABLES.format(model=model))
    one = start_core(toml, redis_url=url)
    two = start_core(toml, redis_url=url)
    a = fleet3["a"]
    a.set("500")
    assert one.client.chat("hi", model=model).usage.upstream == "b"  # a failed: open
    a.set("healthy")
    time.sleep(0.6)  # a few sync intervals
    for _ in range(5):
        assert two.client.chat("hi", model=model).usage.upstream == "b"
    assert len(a.requests) == 1

    front.refuse()  # Redis gone: each replica on its own breakers, nobody fails
    fleet3["b"].set("503")
    for replica in (one, two, one, two):
        assert replica.client.chat("hi", model=model).usage.upstream == "c"
    front.accept()
