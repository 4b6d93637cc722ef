"""open_store: the STORES registry's stores and their options (the rest: tests/core/storage)."""

from __future__ import annotations

import pytest

from core.errors import ConfigError
from core.memory import STORES, MemoryStore, open_store
from core.memory.postgres import PostgresStore
from core.memory.sqlite import SqliteStore

# mypy checks that each store structurally satisfies the MemoryStore Protocol.
IMPLEMENTATIONS: tuple[type[MemoryStore], ...] = (SqliteStore, PostgresStore)


def test_every_store_is_registered_under_its_kind() -> None:
    assert {cls.kind for cls in IMPLEMENTATIONS} == set(STORES)


@pytest.mark.parametrize("options", [{"pool_size": 0}, {"busy_timeout_ms": -1}])
async def test_an_out_of_range_option_is_a_config_error(options: dict[str, int]) -> None:
    with pytest.raises(ConfigError):
        await open_store("sqlite:///:memory:", **options)


@pytest.mark.parametrize("url", ["sqlite:///:memory:", "SQLite:///:memory:"])
async def test_a_sqlite_url_opens_a_sqlite_store(url: str) -> None:
    store = await open_store(url, busy_timeout_ms=100, pool_size=1)
    try:
        assert isinstance(store, SqliteStore)
        assert await store.load_history("alice", "t") == ((), 0)
    finally:
        await store.aclose()
