"""Deployment: one upstream server of a model, with its backend, breaker and live figures."""

from __future__ import annotations

from dataclasses import dataclass

from core.backends.base import Backend
from core.routing.breaker import Breaker

LATENCY_WEIGHT = 0.2  # the moving average's weight for the newest time to first token


@dataclass(eq=False, slots=True)
class Deployment:
    """A deployment as the router sees it; `in_flight` and `latency` are this process's."""

    name: str
    backend: Backend
    breaker: Breaker
    weight: float = 1.0
    max_in_flight: int = 0  # 0: no cap
    context_window: int = 0  # 0: the model's
    in_flight: int = 0
    latency: float = 0.0  # seconds to first token, moving average; 0: not measured yet

    def usable(self, now: float) -> bool:
        """Its breaker lets an attempt through and it is under its cap."""
        if self.max_in_flight and self.in_flight >= self.max_in_flight:
            return False
        return self.breaker.eligible(now)

    def observe_latency(self, seconds: float) -> None:
        self.latency = (
            seconds
            if self.latency == 0.0
            else self.latency + LATENCY_WEIGHT * (seconds - self.latency)
        )
