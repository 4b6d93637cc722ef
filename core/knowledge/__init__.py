"""Knowledge spaces: `open_knowledge(url)` opens the KnowledgeStore its URL scheme names, migrated.

`KNOWLEDGE_STORES` is the registry: key == module name == the store's `kind`; values are
imported only when a URL selects them, so a SQLite deployment never imports asyncpg. URL
schemes are thread memory's (core.memory.SCHEMES), so both layers can use one database URL.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import Final, cast
from urllib.parse import urlsplit

from core.errors import ConfigError
from core.knowledge.base import Chunk, Document, Hit, KnowledgeStore, Space
from core.memory import SCHEMES

KNOWLEDGE_STORES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "sqlite": "core.knowledge.sqlite:SqliteKnowledgeStore",
        "postgres": "core.knowledge.postgres:PostgresKnowledgeStore",
    }
)


def knowledge_store_class(kind: str) -> type[KnowledgeStore]:
    """Import the store registered under `kind`; unknown → ConfigError listing the stores."""
    try:
        target = KNOWLEDGE_STORES[kind]
    except KeyError:
        raise ConfigError(
            f"unknown knowledge store {kind!r}; expected one of {sorted(KNOWLEDGE_STORES)}"
        ) from None
    module_name, _, class_name = target.partition(":")
    return cast("type[KnowledgeStore]", getattr(importlib.import_module(module_name), class_name))


async def open_knowledge(url: str, **options: object) -> KnowledgeStore:
    """Open the knowledge store for `url` and apply its migrations.

    `sqlite:///relative.db`, `sqlite:////absolute.db` and `sqlite:///:memory:` open a
    SqliteKnowledgeStore; `postgresql://…` and `postgres://…` open a PostgresKnowledgeStore.
    `options` are the store's keyword options (see each class). An unknown scheme or option
    raises ConfigError; a database that cannot be reached raises StorageError.
    """
    scheme = urlsplit(url).scheme.lower()
    kind = SCHEMES.get(scheme)
    if kind is None:
        # Only the scheme is echoed: the rest of a URL may carry a password.
        raise ConfigError(
            f"unknown knowledge store URL scheme {scheme!r}; expected one of {sorted(SCHEMES)}"
        )
    cls = knowledge_store_class(kind)
    opener = cast("Callable[..., Awaitable[KnowledgeStore]]", getattr(cls, "open"))  # noqa: B009
    try:
        inspect.signature(opener).bind(url, **options)
    except TypeError:
        raise ConfigError(
            f"unknown option for the {kind} knowledge store: {sorted(options)}"
        ) from None
    return await opener(url, **options)


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
