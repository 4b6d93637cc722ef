"""PostgresPool: the asyncpg connection pool behind the PostgreSQL stores, failures as StorageError.

Driver and network failures surface as StorageError with the owning store's message: it names
no server, quotes no SQL and carries no credentials; the exception type goes to the log. A
malformed URL is a ConfigError that does not echo the URL (it may hold a password).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager
from typing import Any, ClassVar, Self, TypedDict

import asyncpg

from core.errors import ConfigError, StorageError
from core.storage.failures import is_driver_failure
from core.storage.schema import Schema

logger = logging.getLogger(__name__)

DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


@contextmanager
def driver_errors(name: str, unavailable: str) -> Iterator[None]:
    """Turn driver and network failures into StorageError(unavailable); it names no server.
    Besides asyncpg's documented classes, whatever its code raises counts (failures.py)."""
    try:
        yield
    except Exception as exc:
        if not (isinstance(exc, DRIVER_ERRORS) or is_driver_failure(exc)):
            raise
        logger.warning("PostgreSQL %s failed: %s", name, type(exc).__name__)
        raise StorageError(unavailable) from exc


class PostgresPool:
    """An asyncpg pool and the StorageError mapping of one store.

    `name` ("thread store") appears in the log; `unavailable` is the StorageError message. Wrap
    every use in `errors()`; `fetch`, `fetchrow`, `fetchval` and `acquire` are asyncpg's.
    """

    def __init__(self, pool: Any, *, name: str, unavailable: str) -> None:
        self._pool = pool
        self._name = name
        self._unavailable = unavailable

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        name: str,
        unavailable: str,
        min_size: int,
        max_size: int,
        connect_timeout: float,
        command_timeout: float | None,
    ) -> PostgresPool:
        """Connect the pool: `min_size`..`max_size` connections, timeouts in seconds."""
        if not 0 <= min_size <= max_size or max_size < 1:
            raise ConfigError("PostgreSQL store needs 0 <= min_size <= max_size and max_size >= 1")
        try:
            with driver_errors(name, unavailable):
                pool = await asyncpg.create_pool(
                    url,
                    min_size=min_size,
                    max_size=max_size,
                    timeout=connect_timeout,
                    command_timeout=command_timeout,
                )
        except ValueError:  # asyncpg rejects a malformed DSN with a message that quotes it
            raise ConfigError("malformed PostgreSQL store URL") from None
        return cls(pool, name=name, unavailable=unavailable)

    def errors(self) -> AbstractContextManager[None]:
        """Map the failures of the block to this store's StorageError (see driver_errors)."""
        return driver_errors(self._name, self._unavailable)

    async def prepare(self, setup: Callable[[Any], Awaitable[None]]) -> None:
        """Run `setup(connection)` (the migrations) in one transaction; on failure, close."""
        try:
            with self.errors():
                async with self._pool.acquire() as conn, conn.transaction():
                    await setup(conn)
        except BaseException:
            await self.aclose()
            raise

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[Any]:
        """A connection inside one read-only repeatable-read transaction (every read in the
        block sees the same snapshot), its failures mapped as errors() maps them."""
        with self.errors():
            async with (
                self._pool.acquire() as conn,
                conn.transaction(isolation="repeatable_read", readonly=True),
            ):
                yield conn

    def acquire(self, timeout: float | None = None) -> Any:
        """A connection for an `async with` block; waits at most `timeout` s for a free one."""
        return self._pool.acquire(timeout=timeout)

    async def release(self, conn: Any) -> None:
        """Give back a connection taken with `await acquire()`. One whose session has died
        (its server process was terminated) cannot be reset: asyncpg drops it, which is only
        logged here, since whatever ran on it has already succeeded or failed on its own."""
        try:
            await self._pool.release(conn)
        except Exception as exc:  # asyncpg raises several kinds for a dead session
            logger.warning("PostgreSQL %s dropped a connection: %s", self._name, type(exc).__name__)

    async def fetch(self, query: str, *args: object) -> Any:
        return await self._pool.fetch(query, *args)

    async def fetchrow(self, query: str, *args: object) -> Any:
        return await self._pool.fetchrow(query, *args)

    async def fetchval(self, query: str, *args: object) -> Any:
        return await self._pool.fetchval(query, *args)

    async def aclose(self) -> None:
        with self.errors():
            await self._pool.close()


CONNECT_TIMEOUT = 10.0  # seconds to connect, by default


class PoolOptions(TypedDict, total=False):
    """PostgresBackedStore.open's options, for a store that adds its own (PostgresStore)."""

    min_size: int
    max_size: int
    connect_timeout: float
    command_timeout: float | None


class PostgresBackedStore:
    """Base of the stores kept on a PostgresPool: their `open` and `aclose`.

    A subclass sets `pool_name` ("thread store", for the log), `unavailable` (the
    StorageError message) and `schema`, its layer's migrations, which `setup` applies once at
    open in one transaction (a subclass may extend it). `open` options: `min_size` (default 1)
    and `max_size` (default 10) of the pool, `connect_timeout` (seconds, default 10) and
    `command_timeout` (seconds per statement, default 30; a timeout is a StorageError).
    """

    pool_name: ClassVar[str]
    unavailable: ClassVar[str]
    schema: ClassVar[Schema]

    def __init__(self, pool: PostgresPool) -> None:
        self._pool = pool

    async def setup(self, conn: Any) -> None:
        """Bring the database's schema up to date on `conn`, inside the open's transaction."""
        await self.schema.apply_postgres(conn)

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        min_size: int = 1,
        max_size: int = 10,
        connect_timeout: float = CONNECT_TIMEOUT,
        command_timeout: float | None = 30.0,
    ) -> Self:
        """Connect the pool and apply migrations."""
        pool = await PostgresPool.open(
            url,
            name=cls.pool_name,
            unavailable=cls.unavailable,
            min_size=min_size,
            max_size=max_size,
            connect_timeout=connect_timeout,
            command_timeout=command_timeout,
        )
        store = cls(pool)
        await pool.prepare(store.setup)
        return store

    async def aclose(self) -> None:
        await self._pool.aclose()
