"""KeyDirectory on a real store: configured keys first, then virtual ones — expired, revoked
and past-grace secrets refused — and the store's keys hold no secret."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator

import pytest

from core.auth import KeyRing, digest
from core.errors import UnauthenticatedError
from core.keys.base import VirtualKey, new_secret
from core.keys.directory import Identity, KeyDirectory
from core.memory import MemoryStore, open_store
from core.storage.sqlite_pool import path_from_url


@pytest.fixture
async def store(sqlite_url: str) -> AsyncIterator[MemoryStore]:
    store = await open_store(sqlite_url)
    yield store
    await store.aclose()


def bearer(secret: str) -> str:
    return f"Bearer {secret}"


async def test_virtual_keys_expire_rotate_and_revoke(store: MemoryStore, sqlite_url: str) -> None:
    now = [1000.0]
    ring = KeyRing({"static": digest("sk-static-0123")})
    directory = KeyDirectory(ring, store, clock=lambda: now[0])
    old, new, brief = new_secret(), new_secret(), new_secret()
    await store.create_key(VirtualKey(name="team-a", owner="team", digest=digest(old)))
    await store.create_key(VirtualKey(name="brief", owner="b", digest=digest(brief), expires=1500))
    await directory.reload()

    assert directory.identify_key(bearer("sk-static-0123")) == Identity("static", "static")
    assert directory.identify_key(bearer(old)) == Identity("team", "team-a")
    assert directory.identify_key(bearer(brief)) == Identity("b", "brief")
    await store.rotate_key("team-a", digest(new), grace_until=1100, now=now[0])
    await directory.reload()
    assert directory.identify_key(bearer(old)).key == "team-a"  # in the grace period
    now[0] = 1600
    for refused in (old, brief, "sk-cr-unknown"):
        with pytest.raises(UnauthenticatedError):
            directory.identify_key(bearer(refused))
    assert directory.identify_key(bearer(new)).owner == "team"
    await store.revoke_key("team-a", now[0])
    await directory.reload()
    with pytest.raises(UnauthenticatedError):
        directory.identify_key(bearer(new))

    conn = sqlite3.connect(path_from_url(sqlite_url))
    try:
        dump = "\n".join(conn.iterdump())
    finally:
        conn.close()
    assert "team-a" in dump
    for secret in (old, new, brief):
        assert secret not in dump and secret.removeprefix("sk-cr-") not in dump
