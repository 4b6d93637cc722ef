"""PostgresStore: the contract suite, plus PostgreSQL's own quirks (pool, timeouts, replicas)."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest

from core.errors import StorageError, ThreadBusyError
from core.memory import open_store
from core.memory.lifecycle import RetentionPolicy
from tests.core.memory.background_contract import BackgroundLogContract
from tests.core.memory.contract import MemoryStoreContract
from tests.core.memory.edits_contract import ThreadEditsContract
from tests.core.memory.lifecycle_contract import LifecycleContract, turn
from tests.core.storage.contract import OnPostgres

pytestmark = pytest.mark.postgres


class TestPostgres(
    OnPostgres,
    MemoryStoreContract,
    LifecycleContract,
    BackgroundLogContract,
    ThreadEditsContract,
):
    """The memory contract on PostgreSQL."""


async def test_pool_sizes_are_configurable(clean_postgres_url: str) -> None:
    store = await open_store(clean_postgres_url, min_size=2, max_size=2)
    try:
        results = await asyncio.gather(*(store.load_history("alice", f"t{i}") for i in range(8)))
        assert results == [((), 0)] * 8
    finally:
        await store.aclose()


async def test_a_statement_beyond_the_command_timeout_is_a_storage_error(
    clean_postgres_url: str,
) -> None:
    store = await open_store(clean_postgres_url, command_timeout=0.2)
    blocker = await asyncpg.connect(clean_postgres_url)
    try:
        async with blocker.transaction():
            await blocker.execute("LOCK TABLE messages IN ACCESS EXCLUSIVE MODE")
            with pytest.raises(StorageError) as caught:
                await store.load_history("alice", "t")
            assert "SELECT" not in caught.value.message
        assert await store.load_history("alice", "t") == ((), 0)  # the store recovers
    finally:
        await blocker.close()
        await store.aclose()


async def test_the_postgres_scheme_is_an_alias(clean_postgres_url: str) -> None:
    store = await open_store(clean_postgres_url.replace("postgresql://", "postgres://", 1))
    try:
        assert type(store).kind == "postgres"
        assert await store.load_history("alice", "t") == ((), 0)
    finally:
        await store.aclose()


# --- hold_thread: one turn at a time per thread across replicas --------------------------------


async def _holder(store, order: list[str], name: str, hold: float, wait: float = 10) -> None:
    async with store.hold_thread("alice", "t", wait):
        order.append(f"{name} in")
        await asyncio.sleep(hold)
        order.append(f"{name} out")


async def test_hold_thread_queues_turns_of_two_replicas_in_arrival_order(
    clean_postgres_url: str,
) -> None:
    first, second = await open_store(clean_postgres_url), await open_store(clean_postgres_url)
    order: list[str] = []
    try:
        tasks = []
        for i, store in enumerate([first, second, first, second]):  # alternate "replicas"
            tasks.append(asyncio.create_task(_holder(store, order, f"turn{i}", 0.1)))
            await asyncio.sleep(0.05)  # each asks after the previous one is queued
        await asyncio.gather(*tasks)
        other = asyncio.create_task(_holder(second, order, "other thread", 0))
        async with first.hold_thread("bob", "t", 1):  # another owner's "t" does not wait
            await asyncio.wait_for(asyncio.shield(other), 1)
    finally:
        await first.aclose()
        await second.aclose()
    expected = [f"turn{i} {step}" for i in range(4) for step in ("in", "out")]
    assert order == [*expected, "other thread in", "other thread out"]


async def test_hold_thread_gives_up_after_its_timeout_with_thread_busy(
    clean_postgres_url: str,
) -> None:
    first, second = await open_store(clean_postgres_url), await open_store(clean_postgres_url)
    try:
        async with first.hold_thread("alice", "t", 1):
            started = time.monotonic()
            with pytest.raises(ThreadBusyError):
                async with second.hold_thread("alice", "t", 0.3):
                    pass
            assert 0.25 <= time.monotonic() - started < 2
            with pytest.raises(ThreadBusyError):  # no time left: one try, no wait
                async with second.hold_thread("alice", "t", 0):
                    pass
        async with second.hold_thread("alice", "t", 0):  # released with the block
            pass
    finally:
        await first.aclose()
        await second.aclose()


async def test_a_dead_replicas_hold_is_released_with_its_session(clean_postgres_url: str) -> None:
    first, second = await open_store(clean_postgres_url), await open_store(clean_postgres_url)
    admin = await asyncpg.connect(clean_postgres_url)
    try:
        async with first.hold_thread("alice", "t", 1):
            waiter = asyncio.create_task(_holder(second, [], "survivor", 0))
            await asyncio.sleep(0.2)
            assert not waiter.done()
            # The holder's process dies: PostgreSQL ends its session, and the lock goes with it.
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks"
                " WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid()"
            )
            await asyncio.wait_for(waiter, 2)
    finally:
        await admin.close()
        await first.aclose()
        await second.aclose()


async def test_a_hold_that_ends_in_an_error_releases_the_thread(clean_postgres_url: str) -> None:
    store = await open_store(clean_postgres_url, lock_connections=1)
    try:
        for _ in range(3):  # one lock connection, reused: each hold gave it back unlocked
            # The block's own error, not mapped to StorageError.
            with pytest.raises(OSError, match="the turn failed"):
                async with store.hold_thread("alice", "t", 1):
                    raise OSError("the turn failed")
        async with store.hold_thread("alice", "t", 0):
            pass
    finally:
        await store.aclose()


# --- sweeps beside live turns -----------------------------------------------------------------


async def test_a_sweep_skips_a_thread_whose_turn_is_in_flight_and_takes_it_next_time(
    clean_postgres_url: str,
) -> None:
    first, second = await open_store(clean_postgres_url), await open_store(clean_postgres_url)
    try:
        await turn(first, "alice", "live", created=1.0)
        await turn(first, "alice", "idle", created=1.0)
        policy = RetentionPolicy(thread_ttl=1.0)
        later = time.time() + 10
        async with first.hold_thread("alice", "live", wait=1.0):  # a turn runs on "live"
            started = time.monotonic()
            result = await second.sweep(policy, now=later, limit=10)
            assert time.monotonic() - started < 1.0  # the sweep did not wait for the turn
            assert result.threads_deleted == 1
            assert (await first.get_thread("alice", "live")).messages
        result = await second.sweep(policy, now=later, limit=10)
        assert result.threads_deleted == 1  # the turn ended: "live" goes on the next sweep
    finally:
        await first.aclose()
        await second.aclose()
