"""BackgroundChats: turns run detached from the call that started them, logged for any replica.

`start` runs the pipeline in a task of its own, in a fresh context (no caller's deadline, no
caller's cancellation), and returns once the turn's start event is out: everything that can
refuse the request has then refused it, and the reply id is known. From then on each event
is encoded as the contract's StreamChatResponse and appended, numbered, to the run's log in
the thread store (core.memory.background); events that arrive while a write is in flight go
together in the next one. Every write renews the run's lease, and a heartbeat renews it when
no event comes for a third of the lease. A write that no longer lands (the run was cancelled
from some replica, or its lease expired and someone failed it) stops the turn at once: the
task is cancelled, so the backend drops its upstream request.

Watchers read the log by number from the database. Across replicas they poll it (every
`poll_seconds`, 0.1 s by default) rather than LISTEN/NOTIFY: polling works the same on SQLite
and PostgreSQL, needs no connection held per replica outside the pool, and cannot miss a
notification sent while a watcher reconnected; one indexed range read per watcher per poll
costs little next to a turn. A watcher on the replica that runs the turn is woken at once
by each write.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import suppress
from dataclasses import dataclass, field

from chatrpc.v1 import chat_service_pb2 as pb
from core.errors import ChatError, InvalidArgumentError, error_for_reason
from core.memory.background import (
    BackgroundLog,
    BackgroundRun,
    LoggedEvent,
    RunStatus,
    lost_error,
)
from core.pipeline.chat import ChatPipeline
from core.server import convert
from core.settings import BackgroundSettings
from core.types import Caller, ReplyEvent, Turn, TurnQueued, TurnStart

logger = logging.getLogger(__name__)

MAX_CLIENT_STATE = 65536  # bytes
READ_BATCH = 256  # events per read of a log


@dataclass(slots=True)
class _Running:
    """A run of this replica: its task, the events not yet written, and who waits for them."""

    run: BackgroundRun
    task: asyncio.Task[None] | None = None
    pending: list[bytes] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    writer: asyncio.Task[None] | None = None
    closing: bool = False  # the turn ended: the writer writes what is left and returns
    lost: bool = False  # a write did not land: the run was cancelled or failed elsewhere
    watchers: set[asyncio.Future[None]] = field(default_factory=set)

    def notify(self) -> None:
        for waiter in self.watchers:
            if not waiter.done():
                waiter.set_result(None)


_RUN_STATUS_PB = {
    RunStatus.QUEUED: pb.BACKGROUND_STATUS_QUEUED,
    RunStatus.IN_PROGRESS: pb.BACKGROUND_STATUS_IN_PROGRESS,
    RunStatus.COMPLETED: pb.BACKGROUND_STATUS_COMPLETED,
    RunStatus.FAILED: pb.BACKGROUND_STATUS_FAILED,
    RunStatus.CANCELLED: pb.BACKGROUND_STATUS_CANCELLED,
}


def run_to_pb(run: BackgroundRun) -> pb.BackgroundChat:
    """A background run as the contract's BackgroundChat (its error travels as a status)."""
    return pb.BackgroundChat(
        chat_id=run.run_id,
        status=_RUN_STATUS_PB[run.status],
        thread_id=run.thread_id,
        model=run.model,
        create_time=convert.timestamp(int(run.created)),
        update_time=convert.timestamp(int(run.updated)),
        expire_time=convert.timestamp(int(run.expires)),
        last_sequence=run.last_sequence,
        client_state=run.client_state,
    )


