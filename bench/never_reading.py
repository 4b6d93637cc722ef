"""Clients that never read a stream: the gateway's memory and what happens to their turns.

    .venv/bin/python bench/slow_clients.py --never-reading 50     # bounded, then unbounded

A core process (tests/core_process.py: the scripted echo model, a word per 0.5 ms, SQLite)
and `python -m gateway` in front of it; N raw sockets (a 4 KiB receive buffer) each send a
streamed chat completion whose reply is 20 000 tokens (the echo of 20 000 words, each stored
under its own thread) and never read a byte. Reported per mode: the gateway's RSS growth
at its peak, how many streams the gateway ended while their clients were still connected (from
its access log; the longest is a stream's whole life: generation until its client's buffers
filled, then the write timeout) and how many turns were stored (a cancelled one is not).

"bounded" is the gateway as configured by default except a write timeout of 5 s
(CHATRPC_GATEWAY_STREAM_WRITE_TIMEOUT); "unbounded" turns both bounds off
(CHATRPC_GATEWAY_STREAM_BUFFER_BYTES=0, CHATRPC_GATEWAY_STREAM_WRITE_TIMEOUT=0), as before.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "clients")]

import chatrpc  # noqa: E402
from tests.core_process import free_port, running_core  # noqa: E402

TOKENS = 20_000
WORD = "abcdefgh"  # 9 bytes a token with its space: 180 kB a reply
MODES = {
    "bounded": {"CHATRPC_GATEWAY_STREAM_WRITE_TIMEOUT": "5"},
    "unbounded": {
        "CHATRPC_GATEWAY_STREAM_BUFFER_BYTES": "0",
        "CHATRPC_GATEWAY_STREAM_WRITE_TIMEOUT": "0",
    },
}


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def never_read(port: int, index: int) -> socket.socket:
    body = json.dumps(
        {
            "model": "scripted",
            "stream": True,
            "thread_id": f"never-{index}",
            "messages": [{"role": "user", "content": " ".join([WORD] * TOKENS)}],
        }
    ).encode()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: bench\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    sock.sendall(head.encode() + body)
    return sock


def ended_streams(log: Path) -> list[float]:
    """Seconds each stream lasted, from the gateway's access log (written when one ends, the
    client gone or not)."""
    text = log.read_text(errors="replace")
    return [
        float(ms) / 1000 for ms in re.findall(r"POST /v1/chat/completions \d+ ([\d.]+) ms", text)
    ]


def run_mode(mode: str, count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db, log = f"sqlite:///{tmp}/t.db", Path(tmp) / "core.log"
        gateway_log = Path(tmp) / "gateway.log"
        with (
            running_core(db, log, "--pace", "0.0005") as (target, _),
            gateway_log.open("wb") as out,
        ):
            port = free_port()
            env = {
                **os.environ,
                "PYTHONPATH": f"{ROOT}:{ROOT / 'clients'}",
                "CHATRPC_CORE_TARGET": target,
                "CHATRPC_AUTH": "disabled",
                "CHATRPC_GATEWAY_PORT": str(port),
                "CHATRPC_GATEWAY_METRICS_PORT": "off",
                **MODES[mode],
            }
            gateway = subprocess.Popen(
                [sys.executable, "-m", "gateway"], env=env, cwd=ROOT, stderr=out
            )
            try:
                report(mode, count, port, gateway.pid, gateway_log, target)
            finally:
                gateway.terminate()
                gateway.wait(10)


def report(mode: str, count: int, port: int, pid: int, log: Path, target: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.2)
    before = peak = rss_kib(pid)
    sockets = [never_read(port, i) for i in range(count)]
    deadline = time.monotonic() + 120
    while len(ended_streams(log)) < count and time.monotonic() < deadline:
        peak = max(peak, rss_kib(pid))
        time.sleep(0.5)
    ends = ended_streams(log)
    with chatrpc.Client(target) as client:
        stored = sum(1 for i in range(count) if _stored(client, f"never-{i}"))
    for sock in sockets:
        sock.close()
    longest = max(ends, default=float("nan"))
    print(
        f"[{mode}] {count} never-reading streams of {TOKENS} tokens: gateway RSS +"
        f"{(peak - before) / 1024:.1f} MB at peak; streams ended by the gateway {len(ends)} of "
        f"{count} (longest {longest:.1f} s); turns stored: {stored}",
        flush=True,
    )


def _stored(client: chatrpc.Client, thread_id: str) -> bool:
    try:
        client.get_thread(thread_id)
    except chatrpc.NotFoundError:
        return False
    return True


def main(count: int, modes: str = "bounded,unbounded") -> None:
    for mode in modes.split(","):
        run_mode(mode, count)
