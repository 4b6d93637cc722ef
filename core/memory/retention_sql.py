"""The SQL of retention, search, export and erasure, written once with `?` placeholders.

Both dialects run the same statements: SQLite as written, PostgreSQL through
core.storage.placeholders.numbered (`?` → `$1, $2, …`). Dialect differences are the few
builders that take `postgres`. Every
value travels as a parameter; the only names spliced in are core.memory.owned's checked
constants. The builders return (sql, params).
"""

from __future__ import annotations

import json
from typing import Any, Final

from core.memory.lifecycle import RetentionPolicy, ThreadFilter
from core.memory.owned import OwnedTable

Query = tuple[str, list[Any]]

SUMMARY_COLUMNS: Final = "thread_id, created, updated, message_count, end_user, metadata"

UPDATE_METADATA: Final = (
    "UPDATE threads SET metadata = ?, ttl_seconds = ?, keep_latest = ?"
    " WHERE owner = ? AND thread_id = ?"
)
SELECT_SUMMARY: Final = f"SELECT {SUMMARY_COLUMNS} FROM threads WHERE owner = ? AND thread_id = ?"  # noqa: S608

# Compaction of one thread: the turn after which its kept turns start, the oldest kept turn.
TURN_AT: Final = (
    "SELECT first_seq + message_count, created FROM turns WHERE owner = ? AND thread_id = ?"
    " ORDER BY first_seq LIMIT 1 OFFSET ?"
)
COUNT_TURNS_BEFORE: Final = (
    "SELECT count(*) FROM turns WHERE owner = ? AND thread_id = ? AND created < ?"
)
DROP_MESSAGES: Final = "DELETE FROM messages WHERE owner = ? AND thread_id = ? AND seq < ?"
DROP_TURNS: Final = "DELETE FROM turns WHERE owner = ? AND thread_id = ? AND first_seq < ?"
# Renumbering from 0 in two passes through negative seqs: a unique key is checked row by row,
# so shifting in place would collide on whichever order the database updates rows in.
SHIFT_MESSAGES_OUT: Final = (
    "UPDATE messages SET seq = -(seq - ?) - 1 WHERE owner = ? AND thread_id = ?"
)
SHIFT_MESSAGES_BACK: Final = (
    "UPDATE messages SET seq = -seq - 1 WHERE owner = ? AND thread_id = ? AND seq < 0"
)
SHIFT_TURNS: Final = "UPDATE turns SET first_seq = first_seq - ? WHERE owner = ? AND thread_id = ?"
SHRINK_THREAD: Final = (
    "UPDATE threads SET message_count = message_count - ?, turn_count = turn_count - ?,"
    " oldest_turn = ? WHERE owner = ? AND thread_id = ?"
)

