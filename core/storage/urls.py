"""StoreRegistry: a store layer's kinds, and the store a database URL names (memory, knowledge)."""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Generic, TypeVar, cast
from urllib.parse import urlsplit

from core.errors import ConfigError
from core.registry import import_target

# Database URL scheme → store kind, for every store layer (one URL can serve them all).
SCHEMES: Mapping[str, str] = {"sqlite": "sqlite", "postgresql": "postgres", "postgres": "postgres"}

S = TypeVar("S")


class StoreRegistry(Mapping[str, str], Generic[S]):
    """One store layer's registry: kind (== module name == the class's `kind`) → "module:Class".

    A class is imported only when a URL selects it, so a SQLite deployment never imports
    asyncpg. `what` names the layer's stores in errors ("memory store").
    """

    def __init__(self, what: str, targets: Mapping[str, str]) -> None:
        self.what = what
        self._targets = MappingProxyType(dict(targets))

    def __getitem__(self, kind: str) -> str:
        return self._targets[kind]

    def __iter__(self) -> Iterator[str]:
        return iter(self._targets)

    def __len__(self) -> int:
        return len(self._targets)

    def store_class(self, kind: str) -> type[S]:
        """Import the store registered under `kind`; unknown → ConfigError listing the kinds."""
        return cast("type[S]", import_target(self._targets, kind, self.what))

    async def open(self, url: str, **options: object) -> S:
        """Open the store for `url` and apply its migrations.

        `sqlite:///relative.db`, `sqlite:////absolute.db` and `sqlite:///:memory:` open the
        sqlite store; `postgresql://…` and `postgres://…` the postgres one. `options` are the
        store's keyword options (see each class). An unknown scheme or option raises
        ConfigError, echoing only the scheme (the rest of a URL may carry a password); a
        database that cannot be reached raises StorageError.
        """
        scheme = urlsplit(url).scheme.lower()
        kind = SCHEMES.get(scheme)
        if kind is None:
            raise ConfigError(
                f"unknown {self.what} URL scheme {scheme!r}; expected one of {sorted(SCHEMES)}"
            )
        opener = import_target(self._targets, kind, self.what).open
        try:
            inspect.signature(opener).bind(url, **options)
        except TypeError:
            raise ConfigError(
                f"unknown option for the {kind} {self.what}: {sorted(options)}"
            ) from None
        return cast(S, await opener(url, **options))
