"""SqliteStore: thread memory in one SQLite file (WAL), driven by stdlib sqlite3 in worker threads.

Each operation runs whole inside one worker thread on a pooled connection, so an asyncio task
never interleaves another task's statements into its transaction. Writes take the database
write lock up front (`BEGIN IMMEDIATE`), which serialises writers across threads and processes;
a writer waits up to `busy_timeout_ms` for the lock, then fails with StorageError.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar, Concatenate, ParamSpec, TypeVar

from core.errors import ConfigError, StorageError, ThreadChangedError, ThreadNotFoundError
from core.memory import migrations
from core.memory.base import (
    Thread,
    ThreadPage,
    TurnRecord,
    check_commit,
    check_page_size,
    require_owner,
    resolve_replay,
)
from core.memory.rows import (
    decode_page_token,
    encode_page_token,
    message_to_params,
    row_to_stored_message,
    row_to_summary,
    row_to_turn,
    turn_to_params,
)
from core.types import Message

logger = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

_SELECT_MESSAGES = (
    "SELECT seq, turn_id, role, content, name, tool_calls, tool_call_id, created"
    " FROM messages WHERE owner = ? AND thread_id = ? ORDER BY seq"
)
_SELECT_TURN_MESSAGES = (
    "SELECT seq, turn_id, role, content, name, tool_calls, tool_call_id, created"
    " FROM messages WHERE owner = ? AND thread_id = ? AND seq >= ? AND seq < ? ORDER BY seq"
)
_SELECT_TURN = (
    "SELECT turn_id, thread_id, model, finish_reason, prompt_tokens, completion_tokens,"
    " idempotency_key, request_hash, created, first_seq, message_count"
    " FROM turns WHERE owner = ? AND idempotency_key = ? AND idempotency_key <> ''"
)
_SELECT_THREAD = (
    "SELECT thread_id, created, updated, message_count FROM threads"
    " WHERE owner = ? AND thread_id = ?"
)
_LIST_FIRST = (
    "SELECT thread_id, created, updated, message_count FROM threads WHERE owner = ?"
    " ORDER BY updated DESC, thread_id DESC LIMIT ?"
)
_LIST_AFTER = (
    "SELECT thread_id, created, updated, message_count FROM threads"
    " WHERE owner = ? AND (updated, thread_id) < (?, ?)"
    " ORDER BY updated DESC, thread_id DESC LIMIT ?"
)
_CREATE_THREAD = (
    "INSERT INTO threads (owner, thread_id, created, updated, message_count)"
    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (owner, thread_id) DO NOTHING"
)
_ADVANCE_THREAD = (
    "UPDATE threads SET updated = ?, message_count = ?"
    " WHERE owner = ? AND thread_id = ? AND message_count = ?"
)
_INSERT_TURN = (
    "INSERT INTO turns (owner, turn_id, thread_id, model, finish_reason, prompt_tokens,"
    " completion_tokens, idempotency_key, request_hash, created, first_seq, message_count)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_MESSAGE = (
    "INSERT INTO messages (owner, thread_id, seq, turn_id, role, content, name, tool_calls,"
    " tool_call_id, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_DELETE_THREAD = "DELETE FROM threads WHERE owner = ? AND thread_id = ?"

_UNAVAILABLE = "thread memory is unavailable"


def path_from_url(url: str) -> str:
    """`sqlite:///relative.db` → `relative.db`; `sqlite:////abs.db` → `/abs.db`; `:memory:`."""
    prefix = "sqlite:///"
    if url[: len(prefix)].lower() != prefix or len(url) == len(prefix):
        raise ConfigError("SQLite store URL must be sqlite:///relative.db or sqlite:////abs.db")
    return url[len(prefix) :]


@contextmanager
def _transaction(conn: sqlite3.Connection, mode: str = "IMMEDIATE") -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE" if mode == "IMMEDIATE" else "BEGIN DEFERRED")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _find_turn(conn: sqlite3.Connection, owner: str, key: str) -> TurnRecord | None:
    row = conn.execute(_SELECT_TURN, (owner, key)).fetchone()
    if row is None:
        return None
    thread_id, first_seq, count = row[1], row[9], row[10]
    messages = conn.execute(
        _SELECT_TURN_MESSAGES, (owner, thread_id, first_seq, first_seq + count)
    ).fetchall()
    return row_to_turn(row, messages)


def _write_turn(conn: sqlite3.Connection, owner: str, base_seq: int, record: TurnRecord) -> None:
    """Advance the thread's head from base_seq and insert the turn; ThreadChangedError if moved."""
    now = time.time()
    head = base_seq + len(record.messages)
    if base_seq == 0:
        cursor = conn.execute(_CREATE_THREAD, (owner, record.thread_id, now, now, head))
    else:
        cursor = conn.execute(_ADVANCE_THREAD, (now, head, owner, record.thread_id, base_seq))
    if cursor.rowcount != 1:
        raise ThreadChangedError("the thread gained another turn; reload it and retry")
    conn.execute(_INSERT_TURN, turn_to_params(owner, base_seq, record))
    conn.executemany(
        _INSERT_MESSAGE,
        [
            (owner, record.thread_id, seq, record.turn_id, *message_to_params(m), record.created)
            for seq, m in enumerate(record.messages, start=base_seq)
        ],
    )


