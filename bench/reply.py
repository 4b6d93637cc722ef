"""The fixed reply every bench server produces, and the pace of the paced ones.

Plain Python, no chatrpc import: the mock upstream, the bare chain and the load generator use
it, and they must keep working whatever the service's internals become.

Every server answers `bench-model` with the reply of `reply_tokens(N)` ("w0", " w1", …, 64
tokens by default) as fast as it can, and `bench-model-paced` with the same reply at one token
per `pace` seconds (10 ms: 100 tokens/s per stream). Paced streams share one clock: token k of
a stream is due on the k-th tick of a global grid after the request arrived, as a batching
inference server (vLLM, LightLLM) emits one token for every running sequence per step.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import socket
from typing import Any

BENCH_MODEL = "bench-model"
PACED_MODEL = "bench-model-paced"
SPLIT_MODEL = "bench-model-split"  # the mock only: instant, but one write per SSE event
DEFAULT_TOKENS = 64
DEFAULT_PACE = 0.010  # seconds per token of a paced stream


def reply_tokens(n: int) -> list[str]:
    """The N "tokens" of the fixed reply: "w0", " w1", " w2", ..."""
    return [f"w{i}" if i == 0 else f" w{i}" for i in range(n)]


def expected_text(n: int) -> str:
    """The whole fixed reply of N tokens."""
    return "".join(reply_tokens(n))


def is_paced(model: str) -> bool:
    return model.endswith("-paced")


def count_prompt_tokens(messages: Any) -> int:
    """A cheap, deterministic token count: words plus a per-message overhead of 4."""
    total = 0
    for message in messages or ():
        content = message.get("content") if isinstance(message, dict) else None
        text = content if isinstance(content, str) else str(content or "")
        total += 4 + len(text.split())
    return total


class TickGrid:
    """A global grid of ticks, one every `pace` seconds of the running loop's clock.

    `first_due()` is the tick on which a stream starting now gets its first token; on tick
    `t`, a stream whose first token was due on tick `f` has `t - f + 1` tokens due.
    `next_tick()` is one future shared by every waiter, resolved on the next tick, so that
    256 paced streams cost one timer per tick rather than one each.
    """

    def __init__(self, pace: float = DEFAULT_PACE) -> None:
        if pace <= 0:
            raise ValueError("pace must be positive")
        self.pace = pace
        self._epoch: float | None = None
        self._next: asyncio.Future[int] | None = None

    def _loop_time(self) -> float:
        loop = asyncio.get_running_loop()
        if self._epoch is None:
            self._epoch = loop.time()
        return loop.time()

    def index(self) -> int:
        """The last tick that has come (a hundredth of a tick of slack for timer rounding)."""
        now = self._loop_time()
        assert self._epoch is not None
        return math.floor((now - self._epoch) / self.pace + 0.01)

    def first_due(self) -> int:
        return self.index() + 1

    def time_of(self, tick: int) -> float:
        self._loop_time()
        assert self._epoch is not None
        return self._epoch + tick * self.pace

    def next_tick(self) -> asyncio.Future[int]:
        if self._next is None:
            loop = asyncio.get_running_loop()
            tick = self.index() + 1
            future: asyncio.Future[int] = loop.create_future()
            loop.call_at(self.time_of(tick), self._fire, future, tick)
            self._next = future
        return self._next

    def _fire(self, future: asyncio.Future[int], tick: int) -> None:
        self._next = None
        if not future.done():
            future.set_result(tick)


def no_delay(transport: asyncio.BaseTransport) -> None:
    """TCP_NODELAY on a connection of a bench server or client: small writes leave at once."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def use_uvloop() -> bool:
    """Installs uvloop's event loop policy when uvloop is importable (bench tools only)."""
    try:
        import uvloop
    except ImportError:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True
