"""PostgresStore: thread memory in PostgreSQL through an asyncpg connection pool.

Several core replicas may share one database. Commits run at READ COMMITTED and rely on the
database for mutual exclusion: the thread row is advanced with a conditional UPDATE (or created
with INSERT … ON CONFLICT DO NOTHING), which blocks on a concurrent writer of the same thread
and then sees its result; unique indexes catch the rest. Every value travels as a parameter.

Turns on one thread from different replicas queue on a session-level advisory lock keyed by a
64-bit hash of (owner, thread_id) (`hold_thread`), taken on a connection of a pool of its own
(one connection per turn in flight, held for the whole turn, so waiting turns never starve the
commits that would free them). PostgreSQL grants a lock to its waiters in the order they asked;
`lock_timeout` bounds the wait. A replica that dies loses its session, and with it the lock.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, ClassVar, Self, Unpack

import asyncpg

from core.errors import (
    ThreadBusyError,
    ThreadChangedError,
    ThreadNotFoundError,
    TurnNotFoundError,
)
from core.keys.stores import PostgresKeys
from core.memory import base, rows as columns
from core.memory.background_postgres import PostgresBackgroundLog
from core.memory.edits_postgres import PostgresThreadEdits
from core.memory.postgres_lifecycle import PostgresLifecycle, thread_lock_key
from core.memory.rows import ThreadTables
from core.storage.postgres_pool import (
    CONNECT_TIMEOUT,
    PoolOptions,
    PostgresBackedStore,
    PostgresPool,
)
from core.types import Message

_SELECT_MESSAGES = (
    "SELECT seq, turn_id, role, content, name, tool_calls, tool_call_id, created, reasoning, parts"
    " FROM messages WHERE owner = $1 AND thread_id = $2 AND hidden = 0 ORDER BY seq"
)
# Every message, hidden ones too (flagged last): their seqs count toward the head.
_SELECT_HISTORY = (
    "SELECT seq, turn_id, role, content, name, tool_calls, tool_call_id, created, reasoning, parts,"
    " hidden FROM messages WHERE owner = $1 AND thread_id = $2 ORDER BY seq"
)
_SELECT_TURN_MESSAGES = (
    "SELECT seq, turn_id, role, content, name, tool_calls, tool_call_id, created, reasoning, parts"
    " FROM messages WHERE owner = $1 AND thread_id = $2 AND seq >= $3 AND seq < $4 ORDER BY seq"
)
_TURN_COLUMNS = (
    "SELECT turn_id, thread_id, model, finish_reason, prompt_tokens, completion_tokens,"
    " idempotency_key, request_hash, created, first_seq, message_count, end_user, metadata,"
    " instructions, request_id FROM turns"
)
# FOR SHARE: a concurrent delete_thread cannot remove the turn's messages between the reads.
_SELECT_TURN = (
    _TURN_COLUMNS + " WHERE owner = $1 AND idempotency_key = $2 AND idempotency_key <> '' FOR SHARE"
)
_SELECT_TURN_BY_ID = _TURN_COLUMNS + " WHERE owner = $1 AND turn_id = $2"
_SELECT_PREVIOUS_TURN = (
    "SELECT turn_id FROM turns WHERE owner = $1 AND thread_id = $2"
    " AND first_seq + message_count = $3"
)
_SELECT_HEAD = "SELECT message_count FROM threads WHERE owner = $1 AND thread_id = $2"
# FOR UPDATE: the thread row is the commit's lock too, so no turn lands while one is deleted.
_LOCK_HEAD = _SELECT_HEAD + " FOR UPDATE"
_DELETE_MESSAGES_FROM = "DELETE FROM messages WHERE owner = $1 AND thread_id = $2 AND seq >= $3"
_DELETE_TURN = "DELETE FROM turns WHERE owner = $1 AND turn_id = $2"
_REWIND_THREAD = (
    "UPDATE threads SET updated = $1, message_count = $2, turn_count = turn_count - 1"
    " WHERE owner = $3 AND thread_id = $4"
)
_SELECT_THREAD = (
    "SELECT thread_id, created, updated, message_count, end_user, metadata FROM threads"
    " WHERE owner = $1 AND thread_id = $2"
)
_LIST_FIRST = (
    "SELECT thread_id, created, updated, message_count FROM threads WHERE owner = $1"
    " ORDER BY updated DESC, thread_id DESC LIMIT $2"
)
_LIST_AFTER = (
    "SELECT thread_id, created, updated, message_count FROM threads"
    " WHERE owner = $1 AND (updated, thread_id) < ($2, $3)"
    " ORDER BY updated DESC, thread_id DESC LIMIT $4"
)
_CREATE_THREAD = (
    "INSERT INTO threads (owner, thread_id, created, updated, message_count, end_user, metadata,"
    " ttl_seconds, keep_latest, turn_count, oldest_turn)"
    " VALUES ($1, $2, $3, $3, $4, $5, $6, $7, $8, 1, $9)"
    " ON CONFLICT (owner, thread_id) DO NOTHING RETURNING 1"
)
_ADVANCE_THREAD = (
    "UPDATE threads SET updated = $1, message_count = $2, turn_count = turn_count + 1"
    " WHERE owner = $3 AND thread_id = $4 AND message_count = $5 RETURNING 1"
)
_INSERT_TURN = (
    "INSERT INTO turns (owner, turn_id, thread_id, model, finish_reason, prompt_tokens,"
    " completion_tokens, idempotency_key, request_hash, created, first_seq, message_count,"
    " end_user, metadata, instructions, request_id)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
)
_INSERT_MESSAGE = (
    "INSERT INTO messages (owner, thread_id, seq, turn_id, role, content, name, tool_calls,"
    " tool_call_id, created, reasoning, parts)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
)
_DELETE_THREAD = "DELETE FROM threads WHERE owner = $1 AND thread_id = $2 RETURNING 1"
_LOCK_TIMEOUT = "SELECT set_config('lock_timeout', $1, false)"
_LOCK_THREAD = "SELECT pg_advisory_lock($1)"
_TRY_LOCK_THREAD = "SELECT pg_try_advisory_lock($1)"
_SELECT_TURN_CALLERS = (
    "SELECT turn_id, end_user, metadata FROM turns WHERE owner = $1 AND thread_id = $2"
    " AND (end_user <> '' OR metadata <> '{}')"
)


async def _find_turn(conn: Any, owner: str, key: str) -> base.TurnRecord | None:
    row = await conn.fetchrow(_SELECT_TURN, owner, key)
    if row is None:
        return None
    return columns.row_to_turn(row, await _turn_messages(conn, owner, row))


async def _turn_messages(conn: Any, owner: str, row: Any) -> list[Any]:
    first_seq, count = row["first_seq"], row["message_count"]
    return list(
        await conn.fetch(
            _SELECT_TURN_MESSAGES, owner, row["thread_id"], first_seq, first_seq + count
        )
    )


async def _delete_turn(conn: Any, owner: str, turn_id: str) -> None:
    row = await conn.fetchrow(_SELECT_TURN_BY_ID, owner, turn_id)
    if row is None:
        raise TurnNotFoundError(f"No stored turn has the id {turn_id!r}.")
    thread_id, first_seq = row["thread_id"], row["first_seq"]
    head = await conn.fetchval(_LOCK_HEAD, owner, thread_id)
    base.check_latest(first_seq + row["message_count"], head)
    if first_seq == 0:  # its messages and turns go with it: ON DELETE CASCADE
        await conn.execute(_DELETE_THREAD, owner, thread_id)
        return
    await conn.execute(_DELETE_MESSAGES_FROM, owner, thread_id, first_seq)
    await conn.execute(_DELETE_TURN, owner, turn_id)
    await conn.execute(_REWIND_THREAD, time.time(), first_seq, owner, thread_id)


async def _lock_thread(conn: Any, key: int, thread_id: str, wait: float) -> None:
    """Take the thread's advisory lock on `conn` within `wait` seconds, or raise ThreadBusyError."""
    milliseconds = int(wait * 1000)
    if milliseconds <= 0:
        won = await conn.fetchval(_TRY_LOCK_THREAD, key)
    else:
        # The setting lasts for the session; the pool's reset on release clears it (RESET ALL),
        # and the lock with it (pg_advisory_unlock_all).
        await conn.execute(_LOCK_TIMEOUT, f"{milliseconds}ms")
        try:
            await conn.execute(_LOCK_THREAD, key, timeout=wait + 5.0)
            won = True
        except asyncpg.LockNotAvailableError:
            won = False
    if not won:
        raise ThreadBusyError(
            f"Another turn on thread {thread_id!r} is still running.", thread_id=thread_id
        )


