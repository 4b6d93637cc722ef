"""The strategies' picks over deployments (the model faked: ScriptedBackend)."""

from __future__ import annotations

import random
from collections import Counter

from core.routing.breaker import Breaker, BreakerConfig
from core.routing.deployment import Deployment
from core.routing.strategies import STRATEGIES
from tests.fakes import ScriptedBackend


def deployments(*weights: float) -> list[Deployment]:
    return [
        Deployment(f"d{i}", ScriptedBackend(), Breaker(BreakerConfig()), weight=w)
        for i, w in enumerate(weights)
    ]


def test_weighted_follows_the_weights():
    random.seed(7)
    pool = deployments(1, 3)
    picks = Counter(STRATEGIES["weighted"]().pick(pool, pool, "").name for _ in range(4000))
    assert 0.70 < picks["d1"] / 4000 < 0.80


def test_least_busy_takes_the_fewest_in_flight():
    pool = deployments(1, 1, 1)
    pool[0].in_flight, pool[1].in_flight, pool[2].in_flight = 3, 1, 2
    assert STRATEGIES["least_busy"]().pick(pool, pool, "").name == "d1"


def test_latency_tries_the_unmeasured_then_stays_within_the_buffer_of_the_best():
    pool = deployments(1, 1, 1)
    for deployment, seconds in zip(pool, (0.100, 0.105, 0.300), strict=True):
        deployment.observe_latency(seconds)
    picks = {STRATEGIES["latency"]().pick(pool, pool, "").name for _ in range(200)}
    assert picks == {"d0", "d1"}
    fresh = deployments(1)[0]
    assert STRATEGIES["latency"]().pick([*pool, fresh], [*pool, fresh], "") is fresh


def test_thread_affinity_is_the_same_for_two_replicas_and_moves_when_home_is_ineligible():
    pool = deployments(1, 1, 1)
    one, two = STRATEGIES["thread_affinity"](), STRATEGIES["thread_affinity"]()
    homes = {f"t{i}": one.pick(pool, pool, f"t{i}").name for i in range(12)}
    assert {t: two.pick(pool, pool, t).name for t in homes} == homes  # same order, same homes
    thread = next(t for t, home in homes.items() if home == "d0")
    assert one.pick(pool[1:], pool, thread).name in ("d1", "d2")