def _commit_turn(
    conn: sqlite3.Connection, owner: str, base_seq: int, record: TurnRecord
) -> TurnRecord:
    key = record.idempotency_key
    try:
        with _transaction(conn):
            replay = resolve_replay(_find_turn(conn, owner, key), record) if key else None
            if replay is not None:
                return replay
            _write_turn(conn, owner, base_seq, record)
    except sqlite3.IntegrityError:
        # Another writer won a race the checks above did not see (another process, or a
        # duplicate turn_id); re-read the key so a same-body retry still gets its turn back.
        replay = resolve_replay(_find_turn(conn, owner, key), record) if key else None
        if replay is not None:
            return replay
        raise ThreadChangedError("the thread gained another turn; reload it and retry") from None
    return record


def _load_history(
    conn: sqlite3.Connection, owner: str, thread_id: str
) -> tuple[tuple[Message, ...], int]:
    rows = conn.execute(_SELECT_MESSAGES, (owner, thread_id)).fetchall()
    return tuple(row_to_stored_message(r).message for r in rows), len(rows)


def _get_thread(conn: sqlite3.Connection, owner: str, thread_id: str) -> Thread:
    with _transaction(conn, "DEFERRED"):
        row = conn.execute(_SELECT_THREAD, (owner, thread_id)).fetchone()
        if row is None:
            raise ThreadNotFoundError("thread not found")
        rows = conn.execute(_SELECT_MESSAGES, (owner, thread_id)).fetchall()
    summary = row_to_summary(row)
    return Thread(
        thread_id=summary.thread_id,
        created=summary.created,
        updated=summary.updated,
        messages=tuple(row_to_stored_message(r) for r in rows),
    )


def _list_threads(conn: sqlite3.Connection, owner: str, page_size: int, token: str) -> ThreadPage:
    if token:
        updated, thread_id = decode_page_token(token)
        params: tuple[object, ...] = (owner, updated, thread_id, page_size + 1)
        rows = conn.execute(_LIST_AFTER, params).fetchall()
    else:
        rows = conn.execute(_LIST_FIRST, (owner, page_size + 1)).fetchall()
    threads = tuple(row_to_summary(r) for r in rows[:page_size])
    more = len(rows) > page_size
    return ThreadPage(
        threads=threads, next_page_token=encode_page_token(threads[-1]) if more else ""
    )


def _delete_thread(conn: sqlite3.Connection, owner: str, thread_id: str) -> None:
    # Messages and turns go with the thread: ON DELETE CASCADE (foreign_keys=ON per connection).
    with _transaction(conn):
        if conn.execute(_DELETE_THREAD, (owner, thread_id)).rowcount != 1:
            raise ThreadNotFoundError("thread not found")


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


