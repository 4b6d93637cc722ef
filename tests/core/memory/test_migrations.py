"""Migrations: named, numbered and append-only; each applied exactly once, in both dialects."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import asyncpg
import pytest

from core.memory import open_store
from core.memory.lifecycle import RetentionPolicy, ThreadFilter
from core.memory.migrations import MIGRATIONS, SCHEMA
from core.storage.schema import Migration, Schema, check_migrations
from tests import pg

NAMES = [m.name for m in MIGRATIONS]
TABLES = {
    "_migrations",
    "threads",
    "messages",
    "turns",
    "erasures",
    "api_keys",
    "spend",
    "background_runs",
    "background_events",
}


def test_names_are_unique_numbered_and_ordered() -> None:
    assert sorted(NAMES) == NAMES
    assert len(set(NAMES)) == len(NAMES)
    # Merged migrations are never renamed, reordered or removed.
    assert NAMES[:3] == ["m001_threads", "m002_messages", "m003_turns"]
    check_migrations(MIGRATIONS)


@pytest.mark.parametrize(
    "names",
    [["m001_a", "m001_b"], ["m002_a", "m001_b"], ["m000_a"], ["001_a"], ["m001_A"], ["m001-a"]],
)
def test_check_rejects_duplicate_unordered_or_misnamed_migrations(names: list[str]) -> None:
    with pytest.raises(ValueError, match="misnamed"):
        check_migrations(tuple(Migration(n, ("SELECT 1",), ("SELECT 1",)) for n in names))


def test_check_allows_a_gap_left_for_a_change_landing_later() -> None:
    check_migrations(
        tuple(Migration(n, ("SELECT 1",), ("SELECT 1",)) for n in ("m001_a", "m003_b"))
    )


def test_check_rejects_a_migration_missing_a_dialect() -> None:
    with pytest.raises(ValueError, match="dialect"):
        check_migrations((Migration("m001_a", ("SELECT 1",), ()),))


def test_pending_keeps_order_and_skips_applied() -> None:
    assert SCHEMA.pending([]) == MIGRATIONS
    assert SCHEMA.pending(NAMES) == ()
    assert [m.name for m in SCHEMA.pending(NAMES[:1])] == NAMES[1:]


def _sqlite_state(path: Path) -> tuple[list[tuple[str, float]], dict[str, list[str]]]:
    """Applied migrations and each table's columns."""
    conn = sqlite3.connect(path)
    try:
        applied = conn.execute("SELECT name, applied FROM _migrations ORDER BY name").fetchall()
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        columns = {t: [c[1] for c in conn.execute(f"PRAGMA table_info({t})")] for t in tables}
    finally:
        conn.close()
    return applied, columns


async def test_sqlite_applies_every_migration_once(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    await (await open_store(f"sqlite:///{path}")).aclose()
    applied, columns = await asyncio.to_thread(_sqlite_state, path)
    assert [name for name, _ in applied] == NAMES
    assert set(columns) == TABLES

    await (await open_store(f"sqlite:///{path}")).aclose()

    assert (await asyncio.to_thread(_sqlite_state, path))[0] == applied  # same rows, same times


async def test_sqlite_concurrent_opens_apply_migrations_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    stores = await asyncio.gather(*(open_store(url) for _ in range(4)))
    for store in stores:
        await store.aclose()
    applied, _ = await asyncio.to_thread(_sqlite_state, tmp_path / "m.db")
    assert [name for name, _ in applied] == NAMES


async def _postgres_state(url: str) -> tuple[list[tuple[str, float]], dict[str, list[str]]]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT name, applied FROM _migrations ORDER BY name")
        cols = await conn.fetch(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"
        )
    finally:
        await conn.close()
    columns: dict[str, list[str]] = {}
    for row in cols:
        columns.setdefault(row["table_name"], []).append(row["column_name"])
    return [(r["name"], r["applied"]) for r in rows], columns


@pytest.mark.postgres
async def test_postgres_applies_every_migration_once_under_concurrent_opens(
    postgres_server_url: str, tmp_path: Path
) -> None:
    url = await pg.create_database(postgres_server_url)
    try:
        stores = await asyncio.gather(*(open_store(url) for _ in range(3)))
        for store in stores:
            await store.aclose()
        applied, columns = await _postgres_state(url)
        assert [name for name, _ in applied] == NAMES

        await (await open_store(url)).aclose()

        assert (await _postgres_state(url))[0] == applied  # same rows, same times
    finally:
        await pg.drop_database(postgres_server_url, url)
    # Both dialects build the same tables with the same columns in the same order.
    await (await open_store(f"sqlite:///{tmp_path / 'm.db'}")).aclose()
    assert columns == (await asyncio.to_thread(_sqlite_state, tmp_path / "m.db"))[1]


def _sqlite_at_m004_with_a_turn(path: Path) -> None:
    """A database as the release before m005 left it, holding one stored turn."""
    old = Schema(
        migrations=MIGRATIONS[:4], table="_migrations", postgres_lock_key=1, label="migration"
    )
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        old.apply_sqlite(conn)
        conn.execute("INSERT INTO threads VALUES ('alice', 't', 1.0, 1.0, 2)")
        conn.execute(
            "INSERT INTO turns VALUES ('alice', 'chatcmpl-1', 't', 'm', 'stop', 3, 1, '', '',"
            " 1.0, 0, 2, 'u', '{}')"
        )
        for seq, role in enumerate(("user", "assistant")):
            conn.execute(
                "INSERT INTO messages VALUES ('alice', 't', ?, 'chatcmpl-1', ?, ?, '', '[]', '',"
                " 1.0)",
                (seq, role, role),
            )
    finally:
        conn.close()


async def test_m005_upgrades_stored_turns_with_empty_instructions(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    await asyncio.to_thread(_sqlite_at_m004_with_a_turn, path)

    store = await open_store(f"sqlite:///{path}")
    try:
        turn = await store.get_turn("alice", "chatcmpl-1")
    finally:
        await store.aclose()

    assert (turn.record.instructions, turn.record.user, turn.latest) == ("", "u", True)
    assert [m.content for m in turn.record.messages] == ["user", "assistant"]


async def test_m010_backfills_threads_from_their_turns(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    await asyncio.to_thread(_sqlite_at_m004_with_a_turn, path)

    store = await open_store(f"sqlite:///{path}")
    try:
        page = await store.search_threads("alice", ThreadFilter(user="u"), page_size=10)
        swept = await store.sweep(RetentionPolicy(response_ttl=1.0), now=3.0, limit=10)
    finally:
        await store.aclose()

    assert [(t.thread_id, t.user) for t in page.threads] == [("t", "u")]
    # turn_count and oldest_turn came from the turn: the response TTL finds it and deletes it
    assert (swept.threads_deleted, swept.deleted) == (1, {"messages": 2, "turns": 1, "threads": 1})
