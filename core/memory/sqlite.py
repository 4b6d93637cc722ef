"""SqliteStore: thread memory in one SQLite file (WAL), driven by stdlib sqlite3 in worker threads.

Each operation runs whole inside one worker thread on a pooled connection
(core.storage.sqlite_pool), so an asyncio task never interleaves another task's statements into its
transaction. Writes take the database write lock up front (`BEGIN IMMEDIATE`), which serialises
writers across threads and processes; a writer waits up to `busy_timeout_ms` for the lock, then
fails with StorageError.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import AbstractAsyncContextManager, nullcontext
from typing import Any, ClassVar

from core.errors import ThreadChangedError, ThreadNotFoundError, TurnNotFoundError
from core.keys.stores import SqliteKeys
from core.memory import base, rows as columns
from core.memory.background_sqlite import SqliteBackgroundLog
from core.memory.edits_sqlite import SqliteThreadEdits
from core.memory.rows import ThreadTables
from core.memory.sqlite_lifecycle import SqliteLifecycle
from core.storage.schema import transaction
from core.storage.sqlite_pool import SqliteBackedStore
from core.types import Message

_SELECT_MESSAGES = (
    "SELECT seq, turn_id, role, content, name, tool_calls, tool_call_id, created, reasoning, parts"
    " FROM messages WHERE owner = ? AND thread_id = ? AND hidden = 0 ORDER BY seq"
)
# Every message, hidden ones too (flagged last): their seqs count toward the head.
_SELECT_HISTORY = (
    "SELECT seq, turn_id, role, content, name, tool_calls, tool_call_id, created, reasoning, parts,"
    " hidden FROM messages WHERE owner = ? AND thread_id = ? ORDER BY seq"
)
_SELECT_TURN_MESSAGES = (
    "SELECT seq, turn_id, role, content, name, tool_calls, tool_call_id, created, reasoning, parts"
    " FROM messages WHERE owner = ? AND thread_id = ? AND seq >= ? AND seq < ? ORDER BY seq"
)
_TURN_COLUMNS = (
    "SELECT turn_id, thread_id, model, finish_reason, prompt_tokens, completion_tokens,"
    " idempotency_key, request_hash, created, first_seq, message_count, end_user, metadata,"
    " instructions, request_id FROM turns"
)
_SELECT_TURN = _TURN_COLUMNS + " WHERE owner = ? AND idempotency_key = ? AND idempotency_key <> ''"
_SELECT_TURN_BY_ID = _TURN_COLUMNS + " WHERE owner = ? AND turn_id = ?"
_SELECT_PREVIOUS_TURN = (
    "SELECT turn_id FROM turns WHERE owner = ? AND thread_id = ? AND first_seq + message_count = ?"
)
_SELECT_HEAD = "SELECT message_count FROM threads WHERE owner = ? AND thread_id = ?"
_DELETE_MESSAGES_FROM = "DELETE FROM messages WHERE owner = ? AND thread_id = ? AND seq >= ?"
_DELETE_TURN = "DELETE FROM turns WHERE owner = ? AND turn_id = ?"
_REWIND_THREAD = (
    "UPDATE threads SET updated = ?, message_count = ?, turn_count = turn_count - 1"
    " WHERE owner = ? AND thread_id = ?"
)
_SELECT_THREAD = (
    "SELECT thread_id, created, updated, message_count, end_user, metadata FROM threads"
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
    "INSERT INTO threads (owner, thread_id, created, updated, message_count, end_user, metadata,"
    " ttl_seconds, keep_latest, turn_count, oldest_turn)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?) ON CONFLICT (owner, thread_id) DO NOTHING"
)
_ADVANCE_THREAD = (
    "UPDATE threads SET updated = ?, message_count = ?, turn_count = turn_count + 1"
    " WHERE owner = ? AND thread_id = ? AND message_count = ?"
)
_INSERT_TURN = (
    "INSERT INTO turns (owner, turn_id, thread_id, model, finish_reason, prompt_tokens,"
    " completion_tokens, idempotency_key, request_hash, created, first_seq, message_count,"
    " end_user, metadata, instructions, request_id)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_INSERT_MESSAGE = (
    "INSERT INTO messages (owner, thread_id, seq, turn_id, role, content, name, tool_calls,"
    " tool_call_id, created, reasoning, parts) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_DELETE_THREAD = "DELETE FROM threads WHERE owner = ? AND thread_id = ?"
_SELECT_TURN_CALLERS = (
    "SELECT turn_id, end_user, metadata FROM turns WHERE owner = ? AND thread_id = ?"
    " AND (end_user <> '' OR metadata <> '{}')"
)


def _find_turn(conn: sqlite3.Connection, owner: str, key: str) -> base.TurnRecord | None:
    row = conn.execute(_SELECT_TURN, (owner, key)).fetchone()
    if row is None:
        return None
    return columns.row_to_turn(row, _turn_messages(conn, owner, row))


def _turn_messages(conn: sqlite3.Connection, owner: str, row: Any) -> list[Any]:
    thread_id, first_seq, count = row[1], row[9], row[10]
    return conn.execute(
        _SELECT_TURN_MESSAGES, (owner, thread_id, first_seq, first_seq + count)
    ).fetchall()


def _get_turn(conn: sqlite3.Connection, owner: str, turn_id: str) -> base.StoredTurn:
    with transaction(conn, "DEFERRED"):
        row = conn.execute(_SELECT_TURN_BY_ID, (owner, turn_id)).fetchone()
        if row is None:
            raise TurnNotFoundError(f"No stored turn has the id {turn_id!r}.")
        messages = _turn_messages(conn, owner, row)
        previous = conn.execute(_SELECT_PREVIOUS_TURN, (owner, row[1], row[9])).fetchone()
        (head,) = conn.execute(_SELECT_HEAD, (owner, row[1])).fetchone()
    return columns.row_to_stored_turn(row, messages, previous[0] if previous else "", head)


def _delete_turn(conn: sqlite3.Connection, owner: str, turn_id: str) -> None:
    # Messages and turns of a thread left empty go with it: ON DELETE CASCADE.
    with transaction(conn):
        row = conn.execute(_SELECT_TURN_BY_ID, (owner, turn_id)).fetchone()
        if row is None:
            raise TurnNotFoundError(f"No stored turn has the id {turn_id!r}.")
        thread_id, first_seq = row[1], row[9]
        (head,) = conn.execute(_SELECT_HEAD, (owner, thread_id)).fetchone()
        base.check_latest(first_seq + row[10], head)
        if first_seq == 0:
            conn.execute(_DELETE_THREAD, (owner, thread_id))
            return
        conn.execute(_DELETE_MESSAGES_FROM, (owner, thread_id, first_seq))
        conn.execute(_DELETE_TURN, (owner, turn_id))
        conn.execute(_REWIND_THREAD, (time.time(), first_seq, owner, thread_id))


def _write_turn(
    conn: sqlite3.Connection, owner: str, base_seq: int, record: base.TurnRecord
) -> None:
    """Advance the thread's head from base_seq and insert the turn; ThreadChangedError if moved."""
    now = time.time()
    head = base_seq + len(record.messages)
    cursor = None
    if base_seq == 0:
        cursor = conn.execute(
            _CREATE_THREAD,
            (
                owner,
                record.thread_id,
                now,
                now,
                head,
                *columns.thread_params(record),
                record.created,
            ),
        )
    if cursor is None or cursor.rowcount != 1:  # or a thread created empty (create_thread)
        cursor = conn.execute(_ADVANCE_THREAD, (now, head, owner, record.thread_id, base_seq))
    if cursor.rowcount != 1:
        raise ThreadChangedError("the thread gained another turn; reload it and retry")
    conn.execute(_INSERT_TURN, columns.turn_to_params(owner, base_seq, record))
    conn.executemany(_INSERT_MESSAGE, columns.turn_message_params(owner, base_seq, record))


