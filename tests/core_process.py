"""`python -m tests.core_process --port P --database-url URL`: a core process for replica tests.

The real server and store, with the scripted backend answering "echo: <last message>" as
the only model ("scripted"), `--delay` seconds per token (`--slow-delay` for a message that
starts with "slow"), or a word per `--pace` seconds; `--replica-id` names it in every
reply's metadata. The other settings come from the environment
(CHATRPC_MAX_CONCURRENT_RPCS, CHATRPC_REDIS_URL…); `--keys name=key,…` requires those API
keys, otherwise calls are keyless. `running_core()` starts one for a test.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import chatrpc
from core.auth import KeyRing, load_keyring
from core.catalog import ModelCatalog, ModelSpec
from core.memory import open_store
from core.server.app import create_server
from core.settings import Settings
from tests.fakes import ScriptedBackend

ROOT = Path(__file__).resolve().parents[1]


async def serve(args: argparse.Namespace) -> None:
    catalog = ModelCatalog(
        [ModelSpec(name="scripted", backend="scripted", context_window=1_000_000)]
    )
    backend = ScriptedBackend(
        echo=True, delay=args.delay, slow_delay=args.slow_delay, pace=args.pace
    )
    catalog.attach("scripted", backend)
    store = await open_store(args.database_url)
    keys = args.keys
    ring = load_keyring("required", "", keys) if keys else KeyRing({}, required=False)
    settings = replace(Settings.from_env(), port=args.port)
    if not os.environ.get("CHATRPC_METRICS_PORT"):  # replicas can't share the default port
        settings = replace(settings, metrics_port=None)
    if args.replica_id:
        settings = replace(settings, replica_id=args.replica_id)
    core = await create_server(settings, ring, catalog, threads=store)
    await core.server.start()
    await core.set_serving(True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await core.stop(1)
    await store.aclose()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_serving(target: str, timeout: float = 30, name: str = "the core process") -> None:
    """Returns once the core at `target` reports SERVING; fails the test after `timeout` s."""
    with chatrpc.Client(target) as client:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if client.health(timeout=1) == "SERVING":
                    return
            except chatrpc.UnavailableError:
                pass
            assert time.monotonic() < deadline, f"{name} did not start"
            time.sleep(0.1)


@contextmanager
def running_core(
    database_url: str, log: Path, *args: str, env: Mapping[str, str] | None = None
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A core process (`args` are this module's other options) until the block ends: its
    target once it reports SERVING, and the process."""
    port = free_port()
    command = [sys.executable, "-m", "tests.core_process", "--port", str(port)]
    command += ["--database-url", database_url, *args]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=out, stderr=out
        )
        target = f"127.0.0.1:{port}"
        try:
            wait_serving(target)
            yield target, proc
        finally:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--keys", default="", help="name=key,… (default: keyless)")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds per token")
    parser.add_argument("--slow-delay", type=float, default=0.0, help="the same, for 'slow…'")
    parser.add_argument("--replica-id", default="", help="default: CHATRPC_REPLICA_ID or host")
    parser.add_argument("--pace", type=float, default=0.0, help="seconds per echoed word")
    asyncio.run(serve(parser.parse_args()))
