"""StoreRegistry, through both layers' registries: key == module == kind, URL schemes, options."""

from __future__ import annotations

import pytest

from core.errors import ConfigError
from core.knowledge import KNOWLEDGE_STORES
from core.memory import STORES
from core.storage.urls import SCHEMES, StoreRegistry

REGISTRIES = pytest.mark.parametrize(
    "registry", [STORES, KNOWLEDGE_STORES], ids=["memory", "knowledge"]
)


@pytest.mark.parametrize(
    ("registry", "package"),
    [(STORES, "core.memory"), (KNOWLEDGE_STORES, "core.knowledge")],
    ids=["memory", "knowledge"],
)
def test_store_keys_equal_module_names_and_kinds(registry: StoreRegistry, package: str) -> None:
    for kind, target in registry.items():
        module, _, _ = target.partition(":")
        assert module == f"{package}.{kind}"
        assert registry.store_class(kind).kind == kind
    assert set(SCHEMES.values()) == set(registry)


@REGISTRIES
def test_an_unknown_kind_is_a_config_error(registry: StoreRegistry) -> None:
    with pytest.raises(ConfigError, match="sqlite"):
        registry.store_class("mysql")


@REGISTRIES
@pytest.mark.parametrize(
    "url", ["mysql://chatrpc:s3cret@db/chat", "s3cret", "", "/var/memory.db", "redis://s3cret@h"]
)
async def test_an_unknown_scheme_is_a_config_error_that_hides_the_url(
    registry: StoreRegistry, url: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        await registry.open(url)
    assert "s3cret" not in caught.value.message
    assert "postgresql" in caught.value.message


@REGISTRIES
@pytest.mark.parametrize("url", ["sqlite:relative.db", "sqlite://host/x.db", "sqlite:///"])
async def test_a_malformed_sqlite_url_is_a_config_error(registry: StoreRegistry, url: str) -> None:
    with pytest.raises(ConfigError):
        await registry.open(url)


@REGISTRIES
async def test_an_unknown_option_is_a_config_error(registry: StoreRegistry) -> None:
    with pytest.raises(ConfigError, match="pool"):
        await registry.open("sqlite:///:memory:", pool=3)