class BackgroundChats:
    """Runs background turns on this replica and serves every replica's logs."""

    def __init__(
        self,
        pipeline: ChatPipeline,
        log: BackgroundLog,
        settings: BackgroundSettings,
        *,
        replica_id: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._pipeline = pipeline
        self._log = log
        self._settings = settings
        # Unique per process: replicas on one host share a host name.
        self._lease_owner = f"{replica_id}/{uuid.uuid4().hex[:12]}"
        self._clock = clock
        self._running: dict[tuple[str, str], _Running] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # every turn task of this replica

    async def start(self, turn: Turn, caller: Caller, client_state: bytes) -> BackgroundRun:
        """Starts `turn` detached; returns its run once the start event is logged. Errors
        before it (validation, the model's admission) are raised here."""
        if not turn.store:
            raise InvalidArgumentError("A background turn must be stored.", field="store")
        if len(client_state) > MAX_CLIENT_STATE:
            raise InvalidArgumentError(
                f"client_state must be at most {MAX_CLIENT_STATE} bytes.", field="client_state"
            )
        started: asyncio.Future[BackgroundRun] = asyncio.get_running_loop().create_future()
        # A fresh context: the caller's deadline and call must not reach the detached turn.
        task = asyncio.create_task(
            self._run(turn, caller, client_state, started), context=contextvars.Context()
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return await asyncio.shield(started)

    async def get(self, owner: str, run_id: str) -> BackgroundRun:
        """The run (failed first if its lease expired); TurnNotFoundError if unknown."""
        now = self._clock()
        return await self._log.get_run(
            owner, run_id, now=now, expires=now + self._settings.log_seconds
        )

    async def cancel(self, owner: str, run_id: str) -> BackgroundRun:
        """Cancels the run from this replica; the replica running it stops at its next write
        (at once when it is this one)."""
        now = self._clock()
        run = await self._log.cancel_run(
            owner, run_id, now=now, expires=now + self._settings.log_seconds
        )
        local = self._running.get((owner, run_id))
        if local is not None and local.task is not None:
            local.task.cancel()
        return run

    async def watch(
        self, owner: str, run_id: str, after: int, *, follow: bool
    ) -> AsyncIterator[pb.WatchBackgroundChatResponse]:
        """The run's events numbered above `after`, then (with `follow`) new ones until it
        ends; a failed run's error is raised after its last event."""
        while True:
            run = await self.get(owner, run_id)  # read before the events: see below
            events = await self._log.read_events(owner, run_id, after, READ_BATCH)
            for logged in events:
                event = pb.StreamChatResponse.FromString(logged.payload)
                yield pb.WatchBackgroundChatResponse(sequence=logged.sequence, event=event)
                after = logged.sequence
            if len(events) == READ_BATCH:
                continue
            # The status was read before the events, and a run ends only after its last
            # write: an ended run has nothing more to read.
            if not run.status.active or not follow:
                if run.status is RunStatus.FAILED:
                    raise error_for_reason(run.error_reason, run.error_message)
                return
            await self._changed(owner, run_id)

    async def _changed(self, owner: str, run_id: str) -> None:
        """Waits for this replica's next write of the run, or one poll interval."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        local = self._running.get((owner, run_id))
        if local is not None:
            local.watchers.add(waiter)
        try:
            await asyncio.wait([waiter], timeout=self._settings.poll_seconds)
        finally:
            if local is not None:
                local.watchers.discard(waiter)

    async def _run(
        self,
        turn: Turn,
        caller: Caller,
        client_state: bytes,
        started: asyncio.Future[BackgroundRun],
    ) -> None:
        local: _Running | None = None
        try:
            # A cancellation is raised inside the pipeline where it waits: it unwinds there.
            async for event in self._pipeline.run(turn, caller):
                if isinstance(event, TurnQueued):
                    continue  # the start call waits through the model's queue
                if local is None:
                    assert isinstance(event, TurnStart)
                    local = await self._begin(event, caller.owner, client_state)
                    started.set_result(local.run)
                else:
                    self._add(local, event)
            assert local is not None
            await self._end(local, RunStatus.COMPLETED)
        except asyncio.CancelledError:
            if local is not None and local.writer is not None:
                local.writer.cancel()
            _refuse(started, ChatError("The server stopped before the turn started."))
        except Exception as exc:
            error = exc if isinstance(exc, ChatError) else None
            if error is None:
                logger.exception("background turn failed")
                error = ChatError("The background turn failed.")
            _refuse(started, error)
            if local is not None:
                await self._end(local, RunStatus.FAILED, error)
        finally:
            if local is not None:
                self._running.pop((local.run.owner, local.run.run_id), None)
                local.notify()

    async def _begin(self, start: TurnStart, owner: str, client_state: bytes) -> _Running:
        """Creates the run, logs its start event, then starts its one writer (so batches
        never race each other)."""
        local = await self._open(start, owner, client_state)
        self._add(local, start)
        await self._flush(local)
        local.writer = asyncio.create_task(self._write(local))
        return local

    async def _open(self, start: TurnStart, owner: str, client_state: bytes) -> _Running:
        now = self._clock()
        run = BackgroundRun(
            owner=owner,
            run_id=start.id,
            thread_id=start.thread_id,
            model=start.model,
            status=RunStatus.IN_PROGRESS,
            lease_owner=self._lease_owner,
            lease_expires=now + self._settings.lease_seconds,
            created=now,
            updated=now,
            expires=now + self._settings.log_seconds,
            client_state=client_state,
        )
        await self._log.create_run(run)
        local = self._running[(owner, run.run_id)] = _Running(run, asyncio.current_task())
        return local

    @staticmethod
    def _add(local: _Running, event: ReplyEvent) -> None:
        local.pending.append(convert.event_to_pb(event).SerializeToString())
        local.wake.set()

    async def _write(self, local: _Running) -> None:
        """Writes what is pending whenever there is some, or a heartbeat a third of a lease
        after the last write, until told to close; a write that does not land stops the turn.
        Never cancelled mid-write: a batch taken from `pending` must land or be known lost."""
        heartbeat = self._settings.lease_seconds / 3
        while True:
            with suppress(TimeoutError):
                async with asyncio.timeout(heartbeat):
                    await local.wake.wait()
            if not await self._flush(local):
                local.lost = True
                assert local.task is not None
                local.task.cancel()
                return
            if local.closing and not local.pending:
                return

    async def _flush(self, local: _Running) -> bool:
        local.wake.clear()
        batch, local.pending = local.pending, []
        now = self._clock()
        landed = await self._log.append_events(
            local.run.owner,
            local.run.run_id,
            self._lease_owner,
            tuple(LoggedEvent(0, payload) for payload in batch),
            now=now,
            lease_expires=now + self._settings.lease_seconds,
            expires=now + self._settings.log_seconds,
        )
        local.notify()
        return landed

    async def _end(
        self,
        local: _Running,
        status: RunStatus,
        error: ChatError | None = None,
    ) -> None:
        """Lets the writer write what is left, then writes the final status (if still ours)."""
        local.closing = True
        local.wake.set()
        if local.writer is not None:
            await local.writer
        if local.lost:
            return
        now = self._clock()
        await self._log.finish_run(
            local.run.owner,
            local.run.run_id,
            self._lease_owner,
            status,
            now=now,
            expires=now + self._settings.log_seconds,
            error_reason=error.reason if error else "",
            error_message=error.message if error else "",
        )

    def start_sweeper(self) -> None:
        """Starts failing expired leases and deleting expired logs, every half lease."""
        self._sweeper = asyncio.create_task(self._sweep_forever())

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self._settings.lease_seconds / 2)
            now = self._clock()
            try:
                failed, deleted = await self._log.sweep_runs(now, now + self._settings.log_seconds)
            except ChatError as exc:
                logger.warning("background sweep failed: %s", exc.message)
                continue
            if failed or deleted:
                logger.info("background sweep: %d runs lost, %d logs expired", failed, deleted)

    async def aclose(self) -> None:
        """Stops the sweeper and this replica's turns, which end failed at once (rather than
        when their lease expires)."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
        running = list(self._running.values())
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for local in running:
            now = self._clock()
            with suppress(ChatError):
                await self._log.finish_run(
                    local.run.owner,
                    local.run.run_id,
                    self._lease_owner,
                    RunStatus.FAILED,
                    now=now,
                    expires=now + self._settings.log_seconds,
                    error_reason=lost_error().reason,
                    error_message="The replica running this background turn shut down.",
                )


def _refuse(started: asyncio.Future[BackgroundRun], error: ChatError) -> None:
    """Fails the start call with `error` unless it already returned."""
    if not started.done():
        started.set_exception(error)
