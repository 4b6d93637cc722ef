"""Routing seen from the OpenAI face: failover unseen by the openai SDK, the trail headers, and
the Retry-After of a 503."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from gateway.app import create_app
from gateway.settings import Settings
from tests.core.routing.conftest import RoutedCore, routed_core
from tests.servers import GatewayThread
from tests.upstream_fleet import Fleet, catalog_toml, fleet

ROUTING = """
[models."chat".routing]
strategy = "least_busy"
first_token_timeout = 0.5
idle_timeout = 0.5
[models."chat".breaker]
failures = 1
cooldown = 5.0
"""
SMALL = """
[models."chat-small".breaker]
failures = 1
cooldown = 5.0
"""


@pytest.fixture
def fleet4() -> Iterator[Fleet]:
    with fleet(4) as running:
        yield running


@pytest.fixture
def routed(fleet4, tmp_path) -> Iterator[RoutedCore]:
    chat = catalog_toml(fleet4.members[:3], entry='fallbacks = ["chat-small"]', tables=ROUTING)
    small = catalog_toml(fleet4.members[3:], model="chat-small", tables=SMALL)
    with routed_core(chat + small, tmp_path) as core:
        yield core


@pytest.fixture
def gateway(routed) -> Iterator[GatewayThread]:
    gateway = GatewayThread(create_app(Settings(core_target=routed.core.target, auth="disabled")))
    yield gateway
    gateway.stop()


@pytest.fixture
def client(gateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key="unused", max_retries=0) as client:
        yield client


MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize("failure", ["refused", "silent", "503", "429"])
def test_failover_is_unseen_and_named_in_the_headers(fleet4, client, failure):
    fleet4["a"].set(failure, retry_after="30")
    raw = client.chat.completions.with_raw_response.create(model="chat", messages=MESSAGES)
    assert raw.parse().choices[0].message.content == "Hello, world"
    assert raw.headers["x-chatrpc-upstream"] == "b"
    assert raw.headers["x-chatrpc-attempts"] == "2"
    fleet4["b"].set(failure, retry_after="30")
    with client.chat.completions.with_streaming_response.create(
        model="chat", messages=MESSAGES, stream=True
    ) as response:
        assert response.headers["x-chatrpc-upstream"] == "c"
        text = "".join(c.choices[0].delta.content or "" for c in response.parse() if c.choices)
    assert text == "Hello, world"


def test_the_fallback_model_is_named(fleet4, client):
    for member in fleet4.members[:3]:
        member.set("500")
    raw = client.chat.completions.with_raw_response.create(model="chat", messages=MESSAGES)
    assert raw.headers["x-chatrpc-fallback"] == "chat-small"
    assert raw.headers["x-chatrpc-upstream"] == "d"
    assert raw.headers["x-chatrpc-attempts"] == "4"


def test_everything_down_is_a_503_with_the_upstreams_retry_after(fleet4, client):
    for member in fleet4.members:
        member.set("503", retry_after="7")
    with pytest.raises(openai.InternalServerError) as caught:  # 2 s: no waiting for 5 s
        client.chat.completions.create(model="chat", messages=MESSAGES, timeout=2)
    response = caught.value.response
    assert response.status_code == 503
    assert response.headers["x-chatrpc-attempts"] == "4"
    assert 4 <= int(response.headers["retry-after"]) <= 5  # the soonest reopening (cooldown 5)


def test_the_deployments_route_shows_each_breaker_without_urls(fleet4, client, gateway):
    fleet4["a"].set("500")
    client.chat.completions.create(model="chat", messages=MESSAGES)
    response = httpx.get(gateway.url + "/v1/deployments", timeout=10)
    assert response.status_code == 200
    rows = {(row["model"], row["name"]): row for row in response.json()["data"]}
    assert set(rows) == {("chat", "a"), ("chat", "b"), ("chat", "c"), ("chat-small", "d")}
    assert rows["chat", "a"]["state"] == "open"
    assert 4 < rows["chat", "a"]["reopens_in"] <= 5
    assert rows["chat", "b"]["state"] == "closed"
    assert "127.0.0.1" not in response.text and "sk-" not in response.text


def test_a_stream_cut_after_its_first_token_ends_with_the_error_event(fleet4, client):
    fleet4["a"].set("stall", stall_after=2)
    stream = client.chat.completions.create(model="chat", messages=MESSAGES, stream=True)
    received: list[str] = []
    with pytest.raises(openai.APIError):
        _read(stream, received)
    assert "".join(received) == "tick tick "  # what came before the cut, then the error event
    assert fleet4.counts() == {"a": 1, "b": 0, "c": 0, "d": 0}  # no silent switch


def _read(stream, into: list[str]) -> None:
    for chunk in stream:
        if chunk.choices:
            into.append(chunk.choices[0].delta.content or "")
