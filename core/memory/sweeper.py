"""The retention sweeper: every core replica runs one, each sweep a few bounded batches.

Every `interval` seconds (with ±20 % jitter, so replicas started together drift apart) it
calls the store's `sweep` until a batch comes back short or `max_batches` ran; a batch deletes
at most `batch` expired threads and compacts at most `batch` others, in one transaction (so
a turn waits for at most one batch). Replicas sweeping one PostgreSQL database take disjoint
threads (FOR UPDATE SKIP LOCKED), so running one per replica costs no coordination. A sweep
that fails (the database away) is logged and the next one tries again; the server never
stops serving because of it.

It runs even under the default policy (everything off): a thread may carry its own
`ttl_seconds` or `keep_latest`. With nothing to do a sweep is two index lookups.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable

from core.errors import StorageError
from core.memory.base import MemoryStore
from core.memory.lifecycle import RetentionPolicy, SweepResult

logger = logging.getLogger(__name__)


class Sweeper:
    """Runs `store.sweep(policy)` every `interval` seconds until closed (see the module)."""

    def __init__(
        self,
        store: MemoryStore,
        policy: RetentionPolicy,
        *,
        interval: float,
        batch: int = 100,
        max_batches: int = 10,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if interval <= 0 or batch <= 0 or max_batches <= 0:
            raise ValueError("interval, batch and max_batches must be positive")
        self._store = store
        self.policy = policy
        self._interval = interval
        self._batch = batch
        self._max_batches = max_batches
        self._clock = clock
        self._task: asyncio.Task[None] | None = None

    async def sweep_once(self) -> SweepResult:
        """One sweep: batches until one comes back short (or `max_batches`); the totals."""
        deleted: dict[str, int] = {}
        threads = compacted = 0
        more = False
        for _ in range(self._max_batches):
            result = await self._store.sweep(self.policy, now=self._clock(), limit=self._batch)
            for kind, n in result.deleted.items():
                deleted[kind] = deleted.get(kind, 0) + n
            threads += result.threads_deleted
            compacted += result.threads_compacted
            more = result.more
            if not more:
                break
        if threads or compacted:
            logger.info(
                "retention sweep: %d threads deleted, %d compacted, rows %s",
                threads,
                compacted,
                deleted,
            )
        return SweepResult(deleted, threads, compacted, more)

    def start(self) -> None:
        """Start sweeping on the running loop (once)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="sweeper")

    async def aclose(self) -> None:
        """Stop sweeping; a batch in flight is cancelled (its transaction rolls back)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval * random.uniform(0.8, 1.2))
            try:
                await self.sweep_once()
            except StorageError as exc:
                logger.warning("retention sweep failed: %s", exc.message)
