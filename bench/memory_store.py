"""Thread memory benchmark: turn-commit throughput and history-load latency, SQLite vs PostgreSQL.

Run from the repository root: `.venv/bin/python bench/memory_store.py`. PostgreSQL comes from
`--postgres-url`, else as for the tests (tests/pg.py: CHATRPC_TEST_POSTGRES_URL, a local server,
or a throwaway cluster); a fresh database is created and dropped. Each figure is bounded by a
turn count and a time budget, so a whole run takes well under two minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `core` and `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.memory import MemoryStore, open_store
from core.memory.base import TurnRecord
from core.types import FinishReason, Message, Role, Usage
from tests import pg

SEQUENTIAL_TURNS = 500
WRITERS, TURNS_PER_WRITER = 8, 100
HISTORY_SIZES = (10, 100, 1000)
LOADS = 200
BUDGET_S = 8.0  # per figure


@dataclass
class Figures:
    store: str
    sequential: float = 0.0
    concurrent: float = 0.0
    loads: dict[int, tuple[float, float]] = field(default_factory=dict)  # p50, p99 in ms


def _turn(thread_id: str, n: int) -> TurnRecord:
    question = f"Question {n}: what should I drink with 小笼包 this afternoon? " * 2
    answer = f"Answer {n}: a light oolong or 龙井 goes well; avoid anything too smoky. " * 3
    return TurnRecord(
        turn_id=f"turn_{uuid.uuid4().hex}",
        thread_id=thread_id,
        messages=(Message(Role.USER, question), Message(Role.ASSISTANT, answer)),
        model="bench",
        finish_reason=FinishReason.STOP,
        usage=Usage(prompt_tokens=40, completion_tokens=60),
        idempotency_key=uuid.uuid4().hex,
        request_hash="h",
        created=time.time(),
    )


async def _append(store: MemoryStore, thread_id: str, turns: int, deadline: float) -> int:
    """Commit up to `turns` turns to one thread, one after another; return how many."""
    for n in range(turns):
        if time.perf_counter() > deadline:
            return n
        await store.commit_turn("bench", 2 * n, _turn(thread_id, n))
    return turns


async def _throughput(store: MemoryStore, writers: int, turns: int) -> float:
    deadline = time.perf_counter() + BUDGET_S
    start = time.perf_counter()
    done = await asyncio.gather(
        *(_append(store, f"w{uuid.uuid4().hex}", turns, deadline) for _ in range(writers))
    )
    return sum(done) / (time.perf_counter() - start)


async def _load_latency(store: MemoryStore, turns: int) -> tuple[float, float]:
    thread_id = f"h{uuid.uuid4().hex}"
    built = await _append(store, thread_id, turns, time.perf_counter() + 4 * BUDGET_S)
    assert built == turns, f"building a {turns}-turn thread ran out of time"
    samples: list[float] = []
    deadline = time.perf_counter() + BUDGET_S
    while len(samples) < LOADS and time.perf_counter() < deadline:
        start = time.perf_counter()
        history, head = await store.load_history("bench", thread_id)
        samples.append((time.perf_counter() - start) * 1000)
        assert head == 2 * turns == len(history)
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return statistics.median(samples), cuts[98]


async def measure(name: str, url: str) -> Figures:
    store = await open_store(url)
    try:
        figures = Figures(name)
        figures.sequential = await _throughput(store, 1, SEQUENTIAL_TURNS)
        figures.concurrent = await _throughput(store, WRITERS, TURNS_PER_WRITER)
        for size in HISTORY_SIZES:
            figures.loads[size] = await _load_latency(store, size)
        return figures
    finally:
        await store.aclose()


def print_table(rows: list[Figures]) -> None:
    load_heads = [f"load {n} turns p50/p99 ms" for n in HISTORY_SIZES]
    heads = ["store", "seq turns/s", f"{WRITERS} writers turns/s", *load_heads]
    table = [heads] + [
        [
            f.store,
            f"{f.sequential:,.0f}",
            f"{f.concurrent:,.0f}",
            *(f"{f.loads[n][0]:.2f} / {f.loads[n][1]:.2f}" for n in HISTORY_SIZES),
        ]
        for f in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(heads))]
    for row in table:
        print("  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in
                        enumerate(zip(row, widths, strict=True))))  # fmt: skip


@contextlib.contextmanager
def postgres_database(explicit: str | None) -> Iterator[str | None]:
    if explicit:
        with pg.fresh_database(explicit, prefix="chatrpc_bench") as url:
            yield url
        return
    with pg.postgres_server() as found:
        if found.url is None:
            print(f"PostgreSQL skipped: {found.reason}")
            yield None
            return
        with pg.fresh_database(found.url, prefix="chatrpc_bench") as url:
            yield url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres-url", help="server URL allowed to CREATE DATABASE")
    args = parser.parse_args()
    print(
        f"python {platform.python_version()}, SQLite {sqlite3.sqlite_version}; "
        f"turn = user + assistant message (~{len(_turn('t', 0).messages[1].content)} chars);"
        f" {SEQUENTIAL_TURNS} sequential turns, {WRITERS}x{TURNS_PER_WRITER} concurrent turns,"
        f" {LOADS} loads per history size"
    )
    rows = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="chatrpc-bench-") as tmp:
        rows.append(pg.run(measure("sqlite", f"sqlite:///{tmp}/bench.db")))
    with postgres_database(args.postgres_url) as url:
        if url is not None:
            rows.append(pg.run(measure("postgres", url)))
    print_table(rows)
    print(f"total {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
