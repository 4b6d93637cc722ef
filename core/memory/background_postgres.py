"""PostgresBackgroundLog: the BackgroundLog of the PostgreSQL thread store (core.memory.postgres).

A mixin over the store's asyncpg pool. The lease holder's writes are conditional UPDATEs on
the run row, which PostgreSQL serialises per row, so replicas sharing the database never
both write one run's log; a watcher on another replica reads the log by number (it polls:
core.server.background says why).
"""

from __future__ import annotations

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
from core.storage.postgres_pool import PostgresPool

_INSERT_RUN = sql.numbered(sql.INSERT_RUN)
_SELECT_RUN = sql.numbered(sql.SELECT_RUN)
_LOCK_RUN = sql.numbered(sql.SELECT_RUN + " FOR UPDATE")
_RENEW = sql.numbered(sql.RENEW)
_INSERT_EVENT = sql.numbered(sql.INSERT_EVENT)
_FINISH = sql.numbered(sql.FINISH)
_EXPIRE_ONE = sql.numbered(sql.EXPIRE_ONE)
_EXPIRE_ALL = sql.numbered(sql.EXPIRE_ALL)
_DELETE_EXPIRED = sql.numbered(sql.DELETE_EXPIRED)
_CANCEL = sql.numbered(sql.CANCEL)
_READ_EVENTS = sql.numbered(sql.READ_EVENTS)


class PostgresBackgroundLog:
    """core.memory.background.BackgroundLog on the store's PostgresPool (`_pool`)."""

    _pool: PostgresPool

    async def create_run(self, run: BackgroundRun) -> None:
        check_run(run)
        with self._pool.errors():
            await self._pool.fetchval(_INSERT_RUN, *sql.run_to_params(run))

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
        with self._pool.errors():
            async with self._pool.acquire() as conn, conn.transaction():
                row = await conn.fetchrow(_LOCK_RUN, owner, run_id)
                if row is None:
                    return False
                last = row["last_sequence"]
                renewed = await conn.fetchval(
                    _RENEW,
                    last + len(events),
                    lease_expires,
                    now,
                    expires,
                    owner,
                    run_id,
                    lease_owner,
                    last,
                )
                if renewed is None:
                    return False
                await conn.executemany(
                    _INSERT_EVENT,
                    [(owner, run_id, last + i, e.payload) for i, e in enumerate(events, 1)],
                )
        return True

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
        with self._pool.errors():
            done = await self._pool.fetchval(_FINISH, *params, owner, run_id, lease_owner)
        return done is not None

    async def get_run(
        self, owner: str, run_id: str, *, now: float, expires: float
    ) -> BackgroundRun:
        reason = lost_error().reason
        with self._pool.errors():
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.fetchval(
                    _EXPIRE_ONE, reason, LOST_MESSAGE, now, expires, owner, run_id, now
                )
                row = await conn.fetchrow(_SELECT_RUN, owner, run_id)
        if row is None:
            raise TurnNotFoundError(f"No background turn has the id {run_id!r}.")
        return sql.row_to_run(row)

    async def read_events(
        self, owner: str, run_id: str, after: int, limit: int
    ) -> tuple[LoggedEvent, ...]:
        with self._pool.errors():
            rows = await self._pool.fetch(_READ_EVENTS, owner, run_id, after, limit)
        return tuple(LoggedEvent(row["seq"], bytes(row["payload"])) for row in rows)

    async def cancel_run(
        self, owner: str, run_id: str, *, now: float, expires: float
    ) -> BackgroundRun:
        with self._pool.errors():
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.fetchval(_CANCEL, now, expires, owner, run_id)
                row = await conn.fetchrow(_SELECT_RUN, owner, run_id)
        if row is None:
            raise TurnNotFoundError(f"No background turn has the id {run_id!r}.")
        return sql.row_to_run(row)

    async def sweep_runs(self, now: float, expires: float) -> tuple[int, int]:
        reason = lost_error().reason
        with self._pool.errors():
            async with self._pool.acquire() as conn, conn.transaction():
                failed = await conn.fetch(_EXPIRE_ALL, reason, LOST_MESSAGE, now, expires, now)
                deleted = await conn.fetch(_DELETE_EXPIRED, now)
        return len(failed), len(deleted)
