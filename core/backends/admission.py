"""Admission for a model that serves one turn at a time (the embedded llama.cpp context).

Turns beyond the one running wait in a bounded FIFO queue. Each is told its position when
it enters (1: next to run); one that finds the queue full is refused at once with OVERLOADED
and a retry delay estimated from the measured decode rate: the turns ahead of it times the
average turn's tokens over tokens per second.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from core.errors import ConfigError, OverloadedError

DEFAULT_MAX_QUEUE = 4
_WEIGHT = 0.2  # of the newest turn in the moving averages
_FIRST_TURN_SECONDS = 1.0  # the estimate before any turn was measured


class Admission:
    """Counts the turns admitted to one model (running plus queued), at most 1 + max_queue."""

    def __init__(self, max_queue: int = DEFAULT_MAX_QUEUE) -> None:
        if max_queue < 0:
            raise ConfigError(f"max_queue must be >= 0, not {max_queue}")
        self.max_queue = max_queue
        self._admitted = 0
        self._lock = threading.Lock()  # record() runs on the model's worker thread
        self._tokens_per_second = 0.0
        self._tokens_per_turn = 0.0

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[int]:
        """Holds a place for one turn; yields its queue position (0: it runs at once)."""
        position = self._admitted
        if position > self.max_queue:
            raise OverloadedError(
                f"The model is busy: {self.max_queue} turns are already waiting.",
                retry_after=self.estimate(position),
                limit="model_queue",
            )
        self._admitted += 1
        try:
            yield position
        finally:
            self._admitted -= 1

    def record(self, tokens: int, seconds: float) -> None:
        """Folds one finished turn (`tokens` decoded in `seconds`) into the averages."""
        if tokens <= 0 or seconds <= 0:
            return
        with self._lock:
            rate = tokens / seconds
            if self._tokens_per_second == 0.0:
                self._tokens_per_second, self._tokens_per_turn = rate, float(tokens)
            else:
                self._tokens_per_second += _WEIGHT * (rate - self._tokens_per_second)
                self._tokens_per_turn += _WEIGHT * (tokens - self._tokens_per_turn)

    def estimate(self, turns: int) -> float:
        """Seconds for `turns` turns to finish at the measured rate."""
        with self._lock:
            if self._tokens_per_second == 0.0:
                return turns * _FIRST_TURN_SECONDS
            return turns * self._tokens_per_turn / self._tokens_per_second
