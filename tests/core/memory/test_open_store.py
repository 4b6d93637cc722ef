"""open_store and the STORES registry: URL schemes, options, key == module == kind."""

from __future__ import annotations

import pytest

from core.errors import ConfigError
from core.memory import SCHEMES, STORES, MemoryStore, open_store, store_class
from core.memory.postgres import PostgresStore
from core.memory.sqlite import SqliteStore

# mypy checks that each store structurally satisfies the MemoryStore Protocol.
IMPLEMENTATIONS: tuple[type[MemoryStore], ...] = (SqliteStore, PostgresStore)


def test_store_keys_equal_module_names_and_kinds() -> None:
    for kind, target in STORES.items():
        module, _, _ = target.partition(":")
        assert module == f"core.memory.{kind}"
        assert store_class(kind).kind == kind
    assert set(SCHEMES.values()) == set(STORES)
    assert {cls.kind for cls in IMPLEMENTATIONS} == set(STORES)


def test_an_unknown_kind_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="sqlite"):
        store_class("mysql")


@pytest.mark.parametrize(
    "url", ["mysql://chatrpc:s3cret@db/chat", "s3cret", "", "/var/memory.db", "redis://s3cret@h"]
)
async def test_an_unknown_scheme_is_a_config_error_that_hides_the_url(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        await open_store(url)
    assert "s3cret" not in caught.value.message
    assert "postgresql" in caught.value.message


@pytest.mark.parametrize("url", ["sqlite:relative.db", "sqlite://host/x.db", "sqlite:///"])
async def test_a_malformed_sqlite_url_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError):
        await open_store(url)


async def test_an_unknown_option_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="pool"):
        await open_store("sqlite:///:memory:", pool=3)


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