# Erasure: the threads of one end user are those of which any turn was theirs.
THREADS_OF_OWNER: Final = "SELECT thread_id FROM threads WHERE owner = ?"
THREADS_OF_USER: Final = (
    "SELECT thread_id FROM threads WHERE owner = ? AND end_user = ?"
    " UNION SELECT thread_id FROM turns WHERE owner = ? AND end_user = ?"
)
INSERT_ERASURE: Final = (
    "INSERT INTO erasures (erasure_id, owner, user_hash, actor, created, counts)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)

# Export: threads in thread_id order (a stable keyset cursor), then each turn and message.
EXPORT_THREADS: Final = (
    "SELECT thread_id, created, updated, message_count, end_user, metadata, ttl_seconds,"
    " keep_latest FROM threads WHERE owner = ? AND thread_id > ? ORDER BY thread_id LIMIT ?"
)
EXPORT_ONE_THREAD: Final = (
    "SELECT thread_id, created, updated, message_count, end_user, metadata, ttl_seconds,"
    " keep_latest FROM threads WHERE owner = ? AND thread_id = ?"
)
EXPORT_TURNS: Final = (
    "SELECT turn_id, thread_id, model, finish_reason, prompt_tokens, completion_tokens,"
    " idempotency_key, request_hash, created, first_seq, message_count, end_user, metadata,"
    " instructions, request_id FROM turns WHERE owner = ? AND thread_id = ? ORDER BY first_seq"
)
EXPORT_MESSAGES: Final = (
    "SELECT seq, turn_id, role, content, name, tool_calls, tool_call_id, created, reasoning,"
    " parts FROM messages WHERE owner = ? AND thread_id = ? ORDER BY seq"
)


def expired(policy: RetentionPolicy, now: float, limit: int, *, postgres: bool) -> Query:
    """Threads idle beyond their TTL (their own, else the default), oldest first. PostgreSQL
    locks them, skipping rows another sweeper or a committing turn holds."""
    clauses = ["(ttl_seconds > 0 AND updated + ttl_seconds < ?)"]
    params: list[Any] = [now]
    if policy.thread_ttl > 0:
        clauses.append("(ttl_seconds IS NULL AND updated < ?)")
        params.append(now - policy.thread_ttl)
    sql = (
        f"SELECT owner, thread_id FROM threads WHERE {' OR '.join(clauses)}"  # noqa: S608
        " ORDER BY updated LIMIT ?"
    )
    return sql + (" FOR UPDATE SKIP LOCKED" if postgres else ""), [*params, limit]


def compactable(policy: RetentionPolicy, now: float, limit: int, *, postgres: bool) -> Query:
    """Threads with turns to drop: more than their keep_latest, or (without a TTL of their
    own) a turn older than the response TTL. Columns: owner, thread_id, turn_count, keep
    (the effective keep_latest, 0: none), and whether the response TTL applies."""
    clauses = ["(keep_latest > 0 AND turn_count > keep_latest)"]
    params: list[Any] = [policy.keep_latest, policy.response_ttl > 0]
    if policy.keep_latest > 0:
        clauses.append("(keep_latest IS NULL AND turn_count > ?)")
        params.append(policy.keep_latest)
    if policy.response_ttl > 0:
        clauses.append("(ttl_seconds IS NULL AND oldest_turn < ?)")
        params.append(now - policy.response_ttl)
    sql = (
        "SELECT owner, thread_id, turn_count, COALESCE(keep_latest, ?),"  # noqa: S608
        " ttl_seconds IS NULL AND ?"
        f" FROM threads WHERE {' OR '.join(clauses)} ORDER BY oldest_turn LIMIT ?"
    )
    return sql + (" FOR UPDATE SKIP LOCKED" if postgres else ""), [*params, limit]


def search(owner: str, where: ThreadFilter, *, postgres: bool) -> Query:
    """The WHERE clause (and its params) of a search: owner, end user, metadata pairs."""
    clauses, params = ["owner = ?"], [owner]
    if where.user:
        clauses.append("end_user = ?")
        params.append(where.user)
    if where.metadata and postgres:
        clauses.append("metadata::jsonb @> ?::jsonb")
        params.append(json.dumps(dict(where.metadata), ensure_ascii=False))
    elif where.metadata:
        for key, value in where.metadata:
            clauses.append(
                "EXISTS (SELECT 1 FROM json_each(threads.metadata) AS m"
                " WHERE m.key = ? AND m.value = ?)"
            )
            params += [key, value]
    return " AND ".join(clauses), params


def search_page(
    owner: str, where: ThreadFilter, after: tuple[float, str] | None, size: int, *, postgres: bool
) -> Query:
    """One page of a search, most recently updated first, keyset after `after`."""
    condition, params = search(owner, where, postgres=postgres)
    if after is not None:
        condition += " AND (updated, thread_id) < (?, ?)"
        params += list(after)
    sql = (
        f"SELECT {SUMMARY_COLUMNS} FROM threads WHERE {condition}"  # noqa: S608
        " ORDER BY updated DESC, thread_id DESC LIMIT ?"
    )
    return sql, [*params, size]


def search_count(owner: str, where: ThreadFilter, *, postgres: bool) -> Query:
    condition, params = search(owner, where, postgres=postgres)
    return f"SELECT count(*) FROM threads WHERE {condition}", params  # noqa: S608


def delete_rows(table: OwnedTable) -> str:
    """Delete one thread's rows from an owned table (the names are checked constants)."""
    return (
        f"DELETE FROM {table.table}"  # noqa: S608
        f" WHERE {table.owner_column} = ? AND {table.thread_column} = ?"
    )


def delete_rows_of_many(table: OwnedTable) -> str:
    """PostgreSQL: delete many threads' rows from an owned table in one statement, given
    two arrays (owners, thread ids)."""
    return (
        f"DELETE FROM {table.table}"  # noqa: S608
        f" WHERE ({table.owner_column}, {table.thread_column}) IN"
        " (SELECT * FROM unnest($1::text[], $2::text[]))"
    )


DELETE_THREADS_OF_MANY: Final = (
    "DELETE FROM threads WHERE (owner, thread_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))"
)
DELETE_THREAD: Final = "DELETE FROM threads WHERE owner = ? AND thread_id = ?"
