"""open_knowledge: the KNOWLEDGE_STORES registry's stores and their options (the rest:
tests/core/storage)."""

from __future__ import annotations

from pathlib import Path

from core.knowledge import KNOWLEDGE_STORES, KnowledgeStore, open_knowledge
from core.knowledge.postgres import PostgresKnowledgeStore
from core.knowledge.sqlite import SqliteKnowledgeStore

# mypy checks that each store structurally satisfies the KnowledgeStore Protocol.
IMPLEMENTATIONS: tuple[type[KnowledgeStore], ...] = (SqliteKnowledgeStore, PostgresKnowledgeStore)


def test_every_store_is_registered_under_its_kind() -> None:
    assert {cls.kind for cls in IMPLEMENTATIONS} == set(KNOWLEDGE_STORES)


async def test_store_options_pass_through(tmp_path: Path) -> None:
    store = await open_knowledge(f"sqlite:///{tmp_path / 'k.db'}", pool_size=1)
    try:
        assert isinstance(store, SqliteKnowledgeStore)
    finally:
        await store.aclose()
