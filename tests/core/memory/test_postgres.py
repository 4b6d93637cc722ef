"""PostgresStore: the contract suite, plus PostgreSQL's own quirks (pool, timeouts, replicas)."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from core.errors import StorageError
from core.memory import open_store
from tests.core.memory.contract import MemoryStoreContract
from tests.core.storage.contract import OnPostgres

pytestmark = pytest.mark.postgres


class TestPostgres(OnPostgres, MemoryStoreContract):
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
