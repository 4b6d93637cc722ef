"""A stream cut after its first token: no silent switch, the idle timeout, nothing stored,
and the tokens it generated charged to the key."""

from __future__ import annotations

import time

import pytest

import chatrpc
from core.auth import KeyLimits, KeyRing, digest
from tests.core.routing.conftest import gauge
from tests.upstream_fleet import catalog_toml

ROUTING = """
[models."chat".routing]
strategy = "least_busy"
first_token_timeout = 0.3
idle_timeout = 0.5
"""


def test_a_stream_that_stalls_after_its_first_token_ends_within_idle_timeout_unstored(
    fleet3, start_core, sqlite_url
):
    fleet3["a"].set("stall", stall_after=2)
    routed = start_core(catalog_toml(fleet3.members, tables=ROUTING), database_url=sqlite_url)
    tokens = routed.core.metrics_url
    before = gauge(tokens, "chatrpc_completion_tokens_total", model="chat") or 0.0
    deltas: list[float] = []

    def read() -> None:
        for event in routed.client.chat_stream("hi", model="chat", thread_id="t-stall"):
            if isinstance(event, chatrpc.MessageDelta):
                deltas.append(time.monotonic())

    with pytest.raises(chatrpc.ChatServiceError):
        read()
    ended = time.monotonic()
    last_delta = deltas[-1] if deltas else 0.0
    assert last_delta and ended - last_delta <= 0.5 + 0.1
    assert fleet3.counts() == {"a": 1, "b": 0, "c": 0}  # never switched after the first token
    assert routed.trails.last["x-chatrpc-upstream"] == "a"
    with pytest.raises(chatrpc.NotFoundError):
        routed.client.get_thread("t-stall")
    after = gauge(tokens, "chatrpc_completion_tokens_total", model="chat") or 0.0
    assert after - before >= 2


def test_cancelling_streams_after_20_tokens_uses_up_a_token_quota(fleet3, start_core):
    fleet3["a"].set("stall", stall_after=40)
    keys = KeyRing(
        {"limited": digest("sk-limited-key")},
        limits={"limited": KeyLimits(tokens_per_minute=200)},
    )
    routed = start_core(
        catalog_toml(fleet3.members[:1], tables=ROUTING), keys=keys, api_key="sk-limited-key"
    )
    refused_at = None
    for attempt in range(1, 21):
        try:
            stream = routed.client.chat_stream("hi", model="chat")
            seen = 0
            for event in stream:
                if isinstance(event, chatrpc.MessageDelta):
                    seen += event.content.count("tick")
                if seen >= 20:
                    break
            stream.close()
        except chatrpc.RateLimitError:
            refused_at = attempt
            break
        time.sleep(0.05)  # the charge lands as the cancelled call ends
    assert refused_at is not None and refused_at < 20
