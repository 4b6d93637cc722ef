"""Budgets on a real store: money priced from the catalog's prices, days and months in UTC,
a key's model list, and configured keys left alone."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from core.auth import KeyRing, digest
from core.errors import BudgetExceededError, PermissionDeniedError
from core.keys.base import Budget, VirtualKey
from core.keys.budgets import Budgets
from core.keys.directory import KeyDirectory
from core.memory import MemoryStore, open_store
from core.types import Caller

PRICES = {"priced": (100_000.0, 200_000.0)}  # dollars per million prompt / completion tokens


@pytest.fixture
async def store(sqlite_url: str) -> AsyncIterator[MemoryStore]:
    store = await open_store(sqlite_url)
    yield store
    await store.aclose()


async def budgets_for(store: MemoryStore, key: VirtualKey, now: float) -> Budgets:
    await store.create_key(key)
    directory = KeyDirectory(KeyRing({"static": digest("sk-static-0123")}), store)
    await directory.reload()
    return Budgets(
        directory,
        store,
        lambda m: PRICES.get(m, (0.0, 0.0)),
        default_model="priced",
        clock=lambda: now,
    )


async def test_a_dollar_budget_is_priced_from_the_catalog(store: MemoryStore) -> None:
    now = time.time()
    key = VirtualKey(name="k", owner="team", digest="d", budget=Budget(usd_per_day=1.0))
    budgets = await budgets_for(store, key, now)
    caller = Caller(owner="team", key="k")

    await budgets.admit(caller, "priced")
    await budgets.record(caller, "priced", 4, 1)  # 4 x $0.1 + 1 x $0.2 = $0.6
    await budgets.admit(caller, "")  # the default model, still under budget
    await budgets.record(caller, "priced", 2, 1)  # + $0.4: $1.0 spent
    with pytest.raises(BudgetExceededError) as caught:
        await budgets.admit(caller, "priced")

    assert caught.value.metadata["budget"] == "usd_per_day"
    tomorrow = datetime.fromtimestamp(now, UTC).date().toordinal() + 1
    resets = datetime.fromisoformat(caught.value.metadata["resets_at"])
    assert resets.date().toordinal() == tomorrow and resets.hour == 0
    assert 0 < (caught.value.retry_after or 0) <= 86400
    (row,) = await store.spend("k", "2000-01-01")
    assert (row.prompt_tokens, row.completion_tokens, row.cost_usd) == (6, 2, 1.0)


async def test_a_monthly_token_budget_counts_every_day_of_the_month(store: MemoryStore) -> None:
    now = time.time()
    key = VirtualKey(name="k", owner="team", digest="d", budget=Budget(tokens_per_month=10))
    budgets = await budgets_for(store, key, now)
    month = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-01")
    await store.record_spend("k", "team", "free", month, (6, 4), 0)  # earlier this month
    with pytest.raises(BudgetExceededError) as caught:
        await budgets.admit(Caller(owner="team", key="k"), "free")
    assert caught.value.metadata["budget"] == "tokens_per_month"


async def test_a_key_uses_only_its_models_and_configured_keys_have_no_budget(
    store: MemoryStore,
) -> None:
    key = VirtualKey(name="k", owner="team", digest="d", models=("priced",))
    budgets = await budgets_for(store, key, time.time())
    with pytest.raises(PermissionDeniedError):
        await budgets.admit(Caller(owner="team", key="k"), "free")
    await budgets.admit(Caller(owner="static", key="static"), "free")  # not a virtual key
    await budgets.record(Caller(owner="static", key="static"), "free", 3, 2)
    (row,) = await store.spend("static", "2000-01-01")
    assert (row.model, row.prompt_tokens, row.completion_tokens, row.cost_usd) == (
        "free",
        3,
        2,
        0.0,
    )
