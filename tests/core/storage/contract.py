"""StoreContract: what the memory and knowledge contracts share, and where a store lives.

A store's test class is `class TestSqlite(OnSqlite, MemoryStoreContract)`: the mixin gives the
`store_url` fixture (and that database's own checks), the contract the layer's behaviour.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from core.errors import StorageError
from core.storage.urls import StoreRegistry


def assert_safe(error: StorageError, *secrets: str) -> None:
    """The error tells a client neither SQL, nor the driver's name, nor any of `secrets`."""
    text = f"{error.message} {error.metadata}"
    for word in ("SELECT", "INSERT", "UPDATE", "sqlite3", *secrets):
        assert word not in text


class StoreContract:
    """Behaviour of every store of a layer: `registry` is the layer's, `read` one call that
    reads the store."""

    registry: ClassVar[StoreRegistry[Any]]

    @staticmethod
    async def read(store: Any) -> object:
        raise NotImplementedError

    @pytest.fixture
    def store_url(self) -> str:
        raise NotImplementedError(
            "a store's test class takes store_url from OnSqlite or OnPostgres"
        )

    @pytest.fixture
    async def store(self, store_url: str) -> AsyncIterator[Any]:
        store = await self.registry.open(store_url)
        yield store
        await store.aclose()

    async def test_a_closed_store_raises_storage_error(self, store_url: str) -> None:
        store = await self.registry.open(store_url)
        await store.aclose()
        await store.aclose()  # idempotent
        with pytest.raises(StorageError):
            await self.read(store)


class OnSqlite:
    """The store under test is a SQLite file of the test's own."""

    registry: ClassVar[StoreRegistry[Any]]

    @pytest.fixture
    def store_url(self, sqlite_url: str) -> str:
        return sqlite_url

    async def test_a_file_that_is_not_a_database_is_a_storage_error(self, tmp_path: Path) -> None:
        path = tmp_path / "junk.db"
        path.write_bytes(b"this is not a database, just some bytes" * 100)
        with pytest.raises(StorageError) as caught:
            await self.registry.open(f"sqlite:///{path}")
        assert_safe(caught.value, str(path))


class OnPostgres:
    """The store under test is the session's PostgreSQL database, every store table emptied."""

    @pytest.fixture
    def store_url(self, clean_postgres_url: str) -> str:
        return clean_postgres_url
