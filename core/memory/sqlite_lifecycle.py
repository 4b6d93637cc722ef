"""SQLite's half of core.memory.lifecycle: retention sweeps, search, export and erasure.

Each operation runs whole in one worker thread (core.storage.sqlite_pool); writes take the
write lock up front (BEGIN IMMEDIATE), so two sweepers on one file (two processes) take turns
batch by batch and never see the same thread twice. A batch holds the lock for its whole
work: at most `limit` threads deleted and `limit` compacted, then the lock is free again.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

from core.errors import ThreadNotFoundError
from core.memory import base, export, lifecycle, retention_sql as q, rows as columns
from core.memory.owned import OWNER_TABLES, THREAD_TABLES, THREADS_KIND, delete_owner_rows
from core.storage.schema import transaction
from core.storage.sqlite_pool import SqlitePool

EXPORT_PAGE = 50  # threads read per export page; each is then read and sent alone


def _count(counts: dict[str, int], kind: str, n: int) -> None:
    counts[kind] = counts.get(kind, 0) + max(n, 0)


def delete_threads(
    conn: sqlite3.Connection, keys: list[tuple[str, str]], counts: dict[str, int]
) -> None:
    """Delete the threads with their rows in every owned table, adding to `counts`."""
    if not keys:
        return
    for table in THREAD_TABLES:
        _count(counts, table.kind, conn.executemany(q.delete_rows(table), keys).rowcount)
    _count(counts, THREADS_KIND, conn.executemany(q.DELETE_THREAD, keys).rowcount)


def _drop_turns(
    conn: sqlite3.Connection, key: tuple[str, str], drop: int, counts: dict[str, int]
) -> None:
    """Drop the thread's `drop` oldest turns and renumber the rest from seq 0."""
    owner, thread_id = key
    (cut, _) = conn.execute(q.TURN_AT, (owner, thread_id, drop - 1)).fetchone()
    (_, oldest) = conn.execute(q.TURN_AT, (owner, thread_id, drop)).fetchone()
    _count(counts, "messages", conn.execute(q.DROP_MESSAGES, (owner, thread_id, cut)).rowcount)
    _count(counts, "turns", conn.execute(q.DROP_TURNS, (owner, thread_id, cut)).rowcount)
    conn.execute(q.SHIFT_MESSAGES_OUT, (cut, owner, thread_id))
    conn.execute(q.SHIFT_MESSAGES_BACK, (owner, thread_id))
    conn.execute(q.SHIFT_TURNS, (cut, owner, thread_id))
    conn.execute(q.SHRINK_THREAD, (cut, drop, oldest, owner, thread_id))


def _sweep(
    conn: sqlite3.Connection, policy: lifecycle.RetentionPolicy, now: float, limit: int
) -> lifecycle.SweepResult:
    counts: dict[str, int] = {}
    with transaction(conn):
        sql, params = q.expired(policy, now, limit, postgres=False)
        expired = [tuple(r) for r in conn.execute(sql, params).fetchall()]
        delete_threads(conn, expired, counts)
        sql, params = q.compactable(policy, now, limit, postgres=False)
        candidates = conn.execute(sql, params).fetchall()
        gone, compacted = [], 0
        for owner, thread_id, turn_count, keep, by_age in candidates:
            drop = turn_count - keep if keep > 0 else 0
            if by_age and policy.response_ttl > 0:
                cutoff = now - policy.response_ttl
                (old,) = conn.execute(q.COUNT_TURNS_BEFORE, (owner, thread_id, cutoff)).fetchone()
                drop = max(drop, old)
            if drop >= turn_count:
                gone.append((owner, thread_id))
            elif drop > 0:
                _drop_turns(conn, (owner, thread_id), drop, counts)
                compacted += 1
        delete_threads(conn, gone, counts)
    return lifecycle.SweepResult(
        deleted=counts,
        threads_deleted=len(expired) + len(gone),
        threads_compacted=compacted,
        more=len(expired) == limit or len(candidates) == limit,
    )


def _update_thread(
    conn: sqlite3.Connection, owner: str, thread_id: str, metadata: tuple[tuple[str, str], ...]
) -> base.ThreadSummary:
    options = lifecycle.thread_options(metadata)
    params = (columns.metadata_to_json(metadata), options.ttl_seconds, options.keep_latest)
    with transaction(conn):
        if conn.execute(q.UPDATE_METADATA, (*params, owner, thread_id)).rowcount != 1:
            raise ThreadNotFoundError("thread not found")
        row = conn.execute(q.SELECT_SUMMARY, (owner, thread_id)).fetchone()
    return columns.row_to_listed(row)


