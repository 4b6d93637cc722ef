"""The Sweeper: bounded batches per sweep, and a loop that sweeps on its own until closed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from core.memory import MemoryStore, open_store
from core.memory.lifecycle import RetentionPolicy
from core.memory.sweeper import Sweeper
from tests.core.memory.lifecycle_contract import turn


@pytest.fixture
async def store(sqlite_url: str) -> AsyncIterator[MemoryStore]:
    store = await open_store(sqlite_url)
    for i in range(25):
        await turn(store, "alice", f"t{i:02}")
    yield store
    await store.aclose()


async def test_a_sweep_runs_at_most_max_batches_of_batch_threads(store: MemoryStore) -> None:
    later = time.time() + 100
    sweeper = Sweeper(
        store,
        RetentionPolicy(thread_ttl=10),
        interval=60,
        batch=5,
        max_batches=3,
        clock=lambda: later,
    )

    first = await sweeper.sweep_once()
    second = await sweeper.sweep_once()

    assert (first.threads_deleted, first.more) == (15, True)
    assert (second.threads_deleted, second.more) == (10, False)
    assert second.deleted == {"messages": 20, "turns": 10, "threads": 10}


async def test_the_loop_sweeps_by_itself_and_stops_when_closed(store: MemoryStore) -> None:
    later = time.time() + 100
    sweeper = Sweeper(
        store, RetentionPolicy(thread_ttl=10), interval=0.05, batch=100, clock=lambda: later
    )
    sweeper.start()
    try:
        for _ in range(100):
            page = await store.list_threads("alice", page_size=1)
            if not page.threads:
                break
            await asyncio.sleep(0.05)
        assert page.threads == ()
    finally:
        await sweeper.aclose()
    await sweeper.aclose()  # idempotent


def test_a_sweeper_needs_positive_sizes() -> None:
    with pytest.raises(ValueError, match="positive"):
        Sweeper(None, RetentionPolicy(), interval=0)  # type: ignore[arg-type]


def test_retention_is_off_by_default_and_read_from_the_environment() -> None:
    from core.settings import Settings

    default = Settings.from_env({})
    assert (default.thread_ttl_seconds, default.response_ttl_seconds) == (0.0, 0.0)
    assert (default.thread_keep_latest, default.sweep_interval_seconds) == (0, 60.0)
    settings = Settings.from_env(
        {
            "CHATRPC_THREAD_TTL_SECONDS": "86400",
            "CHATRPC_RESPONSE_TTL_SECONDS": "2592000",
            "CHATRPC_THREAD_KEEP_LATEST": "50",
            "CHATRPC_SWEEP_INTERVAL_SECONDS": "5",
            "CHATRPC_SWEEP_BATCH": "500",
        }
    )
    assert (settings.thread_ttl_seconds, settings.response_ttl_seconds) == (86400.0, 2592000.0)
    assert (settings.thread_keep_latest, settings.sweep_interval_seconds) == (50, 5.0)
    assert settings.sweep_batch == 500
