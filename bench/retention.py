"""Retention benchmark: what a sweep batch costs, and the memory an owner's export takes.

Run from the repository root: `.venv/bin/python bench/retention.py` (PostgreSQL as in
bench/memory_store.py: `--postgres-url`, else tests/pg.py finds or starts one; a fresh database
is created and dropped). For each store:

- sweep: `--threads` threads of two turns each expire together; the store is swept in
  batches of `--batch` (as the sweeper does); the time per batch (delete `batch` threads with
  their turns and messages in one transaction), and of a sweep with nothing to do;
- export: peak RSS growth of this process (ru_maxrss) while `--export-threads` threads of
  one owner (a 2 000-character message each) are exported line by line through the store,
  and then through a real core over gRPC with the SDK (server and client in one process);
  each in a fresh child process, so the peak is the export's and not the seeding's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `core` and `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import chatrpc
from bench.memory_store import postgres_database
from core.catalog import ModelCatalog, ModelSpec
from core.memory import MemoryStore, open_store
from core.memory.lifecycle import RetentionPolicy
from core.types import DEFAULT_OWNER
from tests import pg
from tests.core.memory.contract import assistant, record, user
from tests.servers import CoreThread


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def seed(store: MemoryStore, owner: str, threads: int, turns: int, text: str) -> None:
    for i in range(threads):
        for k in range(turns):
            rec = replace(record(f"t{i:05}", user(text), assistant(f"a{k}")), created=1.0)
            await store.commit_turn(owner, 2 * k, rec)


async def sweep_cost(url: str, threads: int, batch: int) -> str:
    store = await open_store(url)
    try:
        await seed(store, "sweep", threads, 2, "q")
        policy = RetentionPolicy(thread_ttl=1.0)
        later = time.time() + 10
        times = []
        while True:
            started = time.perf_counter()
            result = await store.sweep(policy, now=later, limit=batch)
            times.append(time.perf_counter() - started)
            if not result.more:
                break
        started = time.perf_counter()
        await store.sweep(policy, now=later, limit=batch)
        idle = time.perf_counter() - started
    finally:
        await store.aclose()
    full = times[:-1] or times
    return (
        f"sweep: {len(times)} batches of <= {batch} threads (2 turns, 4 messages each):"
        f" {1000 * sum(full) / len(full):.1f} ms per full batch;"
        f" a sweep with nothing to do {1000 * idle:.2f} ms"
    )


async def seed_export(url: str, threads: int) -> None:
    store = await open_store(url)
    try:
        await seed(store, DEFAULT_OWNER, threads, 1, "x" * 2000)
    finally:
        await store.aclose()


async def export_store(url: str) -> str:
    store = await open_store(url)
    try:
        before, size = rss_mb(), 0
        async for chunk in store.export_lines(DEFAULT_OWNER):
            size += len(chunk)
        streamed = rss_mb() - before
        whole = b"".join([c async for c in store.export_lines(DEFAULT_OWNER)])  # the contrast
        return (
            f"export via the store: {size / 1e6:.1f} MB streamed, peak RSS +{streamed:.1f} MB"
            f" (held whole instead: +{rss_mb() - before:.1f} MB for {len(whole) / 1e6:.1f} MB)"
        )
    finally:
        await store.aclose()


def export_grpc(url: str) -> str:
    catalog = ModelCatalog([ModelSpec(name="scripted", backend="scripted", context_window=4096)])
    core = CoreThread(catalog, database_url=url)
    try:
        with chatrpc.Client(core.target) as client:
            list(client.export_threads("t00000"))  # warm both ends' code paths up first
            before, size = rss_mb(), 0
            for piece in client.export_threads():
                size += len(piece)
        return f"export via gRPC + SDK: {size / 1e6:.1f} MB, peak RSS +{rss_mb() - before:.1f} MB"
    finally:
        core.stop()


def child(url: str, what: str) -> None:
    """One export measured in a fresh process, so the seeding's memory is not the peak."""
    print(pg.run(export_store(url)) if what == "store" else export_grpc(url))


def measure(name: str, url: str, args: argparse.Namespace) -> None:
    print(f"[{name}] {pg.run(sweep_cost(url, args.threads, args.batch))}")
    pg.run(seed_export(url, args.export_threads))
    for what in ("store", "grpc"):
        command = [sys.executable, __file__, "--child", what, "--url", url]
        line = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        print(f"[{name}] {line.strip()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres-url", help="server URL allowed to CREATE DATABASE")
    parser.add_argument("--threads", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--export-threads", type=int, default=1000)
    parser.add_argument("--child", choices=("store", "grpc"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.url, args.child)
        return
    print(f"start RSS {rss_mb():.1f} MB")
    with tempfile.TemporaryDirectory(prefix="chatrpc-bench-") as tmp:
        measure("sqlite", f"sqlite:///{tmp}/bench.db", args)
    with postgres_database(args.postgres_url) as url:
        if url is not None:
            with contextlib.suppress(KeyboardInterrupt):
                measure("postgres", url, args)


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    main()
