"""PostgresKnowledgeStore: the contract suite, plus PostgreSQL's own quirks (pg_trgm, replicas)."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from core.knowledge import open_knowledge
from core.knowledge.migrations import MIGRATIONS
from core.knowledge.postgres import PostgresKnowledgeStore
from core.memory import open_store
from tests import pg
from tests.core.knowledge.contract import TEA_MD, KnowledgeStoreContract
from tests.core.storage.contract import OnPostgres

pytestmark = pytest.mark.postgres


class TestPostgres(OnPostgres, KnowledgeStoreContract):
    """The knowledge contract on PostgreSQL."""


async def _trigram_available(url: str) -> bool:
    conn = await asyncpg.connect(url)
    try:
        found = await conn.fetchval(
            "SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_trgm'"
        )
    finally:
        await conn.close()
    return bool(found)


async def test_pg_trgm_indexes_substrings_where_available(clean_postgres_url: str) -> None:
    store = await open_knowledge(clean_postgres_url)
    try:
        assert isinstance(store, PostgresKnowledgeStore)
        assert store.trigram_index == await _trigram_available(clean_postgres_url)
    finally:
        await store.aclose()


async def test_concurrent_opens_on_a_fresh_database_migrate_once(postgres_server_url: str) -> None:
    url = await pg.create_database(postgres_server_url)
    try:
        stores = await asyncio.gather(*(open_knowledge(url) for _ in range(3)))
        memory = await open_store(url)  # thread memory shares the database
        await stores[0].create_space("alice", "tea")
        await stores[1].add_document("alice", "tea", "tea.md", TEA_MD)
        assert (await stores[2].search("alice", "tea", "茶馆几点开门"))[0].chunk.ordinal == 1
        assert await memory.load_history("alice", "t") == ((), 0)
        for store in stores:
            await store.aclose()
        await memory.aclose()
        conn = await asyncpg.connect(url)
        try:
            rows = await conn.fetch("SELECT name FROM _knowledge_migrations ORDER BY name")
        finally:
            await conn.close()
        assert [r["name"] for r in rows] == [m.name for m in MIGRATIONS]
    finally:
        await pg.drop_database(postgres_server_url, url)
