"""SqlitePool: pooled stdlib sqlite3 connections driven from worker threads, for the SQLite stores.

Each operation runs whole inside one worker thread on a pooled connection, so an asyncio task
never interleaves another task's statements into its transaction. Connections use WAL, wait up
to `busy_timeout_ms` for another writer's lock, enforce foreign keys and sync NORMAL. Driver and
file-system failures become StorageError with the owning store's message, which names no path
and quotes no SQL; the details go to the log.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import ClassVar, Concatenate, ParamSpec, Self, TypeVar

from core.errors import ConfigError, StorageError
from core.storage.failures import is_driver_failure
from core.storage.schema import Schema

logger = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")


def path_from_url(url: str) -> str:
    """`sqlite:///relative.db` → `relative.db`; `sqlite:////abs.db` → `/abs.db`; `:memory:`."""
    prefix = "sqlite:///"
    if url[: len(prefix)].lower() != prefix or len(url) == len(prefix):
        raise ConfigError("SQLite store URL must be sqlite:///relative.db or sqlite:////abs.db")
    return url[len(prefix) :]


def enable_wal(conn: sqlite3.Connection, wait: float) -> None:
    """Switches the file to WAL, retrying while another connection holds it.

    SQLite answers a journal-mode change with SQLITE_BUSY at once, without its busy handler,
    when another connection is switching the same new file at that moment (two processes, or
    two stores, opening one database together).
    """
    deadline = time.monotonic() + wait
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class SqlitePool:
    """Worker threads, each borrowing a pooled connection to one SQLite file per operation.

    `name` ("thread store") appears in the log and in the closed-store error; `unavailable` is
    the StorageError message for every driver or file-system failure. `sqlite:///:memory:`
    gives a private in-memory database on a single connection.
    """

    def __init__(
        self,
        path: str,
        *,
        busy_timeout_ms: int,
        pool_size: int,
        name: str,
        unavailable: str,
        thread_name_prefix: str,
    ) -> None:
        self.path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._name = name
        self._unavailable = unavailable
        # Every connection to ":memory:" is a separate database, so it gets exactly one.
        workers = 1 if path == ":memory:" else pool_size
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix=thread_name_prefix)
        self._idle: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    @classmethod
    async def open(
        cls,
        url: str,
        setup: Callable[[sqlite3.Connection], None],
        *,
        busy_timeout_ms: int,
        pool_size: int,
        name: str,
        unavailable: str,
        thread_name_prefix: str,
    ) -> SqlitePool:
        """Create the file's directory if missing, then run `setup` (the migrations) once."""
        if busy_timeout_ms < 0 or pool_size < 1:
            raise ConfigError("SQLite store needs busy_timeout_ms >= 0 and pool_size >= 1")
        pool = cls(
            path_from_url(url),
            busy_timeout_ms=busy_timeout_ms,
            pool_size=pool_size,
            name=name,
            unavailable=unavailable,
            thread_name_prefix=thread_name_prefix,
        )
        try:
            if pool.path != ":memory:":
                await pool._call(lambda: Path(pool.path).parent.mkdir(parents=True, exist_ok=True))
            await pool.run(setup)
        except BaseException:
            await pool.aclose()
            raise
        return pool

    async def run(
        self,
        fn: Callable[Concatenate[sqlite3.Connection, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run `fn(connection, *args)` in a worker thread on a pooled connection."""
        return await self._call(functools.partial(self._with_connection, fn, *args, **kwargs))

    async def aclose(self) -> None:
        """Wait for running operations, then close every connection; idempotent."""
        if self._closed:
            return
        self._closed = True
        await asyncio.to_thread(self._shutdown)

    def _shutdown(self) -> None:
        self._executor.shutdown(wait=True)
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()

    async def _call(self, fn: Callable[[], T]) -> T:
        if self._closed:
            raise StorageError(f"{self._name} is closed")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn)
        except Exception as exc:
            if not (isinstance(exc, sqlite3.Error | OSError) or is_driver_failure(exc)):
                raise
            logger.warning("SQLite %s failed: %s: %s", self._name, type(exc).__name__, exc)
            raise StorageError(self._unavailable) from exc

    def _with_connection(
        self,
        fn: Callable[Concatenate[sqlite3.Connection, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        try:
            conn = self._idle.get_nowait()
        except queue.Empty:
            conn = self._connect()
        try:
            return fn(conn, *args, **kwargs)
        finally:
            self._idle.put(conn)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path,
            timeout=self._busy_timeout_ms / 1000,
            isolation_level=None,  # autocommit: transactions are explicit BEGIN … COMMIT
            check_same_thread=False,  # pooled; used by one worker thread at a time
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
            enable_wal(conn, self._busy_timeout_ms / 1000)
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA synchronous = NORMAL")
        except BaseException:
            conn.close()
            raise
        with self._lock:
            self._all.append(conn)
        return conn


class SqliteBackedStore:
    """Base of the stores kept on a SqlitePool: their `open` and `aclose`.

    A subclass sets `pool_name` ("thread store": logs and the closed-store error),
    `unavailable` (the StorageError message), `thread_name_prefix` and `schema`, its layer's
    migrations, which `setup` applies once on a connection at open (a subclass may extend it).
    `open` options: `busy_timeout_ms` (default 5000) bounds the wait for another writer's
    lock, and `pool_size` (default 4) is the number of worker threads and connections.
    """

    pool_name: ClassVar[str]
    unavailable: ClassVar[str]
    thread_name_prefix: ClassVar[str]
    schema: ClassVar[Schema]

    def __init__(self, pool: SqlitePool) -> None:
        self._pool = pool

    @classmethod
    def setup(cls, conn: sqlite3.Connection) -> None:
        """Bring the database's schema up to date; run once, in a worker thread, at open."""
        cls.schema.apply_sqlite(conn)

    @classmethod
    async def open(cls, url: str, *, busy_timeout_ms: int = 5000, pool_size: int = 4) -> Self:
        """Open (creating the file and its directory if missing) and apply migrations."""
        pool = await SqlitePool.open(
            url,
            cls.setup,
            busy_timeout_ms=busy_timeout_ms,
            pool_size=pool_size,
            name=cls.pool_name,
            unavailable=cls.unavailable,
            thread_name_prefix=cls.thread_name_prefix,
        )
        return cls(pool)

    async def aclose(self) -> None:
        await self._pool.aclose()
