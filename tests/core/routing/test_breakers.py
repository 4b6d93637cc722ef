"""Breakers, fallbacks and waiting for a reopening, over fake upstreams, through the SDK."""

from __future__ import annotations

import threading
import time

import pytest

import chatrpc
from tests.core.routing.conftest import gauge
from tests.upstream_fleet import catalog_toml

BREAKER = """
[models."chat".routing]
strategy = "least_busy"
attempts = 3
first_token_timeout = 0.5
[models."chat".breaker]
failures = 2
cooldown = 1.0
"""


def state(routed, deployment: str) -> float | None:
    url = routed.core.metrics_url
    return gauge(url, "chatrpc_breaker_state", model="chat", deployment=deployment)


def test_breaker_opens_lets_one_probe_per_cooldown_and_closes_after_a_good_probe(
    fleet3, start_core
):
    a = fleet3["a"]
    a.set("500")
    routed = start_core(catalog_toml(fleet3.members, tables=BREAKER))
    assert state(routed, "a") == 0
    for _ in range(2):
        assert routed.client.chat("hi", model="chat").usage.upstream == "b"
    assert len(a.requests) == 2 and state(routed, "a") == 1  # open
    opened = a.arrivals[-1]  # a little before it opened (its answer came after)
    while time.monotonic() - opened < 1.5:  # traffic all along: one probe after the cooldown
        routed.client.chat("hi", model="chat")
    assert len(a.requests) == 3 and state(routed, "a") == 1  # the probe failed: open again
    assert a.arrivals[2] - opened >= 0.95  # nothing reached it while it was open
    a.set("silent")
    time.sleep(1.05)
    probe = threading.Thread(target=routed.client.chat, args=("hi",), kwargs={"model": "chat"})
    probe.start()
    time.sleep(0.25)
    assert state(routed, "a") == 2  # half-open: the probe is in flight
    assert routed.client.chat("hi", model="chat").usage.upstream == "b"  # one probe at a time
    probe.join()
    assert len(a.requests) == 4
    a.set("healthy")
    time.sleep(1.05)
    assert routed.client.chat("hi", model="chat").usage.upstream == "a"  # the good probe
    assert state(routed, "a") == 0
    assert routed.client.chat("hi", model="chat").usage.upstream == "a"


FALLBACK = """
[models."chat".routing]
strategy = "least_busy"
[models."chat".breaker]
failures = 1
cooldown = 3.0
[models."chat-small".breaker]
failures = 1
cooldown = 3.0
"""


def fallback_catalog(fleet) -> str:
    chat = catalog_toml(fleet.members[:3], entry='fallbacks = ["chat-small"]', tables=FALLBACK)
    return chat + catalog_toml(fleet.members[3:], model="chat-small")


@pytest.fixture
def fleet4():
    from tests.upstream_fleet import fleet

    with fleet(4) as running:
        yield running


def test_every_deployment_down_the_fallback_model_answers(fleet4, start_core):
    for member in fleet4.members[:3]:
        member.set("503")
    routed = start_core(fallback_catalog(fleet4))
    for stream in (False, True):
        if stream:
            events = list(routed.client.chat_stream("hi", model="chat"))
            usage = events[-1]
        else:
            usage = routed.client.chat("hi", model="chat").usage
        assert isinstance(usage, chatrpc.Usage)
        assert (usage.upstream, usage.fallback_model) == ("d", "chat-small")
        assert routed.trails.last["x-chatrpc-fallback"] == "chat-small"
        assert routed.trails.last["x-chatrpc-upstream"] == "d"


def test_everything_down_is_unavailable_with_the_time_to_the_soonest_reopening(fleet4, start_core):
    for member in fleet4.members:
        member.set("500")
    routed = start_core(fallback_catalog(fleet4))
    with pytest.raises(chatrpc.UnavailableError):
        routed.client.chat("hi", model="chat", timeout=2)  # opens all four
    reopening = time.monotonic() + 3.0
    time.sleep(0.5)
    with pytest.raises(chatrpc.UnavailableError) as caught:
        routed.client.chat("hi", model="chat", timeout=1)
    expected = reopening - time.monotonic()
    assert caught.value.retry_after is not None
    assert abs(caught.value.retry_after - expected) < 0.1
    assert routed.trails.last.get("x-chatrpc-attempts") is None  # nothing was attempted


def test_everything_down_waits_for_a_reopening_within_the_deadline(fleet4, start_core):
    for member in fleet4.members:
        member.set("500")
    routed = start_core(fallback_catalog(fleet4))
    with pytest.raises(chatrpc.UnavailableError):
        routed.client.chat("hi", model="chat", timeout=2)
    reopening = time.monotonic() + 3.0
    fleet4["d"].set("healthy")
    reply = routed.client.chat("hi", model="chat", timeout=10)
    assert time.monotonic() >= reopening - 0.1
    assert (reply.usage.upstream, reply.usage.fallback_model) == ("d", "chat-small")


def test_a_bad_request_is_not_retried(fleet3, start_core):
    fleet3["a"].set("400")
    routed = start_core(catalog_toml(fleet3.members, tables=BREAKER))
    with pytest.raises(chatrpc.ChatServiceError):
        routed.client.chat("hi", model="chat")
    assert fleet3.counts() == {"a": 1, "b": 0, "c": 0}
    assert routed.trails.last["x-chatrpc-attempts"] == "1"


def test_a_context_length_error_goes_to_the_context_window_fallback(fleet4, start_core):
    fleet4["a"].set("context")
    chat = catalog_toml(
        fleet4.members[:3],
        entry='context_window_fallbacks = ["chat-long"]',
        tables=BREAKER,
    )
    routed = start_core(chat + catalog_toml(fleet4.members[3:], model="chat-long"))
    reply = routed.client.chat("hi", model="chat")
    assert (reply.usage.upstream, reply.usage.fallback_model) == ("d", "chat-long")
    assert fleet4.counts() == {"a": 1, "b": 0, "c": 0, "d": 1}  # no other deployment tried


def test_a_503_retry_after_reaches_the_client(fleet3, start_core):
    for member in fleet3.members:
        member.set("503", retry_after="7")
    routed = start_core(catalog_toml(fleet3.members, tables=BREAKER))
    with pytest.raises(chatrpc.UnavailableError) as caught:
        routed.client.chat("hi", model="chat")
    assert caught.value.retry_after == 7


def test_deployments_whose_window_is_too_small_are_skipped_before_any_call(fleet4, start_core):
    chat = catalog_toml(
        fleet4.members[:3], entry='context_window_fallbacks = ["chat-long"]', tables=BREAKER
    )
    small = chat.replace('name = "a"\n', 'name = "a"\ncontext_window = 20\n')
    routed = start_core(small + catalog_toml(fleet4.members[3:], model="chat-long"))
    long_prompt = "word " * 200
    assert routed.client.chat(long_prompt, model="chat").usage.upstream == "b"
    assert fleet4.counts()["a"] == 0
    tiny = chat.replace('name = "', 'context_window = 20\nname = "')  # every deployment
    routed = start_core(tiny + catalog_toml(fleet4.members[3:], model="chat-long"))
    reply = routed.client.chat(long_prompt, model="chat")
    assert (reply.usage.upstream, reply.usage.fallback_model) == ("d", "chat-long")
    assert fleet4.counts()["a"] == 0 and fleet4.counts()["b"] == 1
