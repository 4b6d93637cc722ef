"""The current call's deadline, for the code below the RPC frame that waits on others.

core/server/rpc.py sets it for each call (the client's gRPC deadline capped by the server's
maximum, CHATRPC_MAX_DEADLINE_SECONDS) and enforces it; a backend reads `remaining()` to
bound its own upstream request by it. A context variable, so it follows the call's task
without threading an argument through the pipeline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_DEADLINE: ContextVar[float | None] = ContextVar("chatrpc_deadline", default=None)


@contextmanager
def deadline_at(when: float) -> Iterator[None]:
    """Sets the deadline (event-loop time) for the code run inside."""
    token = _DEADLINE.set(when)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def remaining() -> float | None:
    """Seconds left before the current call's deadline (at least 0), or None without one."""
    when = _DEADLINE.get()
    if when is None:
        return None
    return max(0.0, when - asyncio.get_running_loop().time())