def _commit_turn(
    conn: sqlite3.Connection, owner: str, base_seq: int, record: base.TurnRecord
) -> base.TurnRecord:
    key = record.idempotency_key
    try:
        with transaction(conn):
            replay = base.resolve_replay(_find_turn(conn, owner, key), record) if key else None
            if replay is not None:
                return replay
            _write_turn(conn, owner, base_seq, record)
    except sqlite3.IntegrityError:
        # Another writer won a race the checks above did not see (another process, or a
        # duplicate turn_id); re-read the key so a same-body retry still gets its turn back.
        replay = base.resolve_replay(_find_turn(conn, owner, key), record) if key else None
        if replay is not None:
            return replay
        raise ThreadChangedError("the thread gained another turn; reload it and retry") from None
    return record


def _load_history(
    conn: sqlite3.Connection, owner: str, thread_id: str
) -> tuple[tuple[Message, ...], int]:
    return columns.rows_to_history(conn.execute(_SELECT_HISTORY, (owner, thread_id)).fetchall())


def _get_thread(conn: sqlite3.Connection, owner: str, thread_id: str) -> base.Thread:
    with transaction(conn, "DEFERRED"):
        row = conn.execute(_SELECT_THREAD, (owner, thread_id)).fetchone()
        if row is None:
            raise ThreadNotFoundError("thread not found")
        rows = conn.execute(_SELECT_MESSAGES, (owner, thread_id)).fetchall()
        turns = conn.execute(_SELECT_TURN_CALLERS, (owner, thread_id)).fetchall()
    summary = columns.row_to_listed(row)
    return base.Thread(
        thread_id=summary.thread_id,
        user=summary.user,
        metadata=summary.metadata,
        created=summary.created,
        updated=summary.updated,
        messages=columns.with_turn_callers([columns.row_to_stored_message(r) for r in rows], turns),
    )


