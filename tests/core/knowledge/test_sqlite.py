"""SqliteKnowledgeStore: the contract suite, plus SQLite's own quirks (FTS5, shared file)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from core.knowledge import open_knowledge
from core.knowledge.sqlite import SqliteKnowledgeStore, check_fts5_trigram
from core.memory import open_store
from tests.core.knowledge.contract import TEA_MD, KnowledgeStoreContract
from tests.core.storage.contract import OnSqlite


class TestSqlite(OnSqlite, KnowledgeStoreContract):
    """The knowledge contract on SQLite."""


def test_this_sqlite_has_fts5_trigrams() -> None:
    conn = sqlite3.connect(":memory:")
    try:
        check_fts5_trigram(conn)
    finally:
        conn.close()


async def test_the_fts_index_follows_replacements_and_cascading_deletes(tmp_path: Path) -> None:
    path = tmp_path / "k.db"
    store = await open_knowledge(f"sqlite:///{path}")
    try:
        await store.create_space("alice", "tea")
        await store.add_document("alice", "tea", "tea.md", TEA_MD)
        await store.add_document("alice", "tea", "tea.md", TEA_MD + "\n## 更多\n\n更多内容。")
        await store.create_space("alice", "gone")
        await store.add_document("alice", "gone", "tea.md", TEA_MD)
        await store.delete_space("alice", "gone")
    finally:
        await store.aclose()
    conn = sqlite3.connect(path)
    try:
        # rank 1: also check the index against the chunks table (external content).
        conn.execute(
            "INSERT INTO knowledge_chunks_fts (knowledge_chunks_fts, rank)"
            " VALUES ('integrity-check', 1)"
        )
        chunks = conn.execute("SELECT count(*) FROM knowledge_chunks").fetchone()[0]
        matched = conn.execute(
            "SELECT count(*) FROM knowledge_chunks_fts WHERE knowledge_chunks_fts MATCH ?",
            ('"半盏青"',),
        ).fetchone()[0]
    finally:
        conn.close()
    assert chunks == 5
    assert matched == 1  # only the one remaining document's first chunk


async def test_memory_and_knowledge_share_one_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'chatrpc.db'}"
    memory, knowledge = await open_store(url), await open_knowledge(url)
    try:
        await knowledge.create_space("alice", "tea")
        assert await memory.load_history("alice", "t") == ((), 0)
    finally:
        await memory.aclose()
        await knowledge.aclose()
    conn = sqlite3.connect(tmp_path / "chatrpc.db")
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        knowledge_migrations = conn.execute("SELECT name FROM _knowledge_migrations").fetchall()
    finally:
        conn.close()
    assert {"_migrations", "_knowledge_migrations", "threads", "knowledge_spaces"} <= tables
    assert [name for (name,) in knowledge_migrations] == [
        "m001_spaces",
        "m002_documents",
        "m003_chunks",
    ]


async def test_reopening_applies_no_migration_twice(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'k.db'}"
    for _ in range(2):
        store = await SqliteKnowledgeStore.open(url, pool_size=2)
        await store.create_space("alice", f"s{len(await store.list_spaces('alice'))}")
        await store.aclose()
    store = await SqliteKnowledgeStore.open(url)
    try:
        assert [s.space_id for s in await store.list_spaces("alice")] == ["s0", "s1"]
    finally:
        await store.aclose()


async def test_in_memory_database_works() -> None:
    store = await open_knowledge("sqlite:///:memory:")
    try:
        await store.create_space("alice", "tea")
        await store.add_document("alice", "tea", "tea.md", TEA_MD)
        assert (await store.search("alice", "tea", "茶馆几点开门"))[0].chunk.ordinal == 1
    finally:
        await store.aclose()
