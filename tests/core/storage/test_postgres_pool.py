"""core.storage.postgres_pool through both layers' openers: a failed open never leaks the URL."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from core.errors import ConfigError, StorageError
from core.knowledge import open_knowledge
from core.memory import open_store
from tests import pg

pytestmark = pytest.mark.postgres

OPENERS: list[Callable[..., Awaitable[object]]] = [open_store, open_knowledge]


@pytest.mark.parametrize("opener", OPENERS, ids=["memory", "knowledge"])
async def test_a_closed_port_is_a_storage_error_that_names_no_secret(opener) -> None:
    port = pg._free_port()
    with pytest.raises(StorageError) as caught:
        await opener(f"postgresql://chatrpc:s3cret@127.0.0.1:{port}/db", connect_timeout=2)
    text = f"{caught.value.message} {caught.value.metadata}"
    assert "s3cret" not in text
    assert str(port) not in text


@pytest.mark.parametrize("opener", OPENERS, ids=["memory", "knowledge"])
async def test_a_malformed_url_is_a_config_error(opener) -> None:
    with pytest.raises(ConfigError) as caught:
        await opener("postgresql://chatrpc:s3cret@127.0.0.1:notaport/db")
    assert "s3cret" not in caught.value.message
