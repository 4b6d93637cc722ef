"""The core's refusals under abuse: CPU of a million-message request, latency of shedding.

`.venv/bin/python bench/overload.py [--repeat 20]` starts a core process (tests/core_process.py:
the scripted echo model, SQLite in a temporary folder) on a free loopback port and reports:

- the core's CPU time (user + system, from /proc) per 4 MB request of a million empty
  messages, refused by the wire count (before: ~4 s of CPU through the full conversion);
- with 64 streams holding the in-flight limit of 64: the latency of a refused stream on its
  own (one after another), and of each in a burst of 236 launched at once from one client,
  with the core's CPU for the whole burst (the rest of the burst's time is the client's).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import grpc

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "clients")]

import chatrpc  # noqa: E402
from chatrpc.v1 import chat_service_pb2 as pb  # noqa: E402
from tests.core_process import running_core  # noqa: E402

CHAT = "/chatrpc.v1.ChatService/Chat"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def million_messages(target: str, pid: int, repeat: int) -> float:
    one = pb.Message(role=pb.ROLE_USER).SerializeToString()
    data = (b"\x12" + bytes([len(one)]) + one) * 1_000_000
    async with grpc.aio.insecure_channel(target) as channel:
        call = channel.unary_unary(CHAT)
        before = cpu_seconds(pid)
        for _ in range(repeat):
            try:
                await call(data, timeout=30)
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.INVALID_ARGUMENT:
                    raise
            else:
                raise RuntimeError("the million-message request was accepted")
        return (cpu_seconds(pid) - before) / repeat


async def shedding(target: str, pid: int) -> tuple[list[float], list[float], float]:
    async with chatrpc.AsyncClient(target) as client:
        admitted = asyncio.Semaphore(0)

        async def stream() -> float | None:
            started = time.perf_counter()
            try:
                async for event in client.chat_stream("hi", model="scripted", timeout=60):
                    if isinstance(event, chatrpc.StreamStart):
                        admitted.release()
            except chatrpc.RateLimitError:
                return time.perf_counter() - started
            return None

        holders = [asyncio.create_task(stream()) for _ in range(64)]
        for _ in holders:
            await admitted.acquire()
        one_by_one = [await stream() for _ in range(50)]
        before = cpu_seconds(pid)
        burst = await asyncio.gather(*(stream() for _ in range(236)))
        burst_cpu = cpu_seconds(pid) - before
        await asyncio.gather(*holders)
    refused = [t for t in one_by_one if t is not None], [t for t in burst if t is not None]
    return *refused, burst_cpu


def ms(values: list[float]) -> str:
    values = sorted(values)
    p95 = values[int(len(values) * 0.95) - 1]
    return (
        f"n={len(values)} median {statistics.median(values) * 1000:.1f} ms, "
        f"p95 {p95 * 1000:.1f} ms, max {values[-1] * 1000:.1f} ms"
    )


async def main(repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db, log = f"sqlite:///{tmp}/t.db", Path(tmp) / "core.log"
        env = {"CHATRPC_MAX_CONCURRENT_RPCS": "64"}
        with running_core(db, log, "--delay", "4", env=env) as (target, proc):
            cpu = await million_messages(target, proc.pid, repeat)
            print(f"million empty messages (4 MB): {cpu * 1000:.1f} ms core CPU per request")
            one_by_one, burst, burst_cpu = await shedding(target, proc.pid)
            print(f"refused on its own: {ms(one_by_one)}")
            print(f"refused in a burst of 236: {ms(burst)}; core CPU {burst_cpu * 1000:.0f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    asyncio.run(main(parser.parse_args().repeat))
