"""Thread memory: `open_store(url)` opens the MemoryStore its URL scheme names, migrated.

`STORES` is the registry (core.storage.urls.StoreRegistry): key == module name == the store's
`kind`. `SCHEMES` maps each accepted URL scheme to a key.
"""

from __future__ import annotations

from typing import Final

from core.memory.base import MemoryStore
from core.storage.urls import SCHEMES, StoreRegistry

STORES: Final = StoreRegistry[MemoryStore](
    "memory store",
    {"sqlite": "core.memory.sqlite:SqliteStore", "postgres": "core.memory.postgres:PostgresStore"},
)

open_store = STORES.open
"""`await open_store(url, **options)`: the SqliteStore or PostgresStore `url` names, migrated."""

__all__ = ["SCHEMES", "STORES", "MemoryStore", "open_store"]