def _list_threads(
    conn: sqlite3.Connection, owner: str, page_size: int, token: str
) -> base.ThreadPage:
    if token:
        updated, thread_id = columns.decode_page_token(token)
        params: tuple[object, ...] = (owner, updated, thread_id, page_size + 1)
        rows = conn.execute(_LIST_AFTER, params).fetchall()
    else:
        rows = conn.execute(_LIST_FIRST, (owner, page_size + 1)).fetchall()
    threads = tuple(columns.row_to_summary(r) for r in rows[:page_size])
    more = len(rows) > page_size
    return base.ThreadPage(
        threads=threads, next_page_token=columns.encode_page_token(threads[-1]) if more else ""
    )


def _delete_thread(conn: sqlite3.Connection, owner: str, thread_id: str) -> None:
    # Messages and turns go with the thread: ON DELETE CASCADE (foreign_keys=ON per connection).
    with transaction(conn):
        if conn.execute(_DELETE_THREAD, (owner, thread_id)).rowcount != 1:
            raise ThreadNotFoundError("thread not found")


class SqliteStore(
    ThreadTables,
    SqliteLifecycle,
    SqliteKeys,
    SqliteBackgroundLog,
    SqliteThreadEdits,
    SqliteBackedStore,
):
    """MemoryStore on one SQLite file; see the module docstring for the concurrency model.

    Open with `await SqliteStore.open(url)` (or core.memory.open_store); the options
    (`busy_timeout_ms`, `pool_size`) are core.storage.sqlite_pool.SqliteBackedStore's.
    `sqlite:///:memory:` gives a private in-memory database on a single connection.
    """

    kind: ClassVar[str] = "sqlite"

    thread_name_prefix: ClassVar[str] = "sqlite-store"

    async def load_history(self, owner: str, thread_id: str) -> tuple[tuple[Message, ...], int]:
        base.require_owner(owner)
        return await self._pool.run(_load_history, owner, thread_id)

    async def commit_turn(
        self, owner: str, base_seq: int, record: base.TurnRecord
    ) -> base.TurnRecord:
        base.check_commit(owner, base_seq, record)
        return await self._pool.run(_commit_turn, owner, base_seq, record)

    async def find_turn(self, owner: str, idempotency_key: str) -> base.TurnRecord | None:
        base.require_owner(owner)
        if not idempotency_key:
            return None
        return await self._pool.run(_find_turn, owner, idempotency_key)

    def hold_thread(
        self, owner: str, thread_id: str, wait: float
    ) -> AbstractAsyncContextManager[None]:
        """Nothing to hold: one process owns the file, and ThreadMemory serialises its turns."""
        base.require_owner(owner)
        return nullcontext()

    async def get_thread(self, owner: str, thread_id: str) -> base.Thread:
        base.require_owner(owner)
        return await self._pool.run(_get_thread, owner, thread_id)

    async def get_turn(self, owner: str, turn_id: str) -> base.StoredTurn:
        base.require_owner(owner)
        return await self._pool.run(_get_turn, owner, turn_id)

    async def delete_turn(self, owner: str, turn_id: str) -> None:
        base.require_owner(owner)
        await self._pool.run(_delete_turn, owner, turn_id)

    async def list_threads(
        self, owner: str, *, page_size: int, page_token: str = ""
    ) -> base.ThreadPage:
        base.require_owner(owner)
        base.check_page_size(page_size)
        return await self._pool.run(_list_threads, owner, page_size, page_token)

    async def delete_thread(self, owner: str, thread_id: str) -> None:
        base.require_owner(owner)
        await self._pool.run(_delete_thread, owner, thread_id)
