"""Budgets and spend: a key over its budget is refused before a turn; every turn's reported
usage is recorded per key, model and UTC day, priced from the catalog.

Prices come from the model catalog, handed in as a function (core/server/spend.py).
Budgets are checked against the spend table (so every replica sees the same totals), once per
metered call, before any model work. A turn that starts under budget runs to its end; its
usage is recorded afterwards, so a key may overshoot by its last turn.

A call's spend is written in the background (`record_soon`): a commit per call costs about
0.4 ms on SQLite and several on PostgreSQL (10 ms measured on a loaded 2-core machine), which
no reply should wait for. Until its write lands, the replica counts it as pending in its own
budget checks; another replica sees it once written.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from core.errors import BudgetExceededError, PermissionDeniedError, StorageError
from core.keys.base import NO_BUDGET, KeyStore, VirtualKey
from core.keys.directory import KeyDirectory
from core.types import Caller

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Pending:
    """One call's spend not yet written: key, UTC day, tokens, millionths of a dollar."""

    key: str
    day: str
    tokens: int
    micros: int


class Budgets:
    """Admission by budget and model list, and spend recording (see the module docstring)."""

    def __init__(
        self,
        directory: KeyDirectory,
        store: KeyStore,
        prices: Callable[[str], tuple[float, float]],
        *,
        default_model: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._directory = directory
        self._store = store
        self._prices = prices  # model → US dollars per million (prompt, completion) tokens
        self._default_model = default_model
        self._clock = clock
        self._pending: list[_Pending] = []
        self._writes: set[asyncio.Task[None]] = set()

    async def admit(self, caller: Caller, model: str) -> None:
        """PermissionDeniedError for a model outside the key's list; BudgetExceededError
        when a budget is spent."""
        key = self._directory.virtual(caller.key)
        if key is None:
            return
        model = model or self._default_model
        if key.models and model not in key.models:
            raise PermissionDeniedError(f"This key may not use the model {model!r}.", field="model")
        if key.budget != NO_BUDGET:
            await self._check_budget(key)

    async def _check_budget(self, key: VirtualKey) -> None:
        now = datetime.fromtimestamp(self._clock(), UTC)
        month = now.strftime("%Y-%m-01")
        today = now.strftime("%Y-%m-%d")
        rows = await self._store.spend(key.name, month)
        day_rows = [r for r in rows if r.day == today]
        pending = [p for p in self._pending if p.key == key.name and p.day >= month]
        today_pending = [p for p in pending if p.day == today]
        used = {
            "tokens_per_day": sum(r.prompt_tokens + r.completion_tokens for r in day_rows)
            + sum(p.tokens for p in today_pending),
            "tokens_per_month": sum(r.prompt_tokens + r.completion_tokens for r in rows)
            + sum(p.tokens for p in pending),
            "usd_per_day": sum(r.cost_usd for r in day_rows)
            + sum(p.micros for p in today_pending) / 1e6,
            "usd_per_month": sum(r.cost_usd for r in rows) + sum(p.micros for p in pending) / 1e6,
        }
        tomorrow = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        next_month = (now.replace(day=28) + timedelta(days=4)).replace(
            day=1, hour=0, minute=0, second=0, microsecond=0
        )
        for name, used_value in used.items():
            limit = getattr(key.budget, name)
            if limit and used_value >= limit:
                resets = tomorrow if name.endswith("day") else next_month
                raise BudgetExceededError(
                    f"The key's {name} budget ({limit:g}) is spent; it resets at"
                    f" {resets.isoformat()}.",
                    retry_after=(resets - now).total_seconds(),
                    budget=name,
                    resets_at=resets.isoformat(),
                )

    async def record(self, caller: Caller, model: str, prompt: int, completion: int) -> None:
        """Add one call's usage (as reported) to the key's spend for today, now."""
        if prompt <= 0 and completion <= 0:
            return
        input_price, output_price = self._prices(model)
        micros = round(prompt * input_price + completion * output_price)
        day = datetime.fromtimestamp(self._clock(), UTC).strftime("%Y-%m-%d")
        pending = _Pending(caller.key or caller.owner, day, prompt + completion, micros)
        self._pending.append(pending)
        try:
            usage = (prompt, completion)
            await self._store.record_spend(pending.key, caller.owner, model, day, usage, micros)
        finally:
            self._pending.remove(pending)

    def record_soon(self, caller: Caller, model: str, prompt: int, completion: int) -> None:
        """`record` in the background (see the module docstring); a failed write is logged."""
        task = asyncio.get_running_loop().create_task(
            self._record_logged(caller, model, prompt, completion)
        )
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def drain(self) -> None:
        """Wait for the spend writes in flight (at shutdown)."""
        while self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)

    async def _record_logged(
        self, caller: Caller, model: str, prompt: int, completion: int
    ) -> None:
        try:
            await self.record(caller, model, prompt, completion)
        except StorageError as exc:
            logger.warning("spend of key %s not recorded: %s", caller.key, exc.message)