def _search(
    conn: sqlite3.Connection, owner: str, where: lifecycle.ThreadFilter, size: int, token: str
) -> base.SearchPage:
    after = columns.decode_page_token(token) if token else None
    sql, params = q.search_page(owner, where, after, size + 1, postgres=False)
    with transaction(conn, "DEFERRED"):
        rows = conn.execute(sql, params).fetchall()
        sql, params = q.search_count(owner, where, postgres=False)
        (total,) = conn.execute(sql, params).fetchone()
    threads = tuple(columns.row_to_listed(r) for r in rows[:size])
    more = len(rows) > size
    return base.SearchPage(
        threads=threads,
        next_page_token=columns.encode_page_token(threads[-1]) if more else "",
        total_count=total,
    )


def _export_page(conn: sqlite3.Connection, owner: str, after: str) -> list[Any]:
    return conn.execute(q.EXPORT_THREADS, (owner, after, EXPORT_PAGE)).fetchall()


def _export_thread(conn: sqlite3.Connection, owner: str, thread: Any) -> bytes:
    with transaction(conn, "DEFERRED"):
        turns = conn.execute(q.EXPORT_TURNS, (owner, thread[0])).fetchall()
        messages = conn.execute(q.EXPORT_MESSAGES, (owner, thread[0])).fetchall()
    return export.thread_chunk(thread, turns, messages)


def _export_one(conn: sqlite3.Connection, owner: str, thread_id: str) -> bytes:
    row = conn.execute(q.EXPORT_ONE_THREAD, (owner, thread_id)).fetchone()
    if row is None:
        raise ThreadNotFoundError("thread not found")
    return _export_thread(conn, owner, row)


def _erase(
    conn: sqlite3.Connection, owner: str, user: str, actor: str, also: dict[str, int]
) -> lifecycle.Erasure:
    counts = dict(also)
    erasure_id, now = f"erasure_{uuid.uuid4().hex}", time.time()
    with transaction(conn):
        if user:
            found = conn.execute(q.THREADS_OF_USER, (owner, user, owner, user)).fetchall()
        else:
            found = conn.execute(q.THREADS_OF_OWNER, (owner,)).fetchall()
        delete_threads(conn, [(owner, thread_id) for (thread_id,) in found], counts)
        for table in OWNER_TABLES if not user else ():
            counts[table] = conn.execute(delete_owner_rows(table), (owner,)).rowcount
        for kind in (*(t.kind for t in THREAD_TABLES), THREADS_KIND):
            counts.setdefault(kind, 0)
        audit = (erasure_id, owner, lifecycle.user_hash(user), actor, now)
        conn.execute(q.INSERT_ERASURE, (*audit, json.dumps(counts, sort_keys=True)))
    return lifecycle.Erasure(erasure_id=erasure_id, created=now, deleted=counts)


class SqliteLifecycle:
    """core.memory.base.ThreadLifecycle on SqliteStore's pool (a mixin of the store)."""

    _pool: SqlitePool  # the store's, set by SqliteBackedStore

    async def update_thread(
        self, owner: str, thread_id: str, metadata: tuple[tuple[str, str], ...]
    ) -> base.ThreadSummary:
        base.require_owner(owner)
        return await self._pool.run(_update_thread, owner, thread_id, metadata)

    async def search_threads(
        self, owner: str, where: lifecycle.ThreadFilter, *, page_size: int, page_token: str = ""
    ) -> base.SearchPage:
        base.require_owner(owner)
        base.check_page_size(page_size)
        lifecycle.check_filter(where)
        return await self._pool.run(_search, owner, where, page_size, page_token)

    async def sweep(
        self, policy: lifecycle.RetentionPolicy, *, now: float, limit: int
    ) -> lifecycle.SweepResult:
        return await self._pool.run(_sweep, policy, now, limit)

    async def export_lines(self, owner: str, thread_id: str = "") -> AsyncIterator[bytes]:
        base.require_owner(owner)
        if thread_id:
            yield await self._pool.run(_export_one, owner, thread_id)
            return
        after = ""
        while page := await self._pool.run(_export_page, owner, after):
            for thread in page:
                yield await self._pool.run(_export_thread, owner, thread)
            after = page[-1][0]

    async def erase(
        self, owner: str, *, user: str = "", actor: str, also: Mapping[str, int] | None = None
    ) -> lifecycle.Erasure:
        base.require_owner(owner)
        return await self._pool.run(_erase, owner, user, actor, dict(also or {}))