async def _write_turn(conn: Any, owner: str, base_seq: int, record: base.TurnRecord) -> None:
    """Advance the thread's head from base_seq and insert the turn; ThreadChangedError if moved."""
    now = time.time()
    head = base_seq + len(record.messages)
    won = None
    if base_seq == 0:
        won = await conn.fetchval(
            _CREATE_THREAD,
            owner,
            record.thread_id,
            now,
            head,
            *columns.thread_params(record),
            record.created,
        )
    if won is None:  # or a thread created empty (create_thread)
        won = await conn.fetchval(_ADVANCE_THREAD, now, head, owner, record.thread_id, base_seq)
    if won is None:
        raise ThreadChangedError("the thread gained another turn; reload it and retry")
    await conn.execute(_INSERT_TURN, *columns.turn_to_params(owner, base_seq, record))
    await conn.executemany(_INSERT_MESSAGE, columns.turn_message_params(owner, base_seq, record))


class PostgresStore(
    ThreadTables,
    PostgresLifecycle,
    PostgresKeys,
    PostgresBackgroundLog,
    PostgresThreadEdits,
    PostgresBackedStore,
):
    """MemoryStore on PostgreSQL; see the module docstring for the concurrency model.

    Open with `await PostgresStore.open(url)` (or core.memory.open_store); the options
    (`min_size`, `max_size`, `connect_timeout`, `command_timeout`) are
    core.storage.postgres_pool.PostgresBackedStore's.
    """

    kind: ClassVar[str] = "postgres"

    _locks: PostgresPool
    _connect_timeout: float

    @classmethod
    async def open(
        cls, url: str, *, lock_connections: int = 64, **options: Unpack[PoolOptions]
    ) -> Self:
        """Connect, migrate, and open the pool of thread-lock connections (`lock_connections`
        at most: one per turn on a thread in flight; none are kept open while idle)."""
        store = await super().open(url, **options)
        connect_timeout = options.get("connect_timeout", CONNECT_TIMEOUT)
        try:
            store._locks = await PostgresPool.open(
                url,
                name="thread locks",
                unavailable=cls.unavailable,
                min_size=0,
                max_size=lock_connections,
                connect_timeout=connect_timeout,
                command_timeout=None,  # a lock wait is bounded by its own lock_timeout
            )
        except BaseException:
            await PostgresBackedStore.aclose(store)
            raise
        store._connect_timeout = connect_timeout
        return store

    @asynccontextmanager
    async def hold_thread(self, owner: str, thread_id: str, wait: float) -> AsyncIterator[None]:
        base.require_owner(owner)
        deadline = time.monotonic() + wait
        with self._locks.errors():
            # Opening a lock connection may take up to the connect timeout beyond the wait.
            conn = await self._locks.acquire(timeout=wait + self._connect_timeout)
        try:
            with self._locks.errors():  # not around the yield: the turn's errors are its own
                remaining = deadline - time.monotonic()
                await _lock_thread(conn, thread_lock_key(owner, thread_id), thread_id, remaining)
            yield
        finally:
            await self._locks.release(conn)  # its reset unlocks (pg_advisory_unlock_all)

    async def aclose(self) -> None:
        try:
            await self._locks.aclose()
        finally:
            await super().aclose()

    async def load_history(self, owner: str, thread_id: str) -> tuple[tuple[Message, ...], int]:
        base.require_owner(owner)
        with self._pool.errors():
            rows = await self._pool.fetch(_SELECT_HISTORY, owner, thread_id)
        return columns.rows_to_history(rows)

    async def commit_turn(
        self, owner: str, base_seq: int, record: base.TurnRecord
    ) -> base.TurnRecord:
        base.check_commit(owner, base_seq, record)
        key = record.idempotency_key
        with self._pool.errors():
            try:
                async with self._pool.acquire() as conn, conn.transaction():
                    replay = (
                        base.resolve_replay(await _find_turn(conn, owner, key), record)
                        if key
                        else None
                    )
                    if replay is not None:
                        return replay
                    await _write_turn(conn, owner, base_seq, record)
            except (ThreadChangedError, asyncpg.UniqueViolationError):
                # A concurrent writer committed first. If it stored this key (a retry racing
                # itself), the read above predates it: look again with a fresh snapshot.
                replay = (
                    base.resolve_replay(await self.find_turn(owner, key), record) if key else None
                )
                if replay is not None:
                    return replay
                raise ThreadChangedError(
                    "the thread gained another turn; reload it and retry"
                ) from None
        return record

    async def find_turn(self, owner: str, idempotency_key: str) -> base.TurnRecord | None:
        base.require_owner(owner)
        if not idempotency_key:
            return None
        with self._pool.errors():
            async with self._pool.acquire() as conn, conn.transaction():
                return await _find_turn(conn, owner, idempotency_key)

    async def get_turn(self, owner: str, turn_id: str) -> base.StoredTurn:
        base.require_owner(owner)
        async with self._pool.snapshot() as conn:
            row = await conn.fetchrow(_SELECT_TURN_BY_ID, owner, turn_id)
            if row is None:
                raise TurnNotFoundError(f"No stored turn has the id {turn_id!r}.")
            thread_id = row["thread_id"]
            messages = await _turn_messages(conn, owner, row)
            previous = await conn.fetchval(
                _SELECT_PREVIOUS_TURN, owner, thread_id, row["first_seq"]
            )
            head = await conn.fetchval(_SELECT_HEAD, owner, thread_id)
        return columns.row_to_stored_turn(row, messages, previous or "", head)

    async def delete_turn(self, owner: str, turn_id: str) -> None:
        base.require_owner(owner)
        with self._pool.errors():
            async with self._pool.acquire() as conn, conn.transaction():
                await _delete_turn(conn, owner, turn_id)

    async def get_thread(self, owner: str, thread_id: str) -> base.Thread:
        base.require_owner(owner)
        async with self._pool.snapshot() as conn:
            row = await conn.fetchrow(_SELECT_THREAD, owner, thread_id)
            rows = await conn.fetch(_SELECT_MESSAGES, owner, thread_id) if row else []
            turns = await conn.fetch(_SELECT_TURN_CALLERS, owner, thread_id) if row else []
        if row is None:
            raise ThreadNotFoundError("thread not found")
        summary = columns.row_to_listed(row)
        return base.Thread(
            thread_id=summary.thread_id,
            user=summary.user,
            metadata=summary.metadata,
            created=summary.created,
            updated=summary.updated,
            messages=columns.with_turn_callers(
                [columns.row_to_stored_message(r) for r in rows], turns
            ),
        )

    async def list_threads(
        self, owner: str, *, page_size: int, page_token: str = ""
    ) -> base.ThreadPage:
        base.require_owner(owner)
        base.check_page_size(page_size)
        with self._pool.errors():
            if page_token:
                updated, thread_id = columns.decode_page_token(page_token)
                rows = await self._pool.fetch(_LIST_AFTER, owner, updated, thread_id, page_size + 1)
            else:
                rows = await self._pool.fetch(_LIST_FIRST, owner, page_size + 1)
        threads = tuple(columns.row_to_summary(r) for r in rows[:page_size])
        token = columns.encode_page_token(threads[-1]) if len(rows) > page_size else ""
        return base.ThreadPage(threads=threads, next_page_token=token)

    async def delete_thread(self, owner: str, thread_id: str) -> None:
        base.require_owner(owner)
        # Messages and turns go with the thread: their foreign keys are ON DELETE CASCADE.
        with self._pool.errors():
            deleted = await self._pool.fetchval(_DELETE_THREAD, owner, thread_id)
        if deleted is None:
            raise ThreadNotFoundError("thread not found")
