"""KeyStore on the thread store's database: a mixin for each of its two stores, over the
store's own pool (the tables are thread memory's migrations m012 and m013)."""

from __future__ import annotations

import sqlite3
from typing import Any

import asyncpg

from core.errors import ConflictError, NotFoundError
from core.keys import rows as q
from core.keys.base import SpendRow, VirtualKey
from core.storage.placeholders import numbered as _n
from core.storage.postgres_pool import PostgresPool
from core.storage.schema import transaction
from core.storage.sqlite_pool import SqlitePool


def _missing(name: str) -> NotFoundError:
    return NotFoundError(f"No key is named {name!r} (or it is revoked).", field="name")


def _taken(name: str) -> ConflictError:
    return ConflictError(f"A key named {name!r} exists.", field="name")


def _create(conn: sqlite3.Connection, key: VirtualKey) -> None:
    try:
        with transaction(conn):
            conn.execute(q.INSERT_KEY, q.key_to_params(key))
    except sqlite3.IntegrityError:
        raise _taken(key.name) from None


def _change(
    conn: sqlite3.Connection, sql: str, params: tuple[Any, ...], name: str, idempotent: bool
) -> VirtualKey:
    """Apply a change to the key; unknown (or, unless `idempotent`, unchanged) → NotFound."""
    with transaction(conn):
        changed = conn.execute(sql, params).rowcount
        row = conn.execute(q.SELECT_KEY, (name,)).fetchone()
    if row is None or not (changed or idempotent):
        raise _missing(name)
    return q.row_to_key(row)


class SqliteKeys:
    """KeyStore for SqliteStore."""

    _pool: SqlitePool

    async def create_key(self, key: VirtualKey) -> None:
        await self._pool.run(_create, key)

    async def list_keys(self) -> tuple[VirtualKey, ...]:
        rows = await self._pool.run(lambda c: c.execute(q.SELECT_KEYS).fetchall())
        return tuple(q.row_to_key(r) for r in rows)

    async def rotate_key(
        self, name: str, digest: str, grace_until: float, now: float
    ) -> VirtualKey:
        params = (grace_until, digest, now, name)
        return await self._pool.run(_change, q.ROTATE_KEY, params, name, False)

    async def revoke_key(self, name: str, now: float) -> VirtualKey:
        return await self._pool.run(_change, q.REVOKE_KEY, (now, now, name), name, True)

    async def record_spend(
        self, key: str, owner: str, model: str, day: str, usage: tuple[int, int], micros: int
    ) -> None:
        def add(conn: sqlite3.Connection) -> None:
            with transaction(conn):
                conn.execute(q.ADD_SPEND, (key, owner, model, day, *usage, micros))

        await self._pool.run(add)

    async def spend(self, key: str, since_day: str) -> tuple[SpendRow, ...]:
        rows = await self._pool.run(
            lambda c: c.execute(q.SELECT_SPEND, (key, since_day)).fetchall()
        )
        return tuple(q.row_to_spend(r) for r in rows)


class PostgresKeys:
    """KeyStore for PostgresStore."""

    _pool: PostgresPool

    async def create_key(self, key: VirtualKey) -> None:
        with self._pool.errors():
            try:
                await self._pool.fetchval(_n(q.INSERT_KEY), *q.key_to_params(key))
            except asyncpg.UniqueViolationError:
                raise _taken(key.name) from None

    async def list_keys(self) -> tuple[VirtualKey, ...]:
        with self._pool.errors():
            rows = await self._pool.fetch(_n(q.SELECT_KEYS))
        return tuple(q.row_to_key(r) for r in rows)

    async def rotate_key(
        self, name: str, digest: str, grace_until: float, now: float
    ) -> VirtualKey:
        return await self._change(q.ROTATE_KEY, (grace_until, digest, now, name), name, False)

    async def revoke_key(self, name: str, now: float) -> VirtualKey:
        return await self._change(q.REVOKE_KEY, (now, now, name), name, True)

    async def _change(
        self, sql: str, params: tuple[Any, ...], name: str, idempotent: bool
    ) -> VirtualKey:
        with self._pool.errors():
            async with self._pool.acquire() as conn, conn.transaction():
                status = await conn.execute(_n(sql), *params)
                row = await conn.fetchrow(_n(q.SELECT_KEY), name)
        if row is None or (status.endswith(" 0") and not idempotent):
            raise _missing(name)
        return q.row_to_key(row)

    async def record_spend(
        self, key: str, owner: str, model: str, day: str, usage: tuple[int, int], micros: int
    ) -> None:
        with self._pool.errors():
            await self._pool.fetchval(_n(q.ADD_SPEND), key, owner, model, day, *usage, micros)

    async def spend(self, key: str, since_day: str) -> tuple[SpendRow, ...]:
        with self._pool.errors():
            rows = await self._pool.fetch(_n(q.SELECT_SPEND), key, since_day)
        return tuple(q.row_to_spend(r) for r in rows)
