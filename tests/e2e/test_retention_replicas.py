"""Three core replicas on one PostgreSQL database, each with its own retention sweeper.

A 2-second thread TTL, sweeps every 0.3 s on every replica: idle threads (and every row of
theirs) are gone soon after they expire, a thread whose turns keep coming is never touched,
and no replica's sweep fails (no deadlock, no lock wait beyond its timeout).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

import chatrpc
from core.types import DEFAULT_OWNER
from tests.core.memory.tables import owner_rows
from tests.core_process import running_core

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

TTL = 2.0
ENV = {
    "CHATRPC_THREAD_TTL_SECONDS": str(TTL),
    "CHATRPC_SWEEP_INTERVAL_SECONDS": "0.3",
    "CHATRPC_SWEEP_BATCH": "7",  # several batches per sweep for 30 threads
}


@pytest.fixture
def replicas(clean_postgres_url: str, tmp_path: Path) -> Iterator[tuple[list[str], list[Path]]]:
    logs = [tmp_path / f"replica-{i}.log" for i in range(3)]
    with ExitStack() as stack:
        targets = [
            stack.enter_context(running_core(clean_postgres_url, log, env=ENV))[0] for log in logs
        ]
        yield targets, logs


async def test_three_sweeping_replicas_expire_idle_threads_and_spare_live_ones(
    replicas: tuple[list[str], list[Path]], clean_postgres_url: str
) -> None:
    targets, logs = replicas
    clients = [chatrpc.AsyncClient(target) for target in targets]
    try:
        await asyncio.gather(
            *(
                clients[i % 3].chat(f"q{i}", model="scripted", thread_id=f"idle-{i}")
                for i in range(30)
            )
        )
        written = time.monotonic()
        live_turns = 0
        # One thread keeps talking, through every replica in turn, past the others' expiry.
        while time.monotonic() - written < TTL + 2.0:
            reply = await clients[live_turns % 3].chat(
                f"still here {live_turns}", model="scripted", thread_id="live"
            )
            assert reply.content == f"echo: still here {live_turns}"
            live_turns += 1
            await asyncio.sleep(0.25)
        page = await clients[0].list_threads(page_size=100)
        assert [t.thread_id for t in page.threads] == ["live"]
        live = await clients[1].get_thread("live")
        assert len(live.messages) == 2 * live_turns
        rows = await owner_rows(clean_postgres_url, DEFAULT_OWNER)
        assert (rows["threads"], rows["turns"], rows["messages"]) == (1, live_turns, 2 * live_turns)
    finally:
        for client in clients:
            await client.close()
    for log in logs:
        assert "retention sweep failed" not in log.read_text()
