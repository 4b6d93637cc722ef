"""Core replicas on one PostgreSQL database: turns of each thread alternate between them.

The ledger at the end: every accepted turn stored exactly once, in order (lost 0,
duplicated 0, out of order 0), including retries that land on the other replica; turns that
overlap on one thread from two replicas wait for each other and are stored in arrival order.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

import chatrpc
from core.catalog import ModelCatalog, ModelSpec
from core.settings import Settings
from tests.core_process import running_core
from tests.fakes import ScriptedBackend
from tests.servers import CoreThread

THREADS, TURNS = 8, 6

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


@pytest.fixture
def replicas(postgres_url: str, tmp_path) -> Iterator[list[str]]:
    """Two core processes on one PostgreSQL database, SERVING; their targets."""
    with ExitStack() as stack:
        yield [
            stack.enter_context(running_core(postgres_url, tmp_path / f"replica-{i}.log"))[0]
            for i in range(2)
        ]


async def test_alternating_replicas_keep_a_perfect_ledger(replicas):
    clients = [chatrpc.AsyncClient(target) for target in replicas]
    prefix = f"ledger-{time.time_ns()}"

    async def run_thread(t: int) -> None:
        for k in range(TURNS):
            key = f"{prefix}-{t}-{k}"
            text = f"t{t}-k{k}"
            reply = await clients[k % 2].chat(
                text, model="scripted", thread_id=f"{prefix}-{t}", idempotency_key=key
            )
            assert reply.content == f"echo: {text}"
            if k % 3 == 2:  # a retry whose response was "lost" lands on the other replica
                again = await clients[(k + 1) % 2].chat(
                    text, model="scripted", thread_id=f"{prefix}-{t}", idempotency_key=key
                )
                assert again.id == reply.id and again.content == reply.content

    try:
        await asyncio.gather(*(run_thread(t) for t in range(THREADS)))
        lost = duplicated = out_of_order = 0
        for t in range(THREADS):
            thread = await clients[t % 2].get_thread(f"{prefix}-{t}")
            got = [(str(m.message.role), m.message.content) for m in thread.messages]
            want = [
                item
                for k in range(TURNS)
                for item in (("user", f"t{t}-k{k}"), ("assistant", f"echo: t{t}-k{k}"))
            ]
            lost += sum(1 for item in want if item not in got)
            duplicated += len(got) - len(set(got))
            out_of_order += int(got != want and not (set(got) ^ set(want)))
            assert [m.seq for m in thread.messages] == list(range(len(thread.messages)))
        assert (lost, duplicated, out_of_order) == (0, 0, 0)
    finally:
        for client in clients:
            await client.close()


def slow_replica(database_url: str, name: str) -> tuple[CoreThread, ScriptedBackend]:
    backend = ScriptedBackend(echo=True)
    catalog = ModelCatalog([ModelSpec(name="scripted", backend="scripted", context_window=4096)])
    catalog.attach("scripted", backend)
    settings = Settings(replica_id=name)
    return CoreThread(catalog, database_url=database_url, settings=settings), backend


async def test_overlapping_turns_on_two_replicas_queue_in_arrival_order(
    clean_postgres_url: str,
) -> None:
    """Before the cross-replica lock the second of these failed with thread_changed."""
    (first, slow), (second, _) = (slow_replica(clean_postgres_url, n) for n in ("r1", "r2"))
    slow.enqueue(["echo: one"], delay=0.5)  # the first turn is still generating when the rest come
    clients = [chatrpc.AsyncClient(first.target), chatrpc.AsyncClient(second.target)]
    try:
        turns = []
        for text, client in (("one", clients[0]), ("two", clients[1]), ("three", clients[0])):
            call = client.chat(text, model="scripted", thread_id="shared")
            turns.append(asyncio.create_task(call))
            await asyncio.sleep(0.1)
        replies = await asyncio.gather(*turns)
        thread = await clients[1].get_thread("shared")
    finally:
        for client in clients:
            await client.close()
        first.stop()
        second.stop()
    assert [(r.replica, r.content) for r in replies] == [
        ("r1", "echo: one"),
        ("r2", "echo: two"),
        ("r1", "echo: three"),
    ]
    assert [m.message.content for m in thread.messages] == [
        "one",
        "echo: one",
        "two",
        "echo: two",
        "three",
        "echo: three",
    ]
