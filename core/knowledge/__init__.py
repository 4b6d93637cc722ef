"""Knowledge spaces: `open_knowledge(url)` opens the KnowledgeStore its URL scheme names, migrated.

`KNOWLEDGE_STORES` is the registry (core.storage.urls.StoreRegistry): key == module name == the
store's `kind`. URL schemes are thread memory's (core.storage.urls.SCHEMES), so both layers can
use one database URL.
"""

from __future__ import annotations

from typing import Final

from core.knowledge.base import Chunk, Document, Hit, KnowledgeStore, Space
from core.storage.urls import StoreRegistry

KNOWLEDGE_STORES: Final = StoreRegistry[KnowledgeStore](
    "knowledge store",
    {
        "sqlite": "core.knowledge.sqlite:SqliteKnowledgeStore",
        "postgres": "core.knowledge.postgres:PostgresKnowledgeStore",
    },
)

open_knowledge = KNOWLEDGE_STORES.open
"""`await open_knowledge(url, **options)`: the SqliteKnowledgeStore or PostgresKnowledgeStore
`url` names, migrated."""


__all__ = [
    "KNOWLEDGE_STORES",
    "Chunk",
    "Document",
    "Hit",
    "KnowledgeStore",
    "Space",
    "open_knowledge",
]
