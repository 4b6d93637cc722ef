"""The frame every ChatService RPC shares: who is calling, and errors mapped once.

`unary` and `server_stream` turn a method `(self, request, caller)` into a grpc.aio handler
`(self, request, context)`: the caller comes from the guard (core.server.guard), which checked
the API key before the request's bytes were decoded and whose observer (core.server.observe)
turns every exception into the call's status through core.server.errors, once; the call runs
under its capped deadline (core.server.deadline). The servicer's methods are then only what
they serve.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import grpc

from core.auth import KeyLimits
from core.errors import InvalidArgumentError, StorageError
from core.keys.directory import KeyDirectory
from core.quotas import Quotas
from core.server.deadline import call_deadline, until, within
from core.types import Caller

logger = logging.getLogger(__name__)

IDEMPOTENCY_KEY = "idempotency-key"
REPLICA = "x-chatrpc-replica"  # initial metadata of every admitted call: the replica serving it
AUTHORIZATION = "authorization"
MAX_IDEMPOTENCY_KEY = 255

Request = TypeVar("Request")
Response = TypeVar("Response")
Context = grpc.aio.ServicerContext[Any, Any]


class Bounded(Protocol):
    """A servicer that knows the longest deadline it grants a call (seconds)."""

    @property
    def max_deadline(self) -> float: ...


S = TypeVar("S", bound=Bounded)


@dataclass(slots=True)
class Call:
    """One admitted ChatService call: its caller, their key's limits, and the headers (initial
    metadata) it owes the client: x-ratelimit-*, x-chatrpc-queue-position."""

    caller: Caller
    limits: KeyLimits
    context: Context
    headers: dict[str, str] = field(default_factory=dict)
    sent: bool = False

    async def send_headers(self, **extra: str) -> None:
        """Sends the headers (plus `extra`) as initial metadata, once, before any response."""
        if self.sent:
            return
        self.sent = True
        self.headers.update(extra)
        if self.headers:
            await self.context.send_initial_metadata(tuple(self.headers.items()))

    async def charge(self, quotas: Quotas, tokens: int) -> None:
        """Adds the turn's tokens to its key's tokens-per-minute window. This runs after the
        turn, which is stored and whose reply was sent by then: a rate-limit store that fails
        now is logged, never the call's outcome (a client told "failed" would retry a turn
        that was stored), and the next turn's admission finds the store down anyway."""
        try:
            await quotas.charge(self.caller.owner, self.limits, tokens)
        except StorageError:
            logger.warning("tokens of a finished turn not counted: the rate-limit store failed")


CALL: ContextVar[Call] = ContextVar("chatrpc_call")


def current_call() -> Call:
    """The call the guard admitted (set around every ChatService handler)."""
    return CALL.get()


def caller_of(values: Mapping[str, str], keys: KeyDirectory, request_id: str = "") -> Caller:
    """The caller of an RPC: the identity of its API key (checked first), its idempotency key
    and the request id its turn is stored with."""
    identity = keys.identify_key(values.get(AUTHORIZATION))
    key = values.get(IDEMPOTENCY_KEY, "")
    if IDEMPOTENCY_KEY in values and (
        not 0 < len(key) <= MAX_IDEMPOTENCY_KEY or not key.isprintable()
    ):
        raise InvalidArgumentError(
            f"idempotency-key must be 1-{MAX_IDEMPOTENCY_KEY} printable characters.",
            field="idempotency_key",
        )
    return Caller(
        owner=identity.owner, idempotency_key=key, request_id=request_id, key=identity.key
    )


def unary(
    method: Callable[[S, Request, Caller], Awaitable[Response]],
) -> Callable[[S, Request, Context], Awaitable[Response]]:
    """A unary handler around `method`: the guard's caller in, the response out."""

    @functools.wraps(method)
    async def handler(self: S, request: Request, context: Context) -> Response:
        async with within(call_deadline(context, self.max_deadline)):
            return await method(self, request, current_call().caller)

    return handler


def server_stream(
    method: Callable[[S, Request, Caller], AsyncGenerator[Response, None]],
) -> Callable[[S, Request, Context], AsyncIterator[Response]]:
    """A server-streaming handler around `method`: the guard's caller in, the stream out.

    It returns the stream rather than being an async generator: the guard (which every
    ChatService call goes through) iterates it; grpc on its own would run a plain function
    as a synchronous handler."""

    @functools.wraps(method)
    def handler(self: S, request: Request, context: Context) -> AsyncIterator[Response]:
        # until()'s generator itself, not a generator around it: one layer less per message.
        when = call_deadline(context, self.max_deadline)
        return until(method(self, request, current_call().caller), when)

    return handler
