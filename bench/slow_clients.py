"""Slow and idle HTTP clients against the gateway: memory per held connection and the
latency of other clients, stock uvicorn+httptools against the gateway's guarded protocol.

    .venv/bin/python bench/slow_clients.py                     # 500 connections, both modes
    .venv/bin/python bench/slow_clients.py --connections 200 --modes guarded

For each mode a gateway (`create_app`, uvloop, httptools; no core behind it: only
`GET /health` is asked) starts in a child process on 127.0.0.1, and then:

1. idle: N connections that send nothing; the server's RSS before and 1 s after gives the
   memory per held connection; after the idle timeout + 2 s, how many are still open;
2. slow headers: N connections that send a request head at 1 byte/s (reconnecting when
   the server closes them, so N are always trying), while one client times sequential
   `GET /health` requests on fresh connections; the same client alone first (baseline).

With `--never-reading N`, clients that never read a long stream instead (bench/never_reading.py).

Everything is bounded: N ≤ 2000, about 40 s per mode. The guarded gateway reads its limits
from the environment as `python -m gateway` does (for example
`CHATRPC_GATEWAY_MAX_CONNECTIONS_PER_CLIENT=100`). Figures are printed; RESULTS.md quotes
a run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GET = b"GET /health HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
SLOW_HEAD = b"GET /health HTTP/1.1\r\nHost: bench\r\n" + b"X-Slow: " + b"a" * 4096


def serve(mode: str, port: int) -> None:
    """The child: the gateway app under uvicorn, stock or guarded."""
    import uvicorn

    from gateway.app import create_app
    from gateway.http.connections import uvicorn_options
    from gateway.settings import Settings

    # The gateway's settings from the environment (CHATRPC_GATEWAY_MAX_CONNECTIONS, …).
    settings = replace(Settings.from_env(), port=port, core_target="127.0.0.1:9", auth="disabled")
    options = uvicorn_options(settings) if mode == "guarded" else {"http": "httptools"}
    uvicorn.run(
        create_app(settings),
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        log_level="error",
        access_log=False,
        **options,
    )


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def get_health(port: int) -> tuple[float, int]:
    """One GET /health on a fresh connection: seconds to the whole response, its status."""
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(GET)
    answer = await reader.read()  # connection: close
    writer.close()
    return time.perf_counter() - started, int(answer.split(b" ", 2)[1] or 0)


async def latencies(port: int, seconds: float) -> tuple[list[float], int]:
    """Latencies of the 200s, and how many requests got anything else (or a reset)."""
    taken: list[float] = []
    refused = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            took, status = await asyncio.wait_for(get_health(port), 30)
        except (OSError, IndexError, ValueError):
            refused += 1
            continue
        if status == 200:
            taken.append(took)
        else:
            refused += 1
        await asyncio.sleep(0.02)
    return taken, refused


async def idle(port: int, pid: int, count: int, wait: float) -> dict[str, float]:
    before = rss_kib(pid)
    socks = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setblocking(False)
        socks.append(sock)
    await asyncio.sleep(1)
    held = rss_kib(pid)
    await asyncio.sleep(wait)
    still_open = sum(_open(sock) for sock in socks)
    for sock in socks:
        sock.close()
    return {
        "per_connection_kib": round((held - before) / count, 2),
        "still_open": still_open,
        "rss_after_kib": rss_kib(pid),
    }


def _open(sock: socket.socket) -> bool:
    """Whether the server still holds `sock` open (it may have answered, then closed it)."""
    while True:
        try:
            if sock.recv(65536) == b"":
                return False
        except BlockingIOError:
            return True
        except OSError:
            return False


async def slowloris(port: int, stop: asyncio.Event, source: str) -> int:
    """One slow client: a head at 1 byte/s, reconnecting when closed; returns its closes."""
    closes = 0
    while not stop.is_set():
        try:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", port, local_addr=(source, 0)
            )
        except OSError:
            await asyncio.sleep(1)
            continue
        try:
            for byte in SLOW_HEAD:
                if stop.is_set() or reader.at_eof():
                    break
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(1)
        except OSError:
            pass
        closes += 1
        writer.close()
    return closes


async def under_attack(port: int, count: int, seconds: float, source: str) -> dict[str, float]:
    stop = asyncio.Event()
    attackers = [asyncio.create_task(slowloris(port, stop, source)) for _ in range(count)]
    await asyncio.sleep(3)  # all connected and trickling
    taken, refused = await latencies(port, seconds)
    stop.set()
    closes = sum(await asyncio.gather(*attackers))
    return summary(taken, refused) | {"slow_connections_closed": closes - count}


def summary(taken: list[float], refused: int) -> dict[str, float]:
    ordered = sorted(taken) or [float("nan")]
    return {
        "ok": len(taken),
        "refused": refused,
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 2),
    }


async def measure(mode: str, count: int, source: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'clients'}"}
    child = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "serve", "--mode", mode, "--port", str(port), env=env
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                await get_health(port)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)
        print(f"[{mode}] idle:", await idle(port, child.pid, count, wait=5 + 2), flush=True)
        print(f"[{mode}] alone:", summary(*await latencies(port, 5)), flush=True)
        print(
            f"[{mode}] {count} slow heads:", await under_attack(port, count, 15, source), flush=True
        )
    finally:
        child.terminate()
        await asyncio.wait_for(child.wait(), 10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command")
    child = sub.add_parser("serve")
    child.add_argument("--mode", choices=("stock", "guarded"), required=True)
    child.add_argument("--port", type=int, required=True)
    parser.add_argument("--connections", type=int, default=500)
    parser.add_argument("--modes", default="stock,guarded")
    parser.add_argument(
        "--slow-from",
        default="127.0.0.1",
        help="loopback source address of the slow clients (127.0.0.2: another client than "
        "the timed one, for a per-client limit)",
    )
    parser.add_argument(
        "--never-reading",
        type=int,
        default=0,
        help="instead: N clients that never read a 20 000-token stream (bench/never_reading.py)",
    )
    args = parser.parse_args()
    if args.command == "serve":
        serve(args.mode, args.port)
        return
    if args.never_reading:
        from bench import never_reading

        never_reading.main(max(1, min(args.never_reading, 200)))
        return
    count = max(1, min(args.connections, 2000))
    for mode in args.modes.split(","):
        asyncio.run(measure(mode, count, args.slow_from))


if __name__ == "__main__":
    main()
