"""PostgresStore: the contract suite, plus PostgreSQL's own quirks (pool, timeouts, replicas)."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import pytest

from core.errors import ConfigError, StorageError, ThreadChangedError
from core.memory import open_store
from core.memory.base import TurnRecord
from tests import pg
from tests.core.memory.contract import MemoryStoreContract, record

pytestmark = pytest.mark.postgres


async def _truncate(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        with contextlib.suppress(asyncpg.UndefinedTableError):  # before the first migration
            await conn.execute("TRUNCATE threads, messages, turns")
    finally:
        await conn.close()


@pytest.fixture
def clean_url(postgres_url: str) -> str:
    """The session's database, emptied of threads before each test."""
    pg.run(_truncate(postgres_url))
    return postgres_url


class TestPostgres(MemoryStoreContract):
    @pytest.fixture
    def store_url(self, clean_url: str) -> str:
        return clean_url


async def test_two_stores_on_one_database_race_like_two_replicas(clean_url: str) -> None:
    first, second = await open_store(clean_url), await open_store(clean_url)
    try:
        records = [record("t") for _ in range(16)]
        results = await asyncio.gather(
            *(
                s.commit_turn("alice", 0, r)
                for s, r in zip([first, second] * 8, records, strict=True)
            ),
            return_exceptions=True,
        )
        assert sum(isinstance(r, TurnRecord) for r in results) == 1
        assert sum(isinstance(r, ThreadChangedError) for r in results) == 15
        assert (await second.load_history("alice", "t"))[1] == 2
    finally:
        await first.aclose()
        await second.aclose()


async def test_pool_sizes_are_configurable(clean_url: str) -> None:
    store = await open_store(clean_url, min_size=2, max_size=2)
    try:
        results = await asyncio.gather(*(store.load_history("alice", f"t{i}") for i in range(8)))
        assert results == [((), 0)] * 8
    finally:
        await store.aclose()


async def test_a_closed_port_is_a_storage_error_that_names_no_secret() -> None:
    port = pg._free_port()
    with pytest.raises(StorageError) as caught:
        await open_store(f"postgresql://chatrpc:s3cret@127.0.0.1:{port}/db", connect_timeout=2)
    text = f"{caught.value.message} {caught.value.metadata}"
    assert "s3cret" not in text
    assert str(port) not in text


async def test_a_malformed_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        await open_store("postgresql://chatrpc:s3cret@127.0.0.1:notaport/db")
    assert "s3cret" not in caught.value.message


async def test_a_statement_beyond_the_command_timeout_is_a_storage_error(clean_url: str) -> None:
    store = await open_store(clean_url, command_timeout=0.2)
    blocker = await asyncpg.connect(clean_url)
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


async def test_a_closed_store_raises_storage_error(clean_url: str) -> None:
    store = await open_store(clean_url)
    await store.aclose()
    with pytest.raises(StorageError):
        await store.load_history("alice", "t")


async def test_the_postgres_scheme_is_an_alias(clean_url: str) -> None:
    store = await open_store(clean_url.replace("postgresql://", "postgres://", 1))
    try:
        assert type(store).kind == "postgres"
        assert await store.load_history("alice", "t") == ((), 0)
    finally:
        await store.aclose()
