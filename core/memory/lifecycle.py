"""The end of a thread's data: retention (TTL, keep-latest compaction), search, export, erasure.

The values both stores share and the Protocol they implement besides MemoryStore's turns:

- `RetentionPolicy`: the server's defaults (all off unless configured); a thread overrides
  them with the reserved metadata keys `ttl_seconds` and `keep_latest` (0: never), read by
  `thread_options` when its first turn creates it or when UpdateThread sets its metadata.
- `sweep` deletes idle threads (thread TTL, counted from the last turn) and drops a thread's
  oldest turns (beyond `keep_latest`, or older than the response TTL: a stored response is a
  stored turn), one bounded batch per call. Deleting a thread deletes its rows in every table
  of core.memory.owned.THREAD_TABLES.
(The Protocol, ThreadLifecycle, is core.memory.base's, beside MemoryStore.)

- `erase` deletes everything of one owner (or of one end user within it), audits it and says
  how many rows of each kind went; `export_lines` streams an owner's data as JSON lines.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from core.errors import InvalidArgumentError

TTL_KEY = "ttl_seconds"
KEEP_LATEST_KEY = "keep_latest"
MAX_TTL_SECONDS = 100 * 365 * 86400
MAX_KEEP_LATEST = 1_000_000
MAX_FILTERS = 16


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """The server's defaults; 0 turns each off. Seconds for the TTLs."""

    thread_ttl: float = 0.0
    response_ttl: float = 0.0
    keep_latest: int = 0

    @property
    def active(self) -> bool:
        """Whether a sweep can find anything without per-thread overrides (it still looks)."""
        return bool(self.thread_ttl or self.response_ttl or self.keep_latest)


@dataclass(frozen=True, slots=True)
class ThreadOptions:
    """A thread's own retention, from its metadata; None means the server's default."""

    ttl_seconds: float | None = None
    keep_latest: int | None = None


@dataclass(frozen=True, slots=True)
class SweepResult:
    """What one sweep batch did: rows deleted per table, threads deleted whole and compacted,
    and whether a full batch was found (more may be waiting)."""

    deleted: Mapping[str, int] = field(default_factory=dict)
    threads_deleted: int = 0
    threads_compacted: int = 0
    more: bool = False


@dataclass(frozen=True, slots=True)
class ThreadFilter:
    """Which of an owner's threads a search returns: every metadata pair must match; `user`
    (when set) is the end user of the thread's first turn."""

    user: str = ""
    metadata: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Erasure:
    """An audited erasure: its id, when, and rows deleted per kind (table)."""

    erasure_id: str
    created: float
    deleted: Mapping[str, int]


def thread_options(metadata: tuple[tuple[str, str], ...] | Mapping[str, str]) -> ThreadOptions:
    """The retention overrides in a thread's metadata; InvalidArgumentError naming the key."""
    values = dict(metadata)
    ttl = _whole(values, TTL_KEY, MAX_TTL_SECONDS)
    keep = _whole(values, KEEP_LATEST_KEY, MAX_KEEP_LATEST)
    return ThreadOptions(ttl_seconds=None if ttl is None else float(ttl), keep_latest=keep)


def _whole(values: Mapping[str, str], key: str, limit: int) -> int | None:
    if key not in values:
        return None
    text = values[key].strip()
    if not text.isdigit() or int(text) > limit:
        raise InvalidArgumentError(
            f"metadata {key} must be a whole number from 0 to {limit} (0: never)",
            field=f"metadata.{key}",
        )
    return int(text)


def check_filter(where: ThreadFilter) -> None:
    """Bound a search's filter before it reaches SQL (every value travels as a parameter)."""
    if len(where.metadata) > MAX_FILTERS:
        raise InvalidArgumentError(f"at most {MAX_FILTERS} metadata filters", field="metadata")


def user_hash(user: str) -> str:
    """How the audit names an erased end user: never the identifier itself."""
    return hashlib.sha256(user.encode()).hexdigest() if user else ""
