"""Breaker: one upstream deployment's circuit breaker.

    closed ──`failures` consecutive failures, a 429, or a misconfiguration──▶ open
    open ──`cooldown` (or the 429's Retry-After) elapsed──▶ half-open: one probe at a time
    half-open ──`successes` probe successes──▶ closed;  ──a failure──▶ open again

Times are wall-clock seconds (time.time()), so an `open_until` means the same on every core
replica that shares it (core/routing/shared.py). A breaker never waits or does I/O: it
answers whether its deployment may take an attempt now and when it reopens.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass


class State(enum.IntEnum):
    """A breaker's state; the value is chatrpc_breaker_state's."""

    CLOSED = 0
    OPEN = 1
    HALF_OPEN = 2


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    """A model's `[breaker]` table."""

    failures: int = 3
    cooldown: float = 10.0
    successes: int = 1


Listener = Callable[["Breaker"], None]


class Breaker:
    """Closed, open until `open_until`, or half-open with at most one probe in flight."""

    def __init__(self, config: BreakerConfig, on_change: Listener | None = None) -> None:
        self.config = config
        self.state = State.CLOSED
        self.open_until = 0.0
        self._failures = 0
        self._successes = 0
        self._probing = False
        self._on_change = on_change

    def watch(self, listener: Listener) -> None:
        """Calls `listener` on every transition this process makes (not on adopted ones)."""
        self._on_change = listener

    def eligible(self, now: float) -> bool:
        """May an attempt start here now (closed, cooled down, or a free probe slot)?"""
        if self.state is State.CLOSED:
            return True
        if self.state is State.OPEN:
            return now >= self.open_until
        return not self._probing

    def reopens_at(self, now: float) -> float | None:
        """When an attempt may start here: now if eligible, the end of the cooldown if open,
        None while a probe is in flight (it ends by its own attempt's deadline)."""
        if self.eligible(now):
            return now
        return self.open_until if self.state is State.OPEN else None

    def acquire(self, now: float) -> None:
        """Takes the deployment for one attempt (the probe slot when it is half-open)."""
        if self.state is State.OPEN and now >= self.open_until:
            self._set(State.HALF_OPEN)
            self._successes = 0
        if self.state is State.HALF_OPEN:
            self._probing = True

    def succeeded(self) -> None:
        """An attempt answered (its stream ended well)."""
        self._failures = 0
        if self.state is State.HALF_OPEN:
            self._probing = False
            self._successes += 1
            if self._successes >= self.config.successes:
                self._set(State.CLOSED)

    def close(self) -> None:
        """The deployment answers again (a good health probe): closed at once."""
        self._failures = self._successes = 0
        self._probing = False
        self._set(State.CLOSED)

    def released(self) -> None:
        """An attempt ended telling nothing about the deployment (cancelled, a bad request)."""
        self._probing = False

    def failed(self, now: float) -> None:
        """One more failure: opens after `failures` in a row, or at once when half-open."""
        self._probing = False
        self._failures += 1
        if self.state is State.HALF_OPEN or self._failures >= self.config.failures:
            self.open(now + self.config.cooldown)

    def cool(self, now: float, seconds: float | None) -> None:
        """Rate limited: open for the upstream's Retry-After, else `cooldown`."""
        self._probing = False
        self.open(now + (self.config.cooldown if seconds is None else seconds))

    def open(self, until: float) -> None:
        """Open until `until` (a later reopening already known is kept)."""
        self._failures = 0
        self._probing = False
        self.open_until = max(until, self.open_until if self.state is State.OPEN else 0.0)
        self._set(State.OPEN, force=True)

    def adopt(self, until: float, now: float) -> None:
        """Another replica opened this deployment until `until`: skip it here too."""
        if until > now and (self.state is not State.OPEN or until > self.open_until):
            self.open_until = until
            self._probing = False
            self._set(State.OPEN, notify=False)

    def _set(self, state: State, *, force: bool = False, notify: bool = True) -> None:
        changed = state is not self.state
        self.state = state
        if (changed or force) and notify and self._on_change is not None:
            self._on_change(self)
