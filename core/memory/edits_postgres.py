"""PostgresThreadEdits: a thread's own edits on the PostgreSQL thread store
(core.memory.postgres). Appends from several replicas are ordered by the thread row's lock
(the UPDATE that grows the head), so each gets seqs of its own."""

from __future__ import annotations

import time

from core.errors import NotFoundError, ThreadExistsError, ThreadNotFoundError
from core.memory import base, edits_rows as sql, rows as columns
from core.memory.background_rows import numbered
from core.storage.postgres_pool import PostgresPool
from core.types import Message

Metadata = tuple[tuple[str, str], ...]

_INSERT_THREAD = numbered(sql.INSERT_THREAD)
_GROW = numbered(sql.GROW)
_INSERT_MESSAGE = numbered(sql.INSERT_MESSAGE)
_HIDE = numbered(sql.HIDE)
_THREAD_EXISTS = numbered(sql.THREAD_EXISTS)


class PostgresThreadEdits:
    """The MemoryStore's thread edits on the store's PostgresPool (`_pool`)."""

    _pool: PostgresPool

    async def create_thread(
        self, owner: str, thread_id: str, messages: tuple[Message, ...], metadata: Metadata
    ) -> base.Thread:
        base.require_owner(owner)
        sql.check_messages(messages)
        now = time.time()
        meta = columns.metadata_to_json(metadata)
        rows = columns.new_message_params(owner, thread_id, 0, messages, now)
        with self._pool.errors():
            async with self._pool.acquire() as conn, conn.transaction():
                created = await conn.fetchval(
                    _INSERT_THREAD, owner, thread_id, now, now, len(messages), meta
                )
                if created is None:
                    raise ThreadExistsError(f"A thread with the id {thread_id!r} already exists.")
                await conn.executemany(_INSERT_MESSAGE, rows)
        return sql.new_thread(thread_id, messages, metadata, now)

    async def append_messages(
        self, owner: str, thread_id: str, messages: tuple[Message, ...]
    ) -> tuple[base.StoredMessage, ...]:
        base.require_owner(owner)
        sql.check_messages(messages)
        now = time.time()
        with self._pool.errors():
            async with self._pool.acquire() as conn, conn.transaction():
                head = await conn.fetchval(_GROW, len(messages), now, owner, thread_id)
                if head is None:
                    raise ThreadNotFoundError("thread not found")
                first = head - len(messages)
                params = columns.new_message_params(owner, thread_id, first, messages, now)
                await conn.executemany(_INSERT_MESSAGE, params)
        return sql.stored(messages, first, now)

    async def hide_message(self, owner: str, thread_id: str, seq: int) -> None:
        base.require_owner(owner)
        with self._pool.errors():
            async with self._pool.acquire() as conn, conn.transaction():
                if await conn.fetchval(_HIDE, owner, thread_id, seq) is not None:
                    return
                exists = await conn.fetchval(_THREAD_EXISTS, owner, thread_id)
        if exists is None:
            raise ThreadNotFoundError("thread not found")
        raise NotFoundError(f"The thread has no message at seq {seq}.")