def _migrate(conn: sqlite3.Connection) -> None:
    with _transaction(conn):
        conn.execute(migrations.CREATE_MIGRATIONS_TABLE)
        applied = {name for (name,) in conn.execute("SELECT name FROM _migrations")}
        for migration in migrations.pending(applied):
            for statement in migration.sqlite:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO _migrations (name, applied) VALUES (?, ?)",
                (migration.name, time.time()),
            )
            logger.info("Applied SQLite migration %s", migration.name)


class SqliteStore:
    """MemoryStore on one SQLite file; see the module docstring for the concurrency model.

    Open with `await SqliteStore.open(url)` (or core.memory.open_store). Options:
    `busy_timeout_ms` (default 5000) bounds the wait for another writer's lock, and
    `pool_size` (default 4) is the number of worker threads and connections.
    `sqlite:///:memory:` gives a private in-memory database on a single connection.
    """

    kind: ClassVar[str] = "sqlite"

    def __init__(self, path: str, *, busy_timeout_ms: int, pool_size: int) -> None:
        self._path = path
        self._busy_timeout_ms = busy_timeout_ms
        # Every connection to ":memory:" is a separate database, so it gets exactly one.
        workers = 1 if path == ":memory:" else pool_size
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="sqlite-store")
        self._idle: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._closed = False

    @classmethod
    async def open(
        cls, url: str, *, busy_timeout_ms: int = 5000, pool_size: int = 4
    ) -> SqliteStore:
        """Open (creating the file and its directory if missing) and apply migrations."""
        if busy_timeout_ms < 0 or pool_size < 1:
            raise ConfigError("SQLite store needs busy_timeout_ms >= 0 and pool_size >= 1")
        store = cls(path_from_url(url), busy_timeout_ms=busy_timeout_ms, pool_size=pool_size)
        try:
            if store._path != ":memory:":
                await store._call(
                    lambda: Path(store._path).parent.mkdir(parents=True, exist_ok=True)
                )
            await store._run(_migrate)
        except BaseException:
            await store.aclose()
            raise
        return store

    async def load_history(self, owner: str, thread_id: str) -> tuple[tuple[Message, ...], int]:
        require_owner(owner)
        return await self._run(_load_history, owner, thread_id)

    async def commit_turn(self, owner: str, base_seq: int, record: TurnRecord) -> TurnRecord:
        check_commit(owner, base_seq, record)
        return await self._run(_commit_turn, owner, base_seq, record)

    async def find_turn(self, owner: str, idempotency_key: str) -> TurnRecord | None:
        require_owner(owner)
        if not idempotency_key:
            return None
        return await self._run(_find_turn, owner, idempotency_key)

    async def get_thread(self, owner: str, thread_id: str) -> Thread:
        require_owner(owner)
        return await self._run(_get_thread, owner, thread_id)

    async def list_threads(self, owner: str, *, page_size: int, page_token: str = "") -> ThreadPage:
        require_owner(owner)
        check_page_size(page_size)
        return await self._run(_list_threads, owner, page_size, page_token)

    async def delete_thread(self, owner: str, thread_id: str) -> None:
        require_owner(owner)
        await self._run(_delete_thread, owner, thread_id)

    async def aclose(self) -> None:
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

    async def _run(
        self,
        fn: Callable[Concatenate[sqlite3.Connection, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run `fn(connection, *args)` in a worker thread on a pooled connection."""
        return await self._call(functools.partial(self._with_connection, fn, *args, **kwargs))

    async def _call(self, fn: Callable[[], T]) -> T:
        if self._closed:
            raise StorageError("thread store is closed")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, fn)
        except (sqlite3.Error, OSError) as exc:
            logger.warning("SQLite thread store failed: %s: %s", type(exc).__name__, exc)
            raise StorageError(_UNAVAILABLE) from exc

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
            self._path,
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
