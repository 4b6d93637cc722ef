"""Knowledge spaces: `open_knowledge(url)` opens the KnowledgeStore its URL scheme names, migrated.

`KNOWLEDGE_STORES` is the registry: key == module name == the store's `kind`; values are
imported only when a URL selects them, so a SQLite deployment never imports asyncpg. URL
schemes are thread memory's (core.storage.urls.SCHEMES), so both layers can use one database URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, cast

from core.knowledge.base import Chunk, Document, Hit, KnowledgeStore, Space
from core.registry import import_target
from core.storage.urls import open_from_url

KNOWLEDGE_STORES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "sqlite": "core.knowledge.sqlite:SqliteKnowledgeStore",
        "postgres": "core.knowledge.postgres:PostgresKnowledgeStore",
    }
)


def knowledge_store_class(kind: str) -> type[KnowledgeStore]:
    """Import the store registered under `kind`; unknown → ConfigError listing the stores."""
    return cast("type[KnowledgeStore]", import_target(KNOWLEDGE_STORES, kind, "knowledge store"))


async def open_knowledge(url: str, **options: object) -> KnowledgeStore:
    """Open the knowledge store for `url` and apply its migrations.

    `sqlite:///relative.db`, `sqlite:////absolute.db` and `sqlite:///:memory:` open a
    SqliteKnowledgeStore; `postgresql://…` and `postgres://…` open a PostgresKnowledgeStore.
    `options` are the store's keyword options (see each class). An unknown scheme or option
    raises ConfigError; a database that cannot be reached raises StorageError.
    """
    return cast(
        KnowledgeStore, await open_from_url(KNOWLEDGE_STORES, "knowledge store", url, **options)
    )


__all__ = [
    "KNOWLEDGE_STORES",
    "Chunk",
    "Document",
    "Hit",
    "KnowledgeStore",
    "Space",
    "knowledge_store_class",
    "open_knowledge",
]
