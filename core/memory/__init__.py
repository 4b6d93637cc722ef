"""Thread memory: `open_store(url)` opens the MemoryStore its URL scheme names, migrated.

`STORES` is the registry: key == module name == the store's `kind`; values are imported only
when a URL selects them, so a SQLite deployment never imports asyncpg. `SCHEMES` maps each
accepted URL scheme to a key.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import Final, cast
from urllib.parse import urlsplit

from core.errors import ConfigError
from core.memory.base import MemoryStore

STORES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "sqlite": "core.memory.sqlite:SqliteStore",
        "postgres": "core.memory.postgres:PostgresStore",
    }
)

SCHEMES: Final[Mapping[str, str]] = MappingProxyType(
    {"sqlite": "sqlite", "postgresql": "postgres", "postgres": "postgres"}
)


def store_class(kind: str) -> type[MemoryStore]:
    """Import the store registered under `kind`; unknown → ConfigError listing STORES."""
    try:
        target = STORES[kind]
    except KeyError:
        raise ConfigError(
            f"unknown memory store {kind!r}; expected one of {sorted(STORES)}"
        ) from None
    module_name, _, class_name = target.partition(":")
    return cast("type[MemoryStore]", getattr(importlib.import_module(module_name), class_name))


async def open_store(url: str, **options: object) -> MemoryStore:
    """Open the store for `url` and apply its migrations.

    `sqlite:///relative.db`, `sqlite:////absolute.db` and `sqlite:///:memory:` open a
    SqliteStore; `postgresql://…` and `postgres://…` open a PostgresStore. `options` are the
    store's keyword options (see each class). An unknown scheme or option raises ConfigError;
    a database that cannot be reached raises StorageError.
    """
    scheme = urlsplit(url).scheme.lower()
    kind = SCHEMES.get(scheme)
    if kind is None:
        # Only the scheme is echoed: the rest of a URL may carry a password.
        raise ConfigError(
            f"unknown memory store URL scheme {scheme!r}; expected one of {sorted(SCHEMES)}"
        )
    opener = cast("Callable[..., Awaitable[MemoryStore]]", getattr(store_class(kind), "open"))  # noqa: B009
    try:
        inspect.signature(opener).bind(url, **options)
    except TypeError:
        raise ConfigError(
            f"unknown option for the {kind} memory store: {sorted(options)}"
        ) from None
    return await opener(url, **options)


__all__ = ["SCHEMES", "STORES", "MemoryStore", "open_store", "store_class"]
