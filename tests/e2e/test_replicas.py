"""Two core processes on one PostgreSQL database; turns of each thread alternate between them.

The ledger at the end: every accepted turn stored exactly once, in order (lost 0,
duplicated 0, out of order 0), including retries that land on the other replica.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import chatrpc
from tests.e2e.test_core_process import free_port

ROOT = Path(__file__).resolve().parents[2]
THREADS, TURNS = 8, 6

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


@pytest.fixture
def replicas(postgres_url: str, tmp_path) -> Iterator[list[str]]:
    targets, procs = [], []
    for i in range(2):
        port = free_port()
        log = (tmp_path / f"replica-{i}.log").open("wb")
        command = [sys.executable, "-m", "tests.core_process", "--port", str(port)]
        command += ["--database-url", postgres_url]
        env = os.environ.copy()
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        procs.append((proc, log))
        targets.append(f"127.0.0.1:{port}")
    try:
        for target in targets:
            with chatrpc.Client(target) as client:
                deadline = time.monotonic() + 30
                while True:
                    try:
                        if client.health(timeout=1) == "SERVING":
                            break
                    except chatrpc.UnavailableError:
                        pass
                    assert time.monotonic() < deadline, "replica did not start"
                    time.sleep(0.1)
        yield targets
    finally:
        for proc, log in procs:
            proc.terminate()
            proc.wait(10)
            log.close()


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
