"""Shedding under a burst: 1 000 concurrent StreamChat calls against an in-flight limit of 64.

`.venv/bin/python bench/shedding.py [--calls 1000] [--limit 64] [--clients 4]` starts a core
process (tests/core_process.py: the scripted echo model at a word per 50 ms, so an admitted
stream lasts about 2 s; SQLite in a temporary folder) and `--clients` client processes, each
with its own channel, which all open their share of the calls at the same instant. It reports:

- how many calls were refused, and the latency of each refusal (from the moment its client
  started the call to RESOURCE_EXHAUSTED): median, p95, p99, max; and how many refusals
  carried a retry delay (google.rpc.RetryInfo);
- how many were admitted, and how many of those completed (a finish event, status OK);
- the core's CPU for the burst (from /proc), and its share per call.

A refusal's latency includes the client process's own time to start its other calls, which
is why the calls are spread over several client processes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "clients")]

from chatrpc.v1 import chat_service_pb2 as pb  # noqa: E402
from tests.core_process import running_core  # noqa: E402

STREAM = "/chatrpc.v1.ChatService/StreamChat"
WORDS = 40  # echoed back at --pace: the length of an admitted stream
PACE = 0.05


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def has_retry_delay(error: grpc.aio.AioRpcError) -> bool:
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    return status is not None and any(
        d.Is(error_details_pb2.RetryInfo.DESCRIPTOR) for d in status.details
    )


async def one_call(stub: grpc.aio.UnaryStreamMultiCallable, request: pb.StreamChatRequest) -> dict:
    started = time.perf_counter()
    call = stub(request, timeout=60)
    finished = False
    try:
        async for response in call:
            finished = finished or response.HasField("finish")
    except grpc.aio.AioRpcError as exc:
        elapsed = time.perf_counter() - started
        code = exc.code().name
        return {"code": code, "seconds": elapsed, "retry": has_retry_delay(exc)}
    return {"code": "OK", "seconds": time.perf_counter() - started, "finished": finished}


async def client(target: str, calls: int, start_at: float) -> list[dict]:
    request = pb.StreamChatRequest(
        model="scripted", messages=[pb.Message(role=pb.ROLE_USER, content="word " * WORDS)]
    )
    async with grpc.aio.insecure_channel(target) as channel:
        await channel.channel_ready()
        stub = channel.unary_stream(
            STREAM,
            request_serializer=pb.StreamChatRequest.SerializeToString,
            response_deserializer=pb.StreamChatResponse.FromString,
        )
        await asyncio.sleep(max(0.0, start_at - time.time()))
        return await asyncio.gather(*(one_call(stub, request) for _ in range(calls)))


def burst(target: str, calls: int, clients: int) -> list[dict]:
    """Runs the client processes, all starting 2 s from now; returns every call's result."""
    start_at = time.time() + 2.0
    share = [calls // clients + (i < calls % clients) for i in range(clients)]
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--client", target, str(n), str(start_at)],
            stdout=subprocess.PIPE,
            cwd=ROOT,
        )
        for n in share
    ]
    results: list[dict] = []
    for proc in procs:
        out, _ = proc.communicate(timeout=120)
        results += json.loads(out)
    return results


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def report(results: list[dict], core_cpu: float) -> None:
    refused = [r for r in results if r["code"] == "RESOURCE_EXHAUSTED"]
    admitted = [r for r in results if r["code"] == "OK"]
    others = Counter(r["code"] for r in results if r["code"] not in ("OK", "RESOURCE_EXHAUSTED"))
    seconds = [r["seconds"] * 1000 for r in refused]
    print(
        f"calls {len(results)}: refused {len(refused)}, admitted {len(admitted)}, "
        f"other {dict(others)}"
    )
    if seconds:
        print(
            f"refusal latency ms: median {statistics.median(seconds):.1f}, "
            f"p95 {percentile(seconds, 0.95):.1f}, p99 {percentile(seconds, 0.99):.1f}, "
            f"max {max(seconds):.1f}; with RetryInfo {sum(r['retry'] for r in refused)}"
        )
    completed = sum(1 for r in admitted if r.get("finished"))
    print(f"admitted streams completed: {completed} of {len(admitted)}")
    per_call = core_cpu / len(results) * 1e6
    print(f"core CPU for the burst: {core_cpu * 1000:.0f} ms ({per_call:.0f} µs a call)")


def main(calls: int, limit: int, clients: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db, log = f"sqlite:///{tmp}/t.db", Path(tmp) / "core.log"
        env = {"CHATRPC_MAX_CONCURRENT_RPCS": str(limit), "CHATRPC_LOG_LEVEL": "WARNING"}
        with running_core(db, log, "--pace", str(PACE), env=env) as (target, proc):
            before = cpu_seconds(proc.pid)
            results = burst(target, calls, clients)
            report(results, cpu_seconds(proc.pid) - before)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--client":
        target, n, start_at = sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
        print(json.dumps(asyncio.run(client(target, n, start_at))))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--limit", type=int, default=64)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    main(args.calls, args.limit, args.clients)
