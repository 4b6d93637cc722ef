"""BackgroundLogContract: what every thread store's background log must do, as test methods.

Subclassed beside MemoryStoreContract with the database's mixin (OnSqlite, OnPostgres); the
store fixture is StoreContract's. Times are passed in, so leases and expiry need no sleeping.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from core.errors import TurnNotFoundError
from core.memory import MemoryStore, open_store
from core.memory.background import BackgroundRun, LoggedEvent, RunStatus

NOW = 1_800_000_000.0
LEASE = 30.0
LOG = 3600.0


def new_run(
    owner: str = "alice", *, lease_owner: str = "replica-a", now: float = NOW
) -> BackgroundRun:
    return BackgroundRun(
        owner=owner,
        run_id=f"chatcmpl-{uuid.uuid4().hex[:24]}",
        thread_id="t",
        model="scripted",
        status=RunStatus.IN_PROGRESS,
        lease_owner=lease_owner,
        lease_expires=now + LEASE,
        created=now,
        updated=now,
        expires=now + LOG,
        client_state=b"\x00state\xff",
    )


def events(*payloads: bytes) -> tuple[LoggedEvent, ...]:
    return tuple(LoggedEvent(0, p) for p in payloads)


async def append(
    store: MemoryStore, run: BackgroundRun, *payloads: bytes, now: float = NOW, lease: str = ""
) -> bool:
    return await store.append_events(
        run.owner,
        run.run_id,
        lease or run.lease_owner,
        events(*payloads),
        now=now,
        lease_expires=now + LEASE,
        expires=now + LOG,
    )


class BackgroundLogContract:
    """Background runs and their logs on one store."""

    async def test_a_run_round_trips_and_numbers_its_events_from_one(
        self, store: MemoryStore
    ) -> None:
        run = new_run()
        await store.create_run(run)
        assert await append(store, run, b"a", b"b")
        assert await append(store, run, b"c")
        assert await append(store, run)  # a heartbeat adds nothing
        got = await store.get_run("alice", run.run_id, now=NOW + 1, expires=NOW + LOG)
        assert got.last_sequence == 3
        assert got.status is RunStatus.IN_PROGRESS
        assert got.client_state == b"\x00state\xff"
        logged = await store.read_events("alice", run.run_id, 0, 100)
        assert [(e.sequence, e.payload) for e in logged] == [(1, b"a"), (2, b"b"), (3, b"c")]
        later = await store.read_events("alice", run.run_id, 1, 1)
        assert [(e.sequence, e.payload) for e in later] == [(2, b"b")]

    async def test_another_owner_sees_no_run_and_no_events(self, store: MemoryStore) -> None:
        run = new_run()
        await store.create_run(run)
        await append(store, run, b"a")
        with pytest.raises(TurnNotFoundError):
            await store.get_run("bob", run.run_id, now=NOW, expires=NOW + LOG)
        with pytest.raises(TurnNotFoundError):
            await store.cancel_run("bob", run.run_id, now=NOW, expires=NOW + LOG)
        assert await store.read_events("bob", run.run_id, 0, 10) == ()
        assert not await store.append_events(
            "bob",
            run.run_id,
            run.lease_owner,
            events(b"x"),
            now=NOW,
            lease_expires=NOW,
            expires=NOW,
        )

    async def test_finish_records_the_status_and_error_once(self, store: MemoryStore) -> None:
        run = new_run()
        await store.create_run(run)
        assert await store.finish_run(
            "alice",
            run.run_id,
            run.lease_owner,
            RunStatus.FAILED,
            now=NOW + 2,
            expires=NOW + 2 + LOG,
            error_reason="BACKEND_UNAVAILABLE",
            error_message="upstream down",
        )
        got = await store.get_run("alice", run.run_id, now=NOW + 3, expires=NOW + LOG)
        assert (got.status, got.error_reason, got.error_message) == (
            RunStatus.FAILED,
            "BACKEND_UNAVAILABLE",
            "upstream down",
        )
        assert not await store.finish_run(
            "alice", run.run_id, run.lease_owner, RunStatus.COMPLETED, now=NOW, expires=NOW
        )
        assert not await append(store, run, b"late")  # an ended run's log is closed

    async def test_only_the_lease_holder_writes(self, store: MemoryStore) -> None:
        run = new_run()
        await store.create_run(run)
        assert not await append(store, run, b"x", lease="replica-b")
        assert not await store.finish_run(
            "alice", run.run_id, "replica-b", RunStatus.COMPLETED, now=NOW, expires=NOW
        )
        assert await store.read_events("alice", run.run_id, 0, 10) == ()

    async def test_cancel_closes_the_log_from_anywhere(self, store: MemoryStore) -> None:
        run = new_run()
        await store.create_run(run)
        await append(store, run, b"a")
        cancelled = await store.cancel_run("alice", run.run_id, now=NOW + 1, expires=NOW + LOG)
        assert cancelled.status is RunStatus.CANCELLED
        assert not await append(store, run, b"b")  # the runner learns it on its next write
        again = await store.cancel_run("alice", run.run_id, now=NOW + 2, expires=NOW + LOG)
        assert again.status is RunStatus.CANCELLED
        assert [e.payload for e in await store.read_events("alice", run.run_id, 0, 10)] == [b"a"]

    async def test_an_expired_lease_fails_the_run_when_looked_at(self, store: MemoryStore) -> None:
        run = new_run()
        await store.create_run(run)
        await append(store, run, b"a", now=NOW + 10)  # renewed to NOW + 40
        alive = await store.get_run("alice", run.run_id, now=NOW + 39, expires=NOW + LOG)
        assert alive.status is RunStatus.IN_PROGRESS
        lost = await store.get_run("alice", run.run_id, now=NOW + 41, expires=NOW + LOG)
        assert (lost.status, lost.error_reason) == (RunStatus.FAILED, "REPLICA_LOST")
        assert not await append(store, run, b"b", now=NOW + 42)  # the lost replica stops

    async def test_sweep_fails_lost_runs_then_deletes_expired_logs(
        self, store: MemoryStore
    ) -> None:
        lost, alive, ended = new_run(), new_run(now=NOW + 100), new_run()
        for run in (lost, alive, ended):
            await store.create_run(run)
        await append(store, ended, b"a")
        await store.finish_run(
            "alice", ended.run_id, ended.lease_owner, RunStatus.COMPLETED, now=NOW, expires=NOW + 5
        )
        failed, deleted = await store.sweep_runs(NOW + 50, NOW + 50 + LOG)
        assert (failed, deleted) == (1, 1)
        with pytest.raises(TurnNotFoundError):
            await store.get_run("alice", ended.run_id, now=NOW + 50, expires=NOW + LOG)
        assert await store.read_events("alice", ended.run_id, 0, 10) == ()
        got = await store.get_run("alice", lost.run_id, now=NOW + 50, expires=NOW + LOG)
        assert got.status is RunStatus.FAILED
        got = await store.get_run("alice", alive.run_id, now=NOW + 50, expires=NOW + LOG)
        assert got.status is RunStatus.IN_PROGRESS
        assert await store.sweep_runs(NOW + 60 + LOG, NOW + 60 + LOG) == (
            1,
            1,
        )  # alive lost, lost gone

    async def test_two_stores_on_one_database_share_runs(self, store_url: str) -> None:
        first, second = await open_store(store_url), await open_store(store_url)
        try:
            run = new_run()
            await first.create_run(run)
            results = await asyncio.gather(
                *(append(first if i % 2 else second, run, bytes([i])) for i in range(10))
            )
            assert all(results)
            logged = await second.read_events("alice", run.run_id, 0, 100)
            assert [e.sequence for e in logged] == list(range(1, 11))
            assert sorted(e.payload for e in logged) == [bytes([i]) for i in range(10)]
        finally:
            await first.aclose()
            await second.aclose()
