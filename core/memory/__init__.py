"""Thread memory: `open_store(url)` opens the MemoryStore its URL scheme names, migrated.

`STORES` is the registry: key == module name == the store's `kind`; values are imported only
when a URL selects them, so a SQLite deployment never imports asyncpg. `SCHEMES` maps each
accepted URL scheme to a key.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, cast

from core.memory.base import MemoryStore
from core.registry import import_target
from core.storage.urls import SCHEMES, open_from_url

STORES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "sqlite": "core.memory.sqlite:SqliteStore",
        "postgres": "core.memory.postgres:PostgresStore",
    }
)


def store_class(kind: str) -> type[MemoryStore]:
    """Import the store registered under `kind`; unknown → ConfigError listing STORES."""
    return cast("type[MemoryStore]", import_target(STORES, kind, "memory store"))


async def open_store(url: str, **options: object) -> MemoryStore:
    """Open the store for `url` and apply its migrations.

    `sqlite:///relative.db`, `sqlite:////absolute.db` and `sqlite:///:memory:` open a
    SqliteStore; `postgresql://…` and `postgres://…` open a PostgresStore. `options` are the
    store's keyword options (see each class). An unknown scheme or option raises ConfigError;
    a database that cannot be reached raises StorageError.
    """
    return cast(MemoryStore, await open_from_url(STORES, "memory store", url, **options))


__all__ = ["SCHEMES", "STORES", "MemoryStore", "open_store", "store_class"]
