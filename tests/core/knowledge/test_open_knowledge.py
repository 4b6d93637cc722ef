"""open_knowledge and the KNOWLEDGE_STORES registry: URL schemes, options, key == module == kind."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ConfigError
from core.knowledge import (
    KNOWLEDGE_STORES,
    KnowledgeStore,
    knowledge_store_class,
    open_knowledge,
)
from core.knowledge.postgres import PostgresKnowledgeStore
from core.knowledge.sqlite import SqliteKnowledgeStore
from core.memory import SCHEMES

# mypy checks that each store structurally satisfies the KnowledgeStore Protocol.
IMPLEMENTATIONS: tuple[type[KnowledgeStore], ...] = (SqliteKnowledgeStore, PostgresKnowledgeStore)


def test_store_keys_equal_module_names_and_kinds() -> None:
    for kind, target in KNOWLEDGE_STORES.items():
        module, _, _ = target.partition(":")
        assert module == f"core.knowledge.{kind}"
        assert knowledge_store_class(kind).kind == kind
    assert set(SCHEMES.values()) == set(KNOWLEDGE_STORES)
    assert {cls.kind for cls in IMPLEMENTATIONS} == set(KNOWLEDGE_STORES)


def test_an_unknown_kind_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="sqlite"):
        knowledge_store_class("mysql")


@pytest.mark.parametrize("url", ["mysql://chatrpc:s3cret@db/kb", "s3cret", "", "/var/kb.db"])
async def test_an_unknown_scheme_is_a_config_error_that_hides_the_url(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        await open_knowledge(url)
    assert "s3cret" not in caught.value.message
    assert "postgresql" in caught.value.message


@pytest.mark.parametrize("url", ["sqlite:relative.db", "sqlite://host/x.db", "sqlite:///"])
async def test_a_malformed_sqlite_url_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError):
        await open_knowledge(url)


async def test_an_unknown_option_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="pool"):
        await open_knowledge("sqlite:///:memory:", pool=3)


async def test_store_options_pass_through(tmp_path: Path) -> None:
    store = await open_knowledge(f"sqlite:///{tmp_path / 'k.db'}", pool_size=1)
    try:
        assert isinstance(store, SqliteKnowledgeStore)
    finally:
        await store.aclose()
