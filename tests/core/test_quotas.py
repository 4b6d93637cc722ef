"""Quotas on the limits library's in-process storage: windows, headers, slots, the throttle."""

from __future__ import annotations

import pytest
from limits.aio.storage import MemoryStorage

from core.auth import UNLIMITED, KeyLimits
from core.errors import ResourceExhaustedError
from core.quotas import Quotas, duration


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.0204, "21ms"), (0.5, "500ms"), (17.2, "18s"), (60, "1m0s"), (363, "6m3s")],
)
def test_reset_durations_are_written_as_openai_writes_them(seconds, text):
    assert duration(seconds) == text


async def test_unlimited_keys_get_no_headers_and_no_slot():
    grant = await Quotas(MemoryStorage()).admit("bob", UNLIMITED)
    assert grant.headers == {}


async def test_a_concurrency_slot_is_given_back_on_release():
    quotas = Quotas(MemoryStorage())
    limits = KeyLimits(concurrent_streams=1)
    grant = await quotas.admit("alice", limits)
    with pytest.raises(ResourceExhaustedError) as refused:
        await quotas.admit("alice", limits)
    assert refused.value.metadata["limit"] == "concurrent_requests"
    await quotas.admit("bob", limits)  # another key has its own slots
    grant.release()
    (await quotas.admit("alice", limits)).release()


async def test_tokens_are_charged_after_the_turn_and_may_overshoot_once():
    quotas = Quotas(MemoryStorage())
    limits = KeyLimits(tokens_per_minute=100)
    grant = await quotas.admit("alice", limits)
    assert grant.headers["x-ratelimit-remaining-tokens"] == "100"
    await quotas.charge("alice", limits, 250)
    with pytest.raises(ResourceExhaustedError) as refused:
        await quotas.admit("alice", limits)
    assert refused.value.metadata["x-ratelimit-remaining-tokens"] == "0"
    assert refused.value.retry_after is not None and 0 < refused.value.retry_after <= 60


async def test_the_bad_key_throttle_counts_per_peer():
    quotas = Quotas(MemoryStorage(), bad_keys_per_minute=2)
    for _ in range(2):
        await quotas.check_peer("10.0.0.1")
        await quotas.bad_key("10.0.0.1")
    with pytest.raises(ResourceExhaustedError):
        await quotas.check_peer("10.0.0.1")
    await quotas.check_peer("10.0.0.2")
