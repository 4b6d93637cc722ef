"""PostgreSQL's half of core.memory.lifecycle: retention sweeps, search, export and erasure.

A sweep batch is one READ COMMITTED transaction. Its threads are chosen with `FOR UPDATE SKIP
LOCKED`, so replicas sweeping together each take different threads (nobody waits, nothing is
deleted or counted twice), and a thread whose turn is committing (its row locked) is skipped
until the next sweep. A thread with a turn in flight on any replica is skipped too: the turn
holds the thread's advisory lock (PostgresStore.hold_thread), which the sweep only tries
(`pg_try_advisory_xact_lock`). A turn that starts on a thread the sweep holds waits for that
one batch at most.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

from core.errors import ThreadNotFoundError
from core.memory import base, export, lifecycle, retention_sql as q, rows as columns
from core.memory.owned import OWNER_TABLES, THREAD_TABLES, THREADS_KIND, delete_owner_rows
from core.storage.placeholders import numbered
from core.storage.postgres_pool import PostgresPool

EXPORT_PAGE = 50  # threads read per export page; each is then read and sent alone

_N = numbered
_TRY_LOCKS = "SELECT k FROM unnest($1::bigint[]) AS k WHERE pg_try_advisory_xact_lock(k)"


def thread_lock_key(owner: str, thread_id: str) -> int:
    """The advisory lock key of a thread: a signed 64-bit hash of (owner, thread_id). Two
    threads sharing a key (about 1 in 2**64) only wait for each other's turns."""
    digest = hashlib.blake2b(f"{owner}\x00{thread_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _rows(status: str) -> int:
    """The row count of a command status ("DELETE 12" → 12)."""
    return int(status.rpartition(" ")[2] or 0)


def _count(counts: dict[str, int], kind: str, n: int) -> None:
    counts[kind] = counts.get(kind, 0) + n


async def delete_threads(conn: Any, keys: list[tuple[str, str]], counts: dict[str, int]) -> None:
    """Delete the threads with their rows in every owned table, adding to `counts`."""
    if not keys:
        return
    owners, threads = [k[0] for k in keys], [k[1] for k in keys]
    for table in THREAD_TABLES:
        status = await conn.execute(q.delete_rows_of_many(table), owners, threads)
        _count(counts, table.kind, _rows(status))
    _count(
        counts, THREADS_KIND, _rows(await conn.execute(q.DELETE_THREADS_OF_MANY, owners, threads))
    )


async def _unheld(conn: Any, rows: list[Any]) -> list[Any]:
    """The rows whose thread no turn holds now; their advisory locks are this batch's."""
    if not rows:
        return []
    keys = {thread_lock_key(r[0], r[1]): r for r in rows}
    won = await conn.fetch(_TRY_LOCKS, list(keys))
    return [keys[r[0]] for r in won]


async def _drop_turns(
    conn: Any, owner: str, thread_id: str, drop: int, counts: dict[str, int]
) -> None:
    """Drop the thread's `drop` oldest turns and renumber the rest from seq 0."""
    cut, _ = await conn.fetchrow(_N(q.TURN_AT), owner, thread_id, drop - 1)
    _, oldest = await conn.fetchrow(_N(q.TURN_AT), owner, thread_id, drop)
    _count(
        counts, "messages", _rows(await conn.execute(_N(q.DROP_MESSAGES), owner, thread_id, cut))
    )
    _count(counts, "turns", _rows(await conn.execute(_N(q.DROP_TURNS), owner, thread_id, cut)))
    await conn.execute(_N(q.SHIFT_MESSAGES_OUT), cut, owner, thread_id)
    await conn.execute(_N(q.SHIFT_MESSAGES_BACK), owner, thread_id)
    await conn.execute(_N(q.SHIFT_TURNS), cut, owner, thread_id)
    await conn.execute(_N(q.SHRINK_THREAD), cut, drop, oldest, owner, thread_id)


async def _compact(
    conn: Any,
    policy: lifecycle.RetentionPolicy,
    now: float,
    rows: list[Any],
    counts: dict[str, int],
) -> tuple[int, int]:
    """Compact (or delete, when nothing would be left) each candidate; (deleted, compacted)."""
    gone: list[tuple[str, str]] = []
    compacted = 0
    for owner, thread_id, turn_count, keep, by_age in rows:
        drop = turn_count - keep if keep > 0 else 0
        if by_age and policy.response_ttl > 0:
            cutoff = now - policy.response_ttl
            old = await conn.fetchval(_N(q.COUNT_TURNS_BEFORE), owner, thread_id, cutoff)
            drop = max(drop, old)
        if drop >= turn_count:
            gone.append((owner, thread_id))
        elif drop > 0:
            await _drop_turns(conn, owner, thread_id, drop, counts)
            compacted += 1
    await delete_threads(conn, gone, counts)
    return len(gone), compacted


async def _sweep(
    conn: Any, policy: lifecycle.RetentionPolicy, now: float, limit: int
) -> lifecycle.SweepResult:
    counts: dict[str, int] = {}
    sql, params = q.expired(policy, now, limit, postgres=True)
    found = await conn.fetch(_N(sql), *params)
    expired = [(r[0], r[1]) for r in await _unheld(conn, list(found))]
    await delete_threads(conn, expired, counts)
    sql, params = q.compactable(policy, now, limit, postgres=True)
    candidates = await conn.fetch(_N(sql), *params)
    gone, compacted = await _compact(
        conn, policy, now, await _unheld(conn, list(candidates)), counts
    )
    return lifecycle.SweepResult(
        deleted=counts,
        threads_deleted=len(expired) + gone,
        threads_compacted=compacted,
        more=len(found) == limit or len(candidates) == limit,
    )


async def _erase(
    conn: Any, owner: str, user: str, actor: str, counts: dict[str, int]
) -> lifecycle.Erasure:
    erasure_id, now = f"erasure_{uuid.uuid4().hex}", time.time()
    if user:
        found = await conn.fetch(_N(q.THREADS_OF_USER), owner, user, owner, user)
    else:
        found = await conn.fetch(_N(q.THREADS_OF_OWNER), owner)
    await delete_threads(conn, [(owner, r[0]) for r in found], counts)
    for table in OWNER_TABLES if not user else ():
        counts[table] = _rows(await conn.execute(_N(delete_owner_rows(table)), owner))
    for kind in (*(t.kind for t in THREAD_TABLES), THREADS_KIND):
        counts.setdefault(kind, 0)
    audit = (erasure_id, owner, lifecycle.user_hash(user), actor, now)
    await conn.execute(_N(q.INSERT_ERASURE), *audit, json.dumps(counts, sort_keys=True))
    return lifecycle.Erasure(erasure_id=erasure_id, created=now, deleted=counts)


class PostgresLifecycle:
    """core.memory.base.ThreadLifecycle on PostgresStore's pool (a mixin of the store)."""

    _pool: PostgresPool  # the store's, set by PostgresBackedStore

    async def update_thread(
        self, owner: str, thread_id: str, metadata: tuple[tuple[str, str], ...]
    ) -> base.ThreadSummary:
        base.require_owner(owner)
        options = lifecycle.thread_options(metadata)
        params = (columns.metadata_to_json(metadata), options.ttl_seconds, options.keep_latest)
        with self._pool.errors():
            async with self._pool.acquire() as conn, conn.transaction():
                updated = await conn.execute(_N(q.UPDATE_METADATA), *params, owner, thread_id)
                row = await conn.fetchrow(_N(q.SELECT_SUMMARY), owner, thread_id)
        if _rows(updated) != 1 or row is None:
            raise ThreadNotFoundError("thread not found")
        return columns.row_to_listed(row)

    async def search_threads(
        self, owner: str, where: lifecycle.ThreadFilter, *, page_size: int, page_token: str = ""
    ) -> base.SearchPage:
        base.require_owner(owner)
        base.check_page_size(page_size)
        lifecycle.check_filter(where)
        after = columns.decode_page_token(page_token) if page_token else None
        page_sql, page_params = q.search_page(owner, where, after, page_size + 1, postgres=True)
        count_sql, count_params = q.search_count(owner, where, postgres=True)
        with self._pool.errors():
            async with (
                self._pool.acquire() as conn,
                conn.transaction(isolation="repeatable_read", readonly=True),
            ):
                rows = await conn.fetch(_N(page_sql), *page_params)
                total = await conn.fetchval(_N(count_sql), *count_params)
        threads = tuple(columns.row_to_listed(r) for r in rows[:page_size])
        token = columns.encode_page_token(threads[-1]) if len(rows) > page_size else ""
        return base.SearchPage(threads=threads, next_page_token=token, total_count=total)

    async def sweep(
        self, policy: lifecycle.RetentionPolicy, *, now: float, limit: int
    ) -> lifecycle.SweepResult:
        with self._pool.errors():
            async with self._pool.acquire() as conn, conn.transaction():
                return await _sweep(conn, policy, now, limit)

    async def export_lines(self, owner: str, thread_id: str = "") -> AsyncIterator[bytes]:
        base.require_owner(owner)
        if thread_id:
            with self._pool.errors():
                row = await self._pool.fetchrow(_N(q.EXPORT_ONE_THREAD), owner, thread_id)
            if row is None:
                raise ThreadNotFoundError("thread not found")
            yield await self._export_thread(owner, row)
            return
        after = ""
        while True:
            with self._pool.errors():
                page = await self._pool.fetch(_N(q.EXPORT_THREADS), owner, after, EXPORT_PAGE)
            if not page:
                return
            for thread in page:
                yield await self._export_thread(owner, thread)
            after = page[-1][0]

    async def _export_thread(self, owner: str, thread: Any) -> bytes:
        with self._pool.errors():
            async with (
                self._pool.acquire() as conn,
                conn.transaction(isolation="repeatable_read", readonly=True),
            ):
                turns = await conn.fetch(_N(q.EXPORT_TURNS), owner, thread[0])
                messages = await conn.fetch(_N(q.EXPORT_MESSAGES), owner, thread[0])
        return export.thread_chunk(thread, turns, messages)

    async def erase(
        self, owner: str, *, user: str = "", actor: str, also: Mapping[str, int] | None = None
    ) -> lifecycle.Erasure:
        base.require_owner(owner)
        with self._pool.errors():
            async with self._pool.acquire() as conn, conn.transaction():
                return await _erase(conn, owner, user, actor, dict(also or {}))
