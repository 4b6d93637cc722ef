"""SqliteBackgroundLog: the BackgroundLog of the SQLite thread store (core.memory.sqlite).

A mixin over the store's pool: each operation runs whole in one worker thread and one
transaction (writes take the write lock up front), as the thread store's do.
"""

from __future__ import annotations

import sqlite3

from core.errors import TurnNotFoundError
from core.memory import background_rows as sql
from core.memory.background import (
    LOST_MESSAGE,
    BackgroundRun,
    LoggedEvent,
    RunStatus,
    check_run,
    lost_error,
)
from core.storage.schema import transaction
from core.storage.sqlite_pool import SqlitePool


def _changed(conn: sqlite3.Connection, statement: str, params: tuple[object, ...]) -> int:
    return len(conn.execute(statement, params).fetchall())


def _create(conn: sqlite3.Connection, run: BackgroundRun) -> None:
    with transaction(conn):
        conn.execute(sql.INSERT_RUN, sql.run_to_params(run))


def _append(
    conn: sqlite3.Connection,
    key: tuple[str, str, str],
    events: tuple[LoggedEvent, ...],
    times: tuple[float, float, float],
) -> bool:
    owner, run_id, lease_owner = key
    now, lease_expires, expires = times
    with transaction(conn):
        row = conn.execute(sql.SELECT_RUN, (owner, run_id)).fetchone()
        if row is None:
            return False
        last = row[10]
        renewed = (last + len(events), lease_expires, now, expires, owner, run_id, lease_owner)
        if not _changed(conn, sql.RENEW, (*renewed, last)):
            return False
        conn.executemany(
            sql.INSERT_EVENT,
            [(owner, run_id, last + i, e.payload) for i, e in enumerate(events, 1)],
        )
    return True


def _finish(conn: sqlite3.Connection, params: tuple[object, ...]) -> bool:
    with transaction(conn):
        return _changed(conn, sql.FINISH, params) == 1


def _get(
    conn: sqlite3.Connection, owner: str, run_id: str, now: float, expires: float
) -> BackgroundRun:
    error = lost_error()
    with transaction(conn):
        conn.execute(
            sql.EXPIRE_ONE, (error.reason, LOST_MESSAGE, now, expires, owner, run_id, now)
        ).fetchall()
        row = conn.execute(sql.SELECT_RUN, (owner, run_id)).fetchone()
    if row is None:
        raise TurnNotFoundError(f"No background turn has the id {run_id!r}.")
    return sql.row_to_run(row)


def _read(
    conn: sqlite3.Connection, owner: str, run_id: str, after: int, limit: int
) -> tuple[LoggedEvent, ...]:
    rows = conn.execute(sql.READ_EVENTS, (owner, run_id, after, limit)).fetchall()
    return tuple(LoggedEvent(seq, bytes(payload)) for seq, payload in rows)


def _cancel(
    conn: sqlite3.Connection, owner: str, run_id: str, now: float, expires: float
) -> BackgroundRun:
    with transaction(conn):
        conn.execute(sql.CANCEL, (now, expires, owner, run_id)).fetchall()
        row = conn.execute(sql.SELECT_RUN, (owner, run_id)).fetchone()
    if row is None:
        raise TurnNotFoundError(f"No background turn has the id {run_id!r}.")
    return sql.row_to_run(row)


def _sweep(conn: sqlite3.Connection, now: float, expires: float) -> tuple[int, int]:
    reason = lost_error().reason
    with transaction(conn):
        failed = _changed(conn, sql.EXPIRE_ALL, (reason, LOST_MESSAGE, now, expires, now))
        deleted = _changed(conn, sql.DELETE_EXPIRED, (now,))
    return failed, deleted


class SqliteBackgroundLog:
    """core.memory.background.BackgroundLog on the store's SqlitePool (`_pool`)."""

    _pool: SqlitePool

    async def create_run(self, run: BackgroundRun) -> None:
        check_run(run)
        await self._pool.run(_create, run)

    async def append_events(
        self,
        owner: str,
        run_id: str,
        lease_owner: str,
        events: tuple[LoggedEvent, ...],
        *,
        now: float,
        lease_expires: float,
        expires: float,
    ) -> bool:
        key = (owner, run_id, lease_owner)
        return await self._pool.run(_append, key, events, (now, lease_expires, expires))

    async def finish_run(
        self,
        owner: str,
        run_id: str,
        lease_owner: str,
        status: RunStatus,
        *,
        now: float,
        expires: float,
        error_reason: str = "",
        error_message: str = "",
    ) -> bool:
        params = (status.value, error_reason, error_message, now, expires)
        return await self._pool.run(_finish, (*params, owner, run_id, lease_owner))

    async def get_run(
        self, owner: str, run_id: str, *, now: float, expires: float
    ) -> BackgroundRun:
        return await self._pool.run(_get, owner, run_id, now, expires)

    async def read_events(
        self, owner: str, run_id: str, after: int, limit: int
    ) -> tuple[LoggedEvent, ...]:
        return await self._pool.run(_read, owner, run_id, after, limit)

    async def cancel_run(
        self, owner: str, run_id: str, *, now: float, expires: float
    ) -> BackgroundRun:
        return await self._pool.run(_cancel, owner, run_id, now, expires)

    async def sweep_runs(self, now: float, expires: float) -> tuple[int, int]:
        return await self._pool.run(_sweep, now, expires)
