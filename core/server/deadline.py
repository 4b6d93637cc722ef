"""Every RPC runs under a deadline: the client's, capped by the server's maximum.

A client may send any deadline (a year) or none; the core never works on a call longer
than `Settings.max_deadline`. It stops a little before the client's own deadline, so the
client gets the core's DEADLINE_EXCEEDED (with ErrorInfo) and generation stops (the turn
is cancelled, so nothing of it is stored), and the time left is visible below through
core.deadlines (a backend bounds its upstream request by it).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing, asynccontextmanager
from typing import Any, TypeVar

import grpc

from core.deadlines import deadline_at
from core.errors import DeadlineExceededError

MARGIN = 0.05  # seconds before the client's deadline at which the core gives up
T = TypeVar("T")


def call_deadline(context: grpc.aio.ServicerContext[Any, Any], maximum: float) -> float:
    """The event-loop time by which this call must end."""
    left = context.time_remaining()
    budget = maximum if left is None else min(left - MARGIN, maximum)
    return asyncio.get_running_loop().time() + max(0.0, budget)


@asynccontextmanager
async def within(when: float) -> AsyncIterator[None]:
    """Runs the block until `when` (event-loop time); past it, DeadlineExceededError."""
    with deadline_at(when):
        try:
            async with asyncio.timeout_at(when) as scope:
                yield
        except TimeoutError:
            if not scope.expired():
                raise
            raise DeadlineExceededError("The request's deadline passed.") from None


async def until(events: AsyncGenerator[T, None], when: float) -> AsyncGenerator[T, None]:
    """`events` while the deadline lasts; past it, DeadlineExceededError (and `events` is
    cancelled where it waits). Closed, it closes `events` in the same task.

    One timer for the whole stream, not a timeout armed and cancelled around each message
    (within(): measured 10-15 µs a message, once per token on a paced stream): it cancels
    the task only while it waits for `events`; past the deadline between two waits, the
    next wait does not start.
    """
    async with aclosing(events):
        task = asyncio.current_task()
        assert task is not None  # a grpc.aio handler runs in a task
        watch = _Watch(task)
        timer = asyncio.get_running_loop().call_at(when, watch.fire)
        try:
            while True:
                if watch.fired:
                    raise DeadlineExceededError("The request's deadline passed.")
                watch.waiting = True
                try:
                    with deadline_at(when):
                        event = await anext(events)
                except StopAsyncIteration:
                    return
                except asyncio.CancelledError:
                    if watch.cancelled and task.uncancel() <= watch.cancelling:
                        raise DeadlineExceededError("The request's deadline passed.") from None
                    raise
                finally:
                    watch.waiting = False
                yield event
        finally:
            timer.cancel()


class _Watch:
    """until()'s deadline: when it passes, a flag, and the task cancelled if it is waiting
    (asyncio.Timeout's way: `cancelling` tells our cancellation from anyone else's)."""

    __slots__ = ("cancelled", "cancelling", "fired", "task", "waiting")

    def __init__(self, task: asyncio.Task[Any]) -> None:
        self.task = task
        self.waiting = False
        self.fired = False
        self.cancelled = False
        self.cancelling = 0

    def fire(self) -> None:
        self.fired = True
        if self.waiting:
            self.cancelling = self.task.cancelling()
            self.cancelled = True
            self.task.cancel()
