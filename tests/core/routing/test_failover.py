"""Failover before the first token, over three fake upstreams, through the chatrpc SDK."""

from __future__ import annotations

import time

import pytest

import chatrpc
from tests.upstream_fleet import catalog_toml

ROUTING = """
[models."chat".routing]
strategy = "least_busy"
attempts = 3
first_token_timeout = 0.5
[models."chat".breaker]
failures = 3
cooldown = 30.0
"""

FAILURES = ["429", "500", "503", "refused", "reset", "silent", "401"]


def reply_and_stream(client: chatrpc.Client) -> tuple[chatrpc.Reply, list[chatrpc.StreamEvent]]:
    reply = client.chat("hi", model="chat")
    events = list(client.chat_stream("hi", model="chat"))
    return reply, events


@pytest.mark.parametrize("failure", FAILURES)
@pytest.mark.parametrize("failing", [1, 2])
def test_every_request_succeeds_while_one_deployment_is_healthy(
    fleet3, start_core, failure, failing
):
    for member in fleet3.members[:failing]:
        member.set(failure, retry_after="30")
    routed = start_core(catalog_toml(fleet3.members, tables=ROUTING))
    healthy = fleet3.members[failing].name
    first = routed.client.chat("hi", model="chat")
    assert first.content == "Hello, world"
    assert (first.usage.upstream, first.usage.attempts) == (healthy, failing + 1)
    assert routed.trails.last["x-chatrpc-upstream"] == healthy
    assert routed.trails.last["x-chatrpc-attempts"] == str(failing + 1)
    for _ in range(3):
        reply, events = reply_and_stream(routed.client)
        assert reply.usage.upstream == healthy
        usage, start = events[-1], events[0]
        assert isinstance(start, chatrpc.StreamStart)  # it leaves with the first token
        assert start.server_metadata["x-chatrpc-upstream"] == healthy
        assert isinstance(usage, chatrpc.Usage)
        assert usage.upstream == healthy and usage.attempts >= 1
        assert "".join(e.content for e in events if isinstance(e, chatrpc.MessageDelta)) == (
            "Hello, world"
        )
        assert routed.trails.last["x-chatrpc-upstream"] == healthy
    assert "x-chatrpc-fallback" not in routed.trails.last


def test_a_429_deployment_gets_no_request_during_its_retry_after(fleet3, start_core):
    a = fleet3["a"]
    a.set("429", retry_after="2")
    routed = start_core(catalog_toml(fleet3.members, tables=ROUTING))
    assert routed.client.chat("hi", model="chat").usage.upstream == "b"
    refused_at = a.arrivals[-1]
    a.set("healthy")
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline and a.arrivals[-1] == refused_at:
        routed.client.chat("hi", model="chat")
        time.sleep(0.05)
    assert a.arrivals[-1] != refused_at, "a never got traffic back"
    assert a.arrivals[-1] - refused_at >= 2.0
