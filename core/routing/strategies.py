"""How the router picks one deployment among the eligible ones: an explicit table of
strategies, keyed by the name the catalog's `routing.strategy` gives.

    weighted          random, in proportion to each deployment's `weight` (the default)
    least_busy        fewest attempts in flight in this process (ties: the first listed)
    latency           random among those whose moving-average time to first token is within
                      LATENCY_BUFFER of the best (an unmeasured deployment is tried first)
    thread_affinity   a thread's turns on one deployment (vLLM / llama.cpp prefix caches stay
                      warm), by rendezvous hashing of its thread id with bounded load: a new
                      thread skips, in its hash order, deployments holding more than
                      AFFINITY_BOUND times the average number of threads; a thread whose deployment
                      is ineligible (open, at its cap) or over AFFINITY_BOUND times the average load
                      in flight goes to the least busy one for that turn
"""

from __future__ import annotations

import hashlib
import random
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Final, Protocol

from core.routing.deployment import Deployment

LATENCY_BUFFER: Final = 0.1  # a deployment 10 % slower than the best still takes its share
AFFINITY_BOUND: Final = 1.25
MAX_REMEMBERED_THREADS: Final = 100_000


class Strategy(Protocol):
    """Picks one of `candidates` (eligible, non-empty) among `every` deployment of the model."""

    def pick(
        self, candidates: Sequence[Deployment], every: Sequence[Deployment], key: str
    ) -> Deployment: ...


class Weighted:
    def pick(
        self, candidates: Sequence[Deployment], every: Sequence[Deployment], key: str
    ) -> Deployment:
        if len(candidates) == 1:
            return candidates[0]
        return random.choices(candidates, [d.weight for d in candidates])[0]


class LeastBusy:
    def pick(
        self, candidates: Sequence[Deployment], every: Sequence[Deployment], key: str
    ) -> Deployment:
        return min(candidates, key=lambda d: d.in_flight)


class Latency:
    def pick(
        self, candidates: Sequence[Deployment], every: Sequence[Deployment], key: str
    ) -> Deployment:
        unmeasured = [d for d in candidates if d.latency == 0.0]
        if unmeasured:
            return unmeasured[0]
        best = min(d.latency for d in candidates)
        near = [d for d in candidates if d.latency <= best * (1 + LATENCY_BUFFER)]
        return random.choice(near)


class ThreadAffinity:
    """Remembers which deployment each recent thread went to (a bounded LRU), so the bounded
    placement of a thread is decided once and its later turns follow it."""

    def __init__(self) -> None:
        self._placed: OrderedDict[str, str] = OrderedDict()
        self._threads: dict[str, int] = {}

    def pick(
        self, candidates: Sequence[Deployment], every: Sequence[Deployment], key: str
    ) -> Deployment:
        if not key:
            return LeastBusy().pick(candidates, every, key)
        home = self._home(key, every)
        average = sum(d.in_flight for d in every) / len(every)
        for deployment in candidates:
            if deployment.name == home and deployment.in_flight <= AFFINITY_BOUND * average + 1:
                return deployment
        return LeastBusy().pick(candidates, every, key)

    def _home(self, key: str, every: Sequence[Deployment]) -> str:
        home = self._placed.get(key)
        if home is not None:
            self._placed.move_to_end(key)
            return home
        bound = AFFINITY_BOUND * (sum(self._threads.values()) + 1) / len(every)
        ranked = sorted(every, key=lambda d: _score(key, d.name), reverse=True)
        home = next((d.name for d in ranked if self._threads.get(d.name, 0) + 1 <= bound), "")
        home = home or ranked[0].name
        self._placed[key] = home
        self._threads[home] = self._threads.get(home, 0) + 1
        if len(self._placed) > MAX_REMEMBERED_THREADS:
            _, gone = self._placed.popitem(last=False)
            self._threads[gone] -= 1
        return home


def _score(key: str, name: str) -> int:
    """Rendezvous hashing: every replica ranks a thread's deployments the same way."""
    digest = hashlib.blake2b(f"{key}\0{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


STRATEGIES: Final[Mapping[str, Callable[[], Strategy]]] = {
    "weighted": Weighted,
    "least_busy": LeastBusy,
    "latency": Latency,
    "thread_affinity": ThreadAffinity,
}
