"""The BackgroundLog Protocol: background turns and their durable, numbered event logs.

A background turn runs detached from the call that started it (core.server.background). Its
row says where it stands (queued, in progress, completed, failed, cancelled) and which replica
holds its lease; its events are appended to a log, numbered 1, 2, 3, … in order, so a watcher
on any replica sharing the database replays them from any number and then follows new ones.

The lease: the replica running a turn renews it with every append (and with an idle heartbeat).
A turn whose lease has expired, because its replica died or lost the database, is failed
(`ReplicaLostError`) by whoever looks at it first (`get_run`) or by the periodic `sweep_runs`: it
never stays in progress, and nothing of it was stored as a complete turn (the pipeline commits
a turn only when it completes).

Logs expire on their own clock, apart from thread memory: every write sets `expires` (the
write's time plus the configured log lifetime) and `sweep_runs` deletes ended runs past it. The
payloads are opaque bytes to the store (the edge's encoding of the events).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from core.errors import ReplicaLostError

LOST_MESSAGE = "The replica running this background turn stopped before it finished."


class RunStatus(enum.Enum):
    """Where a background turn stands; the last three are final."""

    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def active(self) -> bool:
        return self in (RunStatus.QUEUED, RunStatus.IN_PROGRESS)


@dataclass(frozen=True, slots=True)
class BackgroundRun:
    """One background turn. `run_id` is its reply id; times are unix seconds; `last_sequence`
    is the number of its last logged event (0 before the first); `error_reason` and
    `error_message` say why a FAILED run failed (a ChatError's reason and message);
    `client_state` is the starter's opaque data, returned as given."""

    owner: str
    run_id: str
    thread_id: str
    model: str
    status: RunStatus
    lease_owner: str
    lease_expires: float
    created: float
    updated: float
    expires: float
    last_sequence: int = 0
    client_state: bytes = b""
    error_reason: str = ""
    error_message: str = ""


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    """One event of a run's log: its number (from 1) and its encoded payload."""

    sequence: int
    payload: bytes


class BackgroundLog(Protocol):
    """Background turns keyed by (owner, run_id), with their event logs.

    Every method takes the caller's owner (required); another owner's run looks exactly like
    one that does not exist (TurnNotFoundError). Writes by the lease holder (`append_events`,
    `finish_run`) are conditional: they land only while the run is active and the lease is
    the writer's, and say whether they did, so a replica that lost its lease, or whose run
    was cancelled from another replica, learns it on its next write and stops.
    """

    async def create_run(self, run: BackgroundRun) -> None:
        """Insert a new run (status QUEUED or IN_PROGRESS, no events yet)."""
        ...

    async def append_events(
        self,
        owner: str,
        run_id: str,
        lease_owner: str,
        events: tuple[LoggedEvent, ...],
        *,
        now: float,
        lease_expires: float,
        expires: float,
    ) -> bool:
        """Append `events` (numbered on from the run's last_sequence, in order), mark the run
        IN_PROGRESS and renew the lease; with no events, only the renewal (a heartbeat).
        False, writing nothing, when the run is no longer active or not this lease's."""
        ...

    async def finish_run(
        self,
        owner: str,
        run_id: str,
        lease_owner: str,
        status: RunStatus,
        *,
        now: float,
        expires: float,
        error_reason: str = "",
        error_message: str = "",
    ) -> bool:
        """Mark an active run of this lease final (`status`, with the error when FAILED).
        False when it was no longer active or not this lease's."""
        ...

    async def get_run(
        self, owner: str, run_id: str, *, now: float, expires: float
    ) -> BackgroundRun:
        """The run, failed first if it is active and its lease expired before `now`;
        unknown → TurnNotFoundError."""
        ...

    async def read_events(
        self, owner: str, run_id: str, after: int, limit: int
    ) -> tuple[LoggedEvent, ...]:
        """Up to `limit` events numbered above `after`, in order (none for an unknown run)."""
        ...

    async def cancel_run(
        self, owner: str, run_id: str, *, now: float, expires: float
    ) -> BackgroundRun:
        """Mark the run CANCELLED if it is still active, and return it; unknown →
        TurnNotFoundError. The replica running it stops at its next write."""
        ...

    async def sweep_runs(self, now: float, expires: float) -> tuple[int, int]:
        """Fail every active run whose lease expired before `now` (their logs then expire at
        `expires`), delete every ended run whose log expired before `now`; returns the
        counts (failed, deleted)."""
        ...


def lost_error() -> ReplicaLostError:
    """The error a run whose lease expired ends with."""
    return ReplicaLostError(LOST_MESSAGE)


def check_run(run: BackgroundRun) -> None:
    """Validate create_run's argument before any I/O."""
    if not run.owner:
        raise ValueError("owner is required")
    if not run.run_id or not run.lease_owner:
        raise ValueError("run_id and lease_owner are required")
    if not run.status.active:
        raise ValueError("a new run is queued or in progress")
