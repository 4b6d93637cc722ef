"""SqliteThreadEdits: a thread's own edits on the SQLite thread store (core.memory.sqlite):
each in one worker thread and one write transaction, as the store's turns are."""

from __future__ import annotations

import sqlite3
import time

from core.errors import NotFoundError, ThreadExistsError, ThreadNotFoundError
from core.memory import base, edits_rows as sql, rows as columns
from core.storage.schema import transaction
from core.storage.sqlite_pool import SqlitePool
from core.types import Message

Metadata = tuple[tuple[str, str], ...]


def _create(
    conn: sqlite3.Connection,
    owner: str,
    thread_id: str,
    messages: tuple[Message, ...],
    metadata: Metadata,
) -> base.Thread:
    now = time.time()
    params = (owner, thread_id, now, now, len(messages), columns.metadata_to_json(metadata))
    with transaction(conn):
        if not conn.execute(sql.INSERT_THREAD, params).fetchall():
            raise ThreadExistsError(f"A thread with the id {thread_id!r} already exists.")
        conn.executemany(
            sql.INSERT_MESSAGE, columns.new_message_params(owner, thread_id, 0, messages, now)
        )
    return sql.new_thread(thread_id, messages, metadata, now)


def _append(
    conn: sqlite3.Connection, owner: str, thread_id: str, messages: tuple[Message, ...]
) -> tuple[base.StoredMessage, ...]:
    now = time.time()
    with transaction(conn):
        row = conn.execute(sql.GROW, (len(messages), now, owner, thread_id)).fetchone()
        if row is None:
            raise ThreadNotFoundError("thread not found")
        first = row[0] - len(messages)
        conn.executemany(
            sql.INSERT_MESSAGE, columns.new_message_params(owner, thread_id, first, messages, now)
        )
    return sql.stored(messages, first, now)


def _hide(conn: sqlite3.Connection, owner: str, thread_id: str, seq: int) -> None:
    with transaction(conn):
        if conn.execute(sql.HIDE, (owner, thread_id, seq)).fetchall():
            return
        if conn.execute(sql.THREAD_EXISTS, (owner, thread_id)).fetchone() is None:
            raise ThreadNotFoundError("thread not found")
    raise NotFoundError(f"The thread has no message at seq {seq}.")


class SqliteThreadEdits:
    """The MemoryStore's thread edits on the store's SqlitePool (`_pool`)."""

    _pool: SqlitePool

    async def create_thread(
        self, owner: str, thread_id: str, messages: tuple[Message, ...], metadata: Metadata
    ) -> base.Thread:
        base.require_owner(owner)
        sql.check_messages(messages)
        return await self._pool.run(_create, owner, thread_id, messages, metadata)

    async def append_messages(
        self, owner: str, thread_id: str, messages: tuple[Message, ...]
    ) -> tuple[base.StoredMessage, ...]:
        base.require_owner(owner)
        sql.check_messages(messages)
        return await self._pool.run(_append, owner, thread_id, messages)

    async def hide_message(self, owner: str, thread_id: str, seq: int) -> None:
        base.require_owner(owner)
        await self._pool.run(_hide, owner, thread_id, seq)
