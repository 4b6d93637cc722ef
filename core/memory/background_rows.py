"""The background log's SQL and row decoding, shared by its SQLite and PostgreSQL stores.

Statements are written once with `?` placeholders; `numbered` gives PostgreSQL's `$1, $2, …`.
The conditional writes end in `RETURNING 1` (both databases support it), so a store tells a
write that landed from one that matched no row without reading the row again.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from typing import Any

from core.memory.background import BackgroundRun, RunStatus

# Written out whole (no string building), so every statement reads as it runs.
INSERT_RUN = (
    "INSERT INTO background_runs (owner, run_id, thread_id, model, status, lease_owner, "
    "lease_expires, created, updated, expires, last_sequence, client_state, error_reason, "
    "error_message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
SELECT_RUN = (
    "SELECT owner, run_id, thread_id, model, status, lease_owner, lease_expires, created, "
    "updated, expires, last_sequence, client_state, error_reason, error_message FROM "
    "background_runs WHERE owner = ? AND run_id = ?"
)
# The writer's numbering is checked too (last_sequence = ?): two writers cannot interleave.
RENEW = (
    "UPDATE background_runs SET status = 'in_progress', last_sequence = ?, lease_expires = ?,"
    " updated = ?, expires = ? WHERE owner = ? AND run_id = ? AND lease_owner = ? AND "
    "last_sequence = ? AND status IN ('queued', 'in_progress') RETURNING 1"
)
INSERT_EVENT = "INSERT INTO background_events (owner, run_id, seq, payload) VALUES (?, ?, ?, ?)"
FINISH = (
    "UPDATE background_runs SET status = ?, error_reason = ?, error_message = ?, updated = ?,"
    " expires = ? WHERE owner = ? AND run_id = ? AND lease_owner = ? AND status IN ('queued',"
    " 'in_progress') RETURNING 1"
)
EXPIRE_ONE = (
    "UPDATE background_runs SET status = 'failed', error_reason = ?, error_message = ?, "
    "updated = ?, expires = ? WHERE owner = ? AND run_id = ? AND status IN ('queued', "
    "'in_progress') AND lease_expires < ? RETURNING 1"
)
EXPIRE_ALL = (
    "UPDATE background_runs SET status = 'failed', error_reason = ?, error_message = ?, "
    "updated = ?, expires = ? WHERE status IN ('queued', 'in_progress') AND lease_expires < ?"
    " RETURNING 1"
)
DELETE_EXPIRED = (
    "DELETE FROM background_runs WHERE expires < ? AND NOT (status IN ('queued', "
    "'in_progress')) RETURNING 1"
)
CANCEL = (
    "UPDATE background_runs SET status = 'cancelled', updated = ?, expires = ? WHERE owner = "
    "? AND run_id = ? AND status IN ('queued', 'in_progress') RETURNING 1"
)
READ_EVENTS = (
    "SELECT seq, payload FROM background_events WHERE owner = ? AND run_id = ? AND seq > ? "
    "ORDER BY seq LIMIT ?"
)

_PLACEHOLDER = re.compile(r"\?")


def numbered(sql: str) -> str:
    """`sql` with PostgreSQL's numbered placeholders: `?, ?` → `$1, $2`."""
    counter = itertools.count(1)
    return _PLACEHOLDER.sub(lambda _: f"${next(counter)}", sql)


def run_to_params(run: BackgroundRun) -> tuple[object, ...]:
    """INSERT_RUN's parameters."""
    return (
        run.owner,
        run.run_id,
        run.thread_id,
        run.model,
        run.status.value,
        run.lease_owner,
        run.lease_expires,
        run.created,
        run.updated,
        run.expires,
        run.last_sequence,
        run.client_state,
        run.error_reason,
        run.error_message,
    )


def row_to_run(row: Sequence[Any]) -> BackgroundRun:
    """Decode a row of SELECT_RUN."""
    return BackgroundRun(
        owner=row[0],
        run_id=row[1],
        thread_id=row[2],
        model=row[3],
        status=RunStatus(row[4]),
        lease_owner=row[5],
        lease_expires=row[6],
        created=row[7],
        updated=row[8],
        expires=row[9],
        last_sequence=row[10],
        client_state=bytes(row[11]),
        error_reason=row[12],
        error_message=row[13],
    )
