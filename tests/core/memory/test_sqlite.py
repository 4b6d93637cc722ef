"""SqliteStore: the contract suite, plus SQLite's own quirks (file, pragmas, locking)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.errors import StorageError
from core.memory import open_store
from core.memory.sqlite import SqliteStore
from tests.core.memory.background_contract import BackgroundLogContract
from tests.core.memory.contract import MemoryStoreContract, commit, record
from tests.core.memory.edits_contract import ThreadEditsContract
from tests.core.memory.lifecycle_contract import LifecycleContract
from tests.core.storage.contract import OnSqlite, assert_safe


class TestSqlite(
    OnSqlite, MemoryStoreContract, LifecycleContract, BackgroundLogContract, ThreadEditsContract
):
    """The memory contract on SQLite."""


async def test_open_creates_the_missing_parent_directory(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "memory.db"
    store = await open_store(f"sqlite:///{path}")
    await store.aclose()
    assert path.is_file()


async def test_a_relative_url_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    store = await open_store("sqlite:///var/memory.db")
    await store.aclose()
    assert (tmp_path / "var" / "memory.db").is_file()


async def test_in_memory_database_works(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = await open_store("sqlite:///:memory:")
    try:
        turn = await commit(store, "alice", "t")
        assert await store.load_history("alice", "t") == (turn.messages, 2)
    finally:
        await store.aclose()
    assert await asyncio.to_thread(os.listdir, tmp_path) == []  # no file named ":memory:"


async def test_connections_use_wal_busy_timeout_foreign_keys_and_normal_sync(
    tmp_path: Path,
) -> None:
    store = await SqliteStore.open(f"sqlite:///{tmp_path / 'm.db'}", busy_timeout_ms=1234)
    try:
        pragmas = await store._pool.run(
            lambda conn: [
                conn.execute(f"PRAGMA {name}").fetchone()[0]
                for name in ("journal_mode", "busy_timeout", "foreign_keys", "synchronous")
            ]
        )
    finally:
        await store.aclose()
    assert pragmas == ["wal", 1234, 1, 1]  # synchronous: 1 == NORMAL


async def test_a_lock_held_beyond_the_busy_timeout_is_a_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    store = await SqliteStore.open(f"sqlite:///{path}", busy_timeout_ms=50)
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(StorageError) as caught:
            await store.commit_turn("alice", 0, record("t"))
        assert_safe(caught.value, str(path))
        other.execute("ROLLBACK")
        await store.commit_turn("alice", 0, record("t"))  # the store recovers
    finally:
        other.close()
        await store.aclose()


async def test_a_parent_that_is_a_file_is_a_storage_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(StorageError):
        await open_store(f"sqlite:///{tmp_path / 'file' / 'memory.db'}")


@pytest.fixture
def read_only_dir(tmp_path: Path) -> Iterator[Path]:
    tmp_path.chmod(0o555)
    yield tmp_path
    tmp_path.chmod(0o755)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
async def test_a_read_only_directory_is_a_storage_error(read_only_dir: Path) -> None:
    with pytest.raises(StorageError):
        await open_store(f"sqlite:///{read_only_dir / 'memory.db'}")
