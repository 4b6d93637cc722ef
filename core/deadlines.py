"""The current call's deadline, for the code below the RPC frame that waits on others.

core/server/rpc.py sets it for each call (the client's gRPC deadline capped by the server's
maximum, CHATRPC_MAX_DEADLINE_SECONDS) and enforces it; a backend reads `remaining()` to
bound its own upstream request by it. A context variable, so it follows the call's task
without threading an argument through the pipeline.
"""

from __future__ import annotations

import asyncio
from contextvars import ContextVar, Token

_DEADLINE: ContextVar[float | None] = ContextVar("chatrpc_deadline", default=None)


class deadline_at:  # a function's name: it is used as `with deadline_at(when):`
    """Sets the deadline (event-loop time) for the code run inside. A class rather than a
    generator-based context manager: a streamed reply enters it once per message."""

    __slots__ = ("_token", "_when")

    def __init__(self, when: float) -> None:
        self._when = when

    def __enter__(self) -> None:
        self._token: Token[float | None] = _DEADLINE.set(self._when)

    def __exit__(self, *exc: object) -> None:
        _DEADLINE.reset(self._token)


def remaining() -> float | None:
    """Seconds left before the current call's deadline (at least 0), or None without one."""
    when = _DEADLINE.get()
    if when is None:
        return None
    return max(0.0, when - asyncio.get_running_loop().time())
