"""`make run-replicas`: N core replicas on consecutive ports and one gateway over them.

The replicas share one PostgreSQL database: CHATRPC_DATABASE_URL when it names one, otherwise
the server the tests would use (tests/pg.py: CHATRPC_TEST_POSTGRES_URL, a local server on
5432, or a throwaway cluster started for this run and removed after it), in a database
`chatrpc_replicas` created there on first use. Core i listens on 127.0.0.1:<core port + i> and
names itself "127.0.0.1:<port>" (CHATRPC_REPLICA_ID); the gateway balances over the list of
addresses (round_robin with health checks, see docs/operations/scaling.md). The processes inherit
the environment (CHATRPC_AUTH, CHATRPC_MODELS_FILE, ...). Ctrl-C (or SIGTERM) stops them all.

    python -m scripts.run_replicas --replicas 3 --core-port 50051 --gateway-port 8000
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg

from tests import pg

ROOT = Path(__file__).resolve().parents[1]
DATABASE = "chatrpc_replicas"


async def _ensure_database(server_url: str) -> None:
    conn = await asyncpg.connect(server_url)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE):
            await conn.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await conn.close()


@contextmanager
def database() -> Iterator[str]:
    """The PostgreSQL URL every replica uses (see the module docstring)."""
    configured = os.environ.get("CHATRPC_DATABASE_URL", "")
    if configured.startswith(("postgresql://", "postgres://")):
        yield configured
        return
    with pg.postgres_server() as found:
        if found.url is None:
            sys.exit(f"run-replicas needs PostgreSQL: {found.reason}")
        pg.run(_ensure_database(found.url))
        yield pg.database_url(found.url, DATABASE)


def metrics_port(index: int) -> str:
    """Core `index`'s Prometheus port: 9464 + index (N cores cannot share one), or "off" when
    CHATRPC_METRICS_PORT says so."""
    raw = os.environ.get("CHATRPC_METRICS_PORT", "9464").strip()
    return "off" if raw.lower() in ("off", "") else str(int(raw) + index)


def start(module: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", module], cwd=ROOT, env={**os.environ, **env})


def serve(replicas: int, core_port: int, gateway_port: int, url: str) -> int:
    """Starts the cores and the gateway; returns when one exits or a stop signal comes."""
    ports = [core_port + i for i in range(replicas)]
    children = [
        start(
            "core",
            {
                "CHATRPC_PORT": str(port),
                "CHATRPC_REPLICA_ID": f"127.0.0.1:{port}",
                "CHATRPC_DATABASE_URL": url,
                "CHATRPC_METRICS_PORT": metrics_port(i),
            },
        )
        for i, port in enumerate(ports)
    ]
    target = ",".join(f"127.0.0.1:{port}" for port in ports)
    children.append(
        start("gateway", {"CHATRPC_CORE_TARGET": target, "CHATRPC_GATEWAY_PORT": str(gateway_port)})
    )
    print(f"{replicas} cores on {target}; gateway on http://127.0.0.1:{gateway_port}", flush=True)
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while not stopping and all(child.poll() is None for child in children):
        time.sleep(0.2)
    for child in children:
        if child.poll() is None:
            child.terminate()
    codes = [child.wait(60) for child in children]
    return 0 if stopping else max(abs(code) for code in codes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--core-port", type=int, default=50051)
    parser.add_argument("--gateway-port", type=int, default=8000)
    args = parser.parse_args()
    if args.replicas < 1:
        parser.error("--replicas must be at least 1")
    with database() as url:
        sys.exit(serve(args.replicas, args.core_port, args.gateway_port, url))


if __name__ == "__main__":
    main()
