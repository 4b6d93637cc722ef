"""The frame every ChatService RPC shares: who is calling (checked first), and errors mapped once.

`unary` and `server_stream` turn a method `(self, request, caller)` into a grpc.aio handler
`(self, request, context)`: the caller's API key is checked before anything else happens (the
request has been decoded by grpc, nothing more), and every exception becomes the call's status
through core.server.errors. The servicer's methods are then only what they serve.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, Protocol, TypeVar

import grpc

from core.auth import KeyRing
from core.errors import InvalidArgumentError
from core.server.errors import status_on_error
from core.types import Caller

IDEMPOTENCY_KEY = "idempotency-key"
AUTHORIZATION = "authorization"
MAX_IDEMPOTENCY_KEY = 255

Request = TypeVar("Request")
Response = TypeVar("Response")
Context = grpc.aio.ServicerContext[Any, Any]


class Authenticated(Protocol):
    """A servicer that knows the configured API keys."""

    @property
    def keys(self) -> KeyRing: ...


S = TypeVar("S", bound=Authenticated)


def caller_of(metadata: Iterable[tuple[str, str | bytes]] | None, keys: KeyRing) -> Caller:
    """The caller of an RPC: the identity of its API key (checked first), its idempotency key."""
    values = {name: value for name, value in metadata or () if isinstance(value, str)}
    owner = keys.identify(values.get(AUTHORIZATION))
    key = values.get(IDEMPOTENCY_KEY, "")
    if IDEMPOTENCY_KEY in values and (
        not 0 < len(key) <= MAX_IDEMPOTENCY_KEY or not key.isprintable()
    ):
        raise InvalidArgumentError(
            f"idempotency-key must be 1-{MAX_IDEMPOTENCY_KEY} printable characters.",
            field="idempotency_key",
        )
    return Caller(owner=owner, idempotency_key=key)


def unary(
    method: Callable[[S, Request, Caller], Awaitable[Response]],
) -> Callable[[S, Request, Context], Awaitable[Response]]:
    """A unary handler around `method`: authenticate, call, map errors to the status."""

    @functools.wraps(method)
    async def handler(self: S, request: Request, context: Context) -> Response:
        async with status_on_error(context):
            return await method(self, request, caller_of(context.invocation_metadata(), self.keys))
        raise AssertionError("unreachable: status_on_error aborts")

    return handler


def server_stream(
    method: Callable[[S, Request, Caller], AsyncIterator[Response]],
) -> Callable[[S, Request, Context], AsyncIterator[Response]]:
    """A server-streaming handler around `method`: authenticate, stream, map errors."""

    @functools.wraps(method)
    async def handler(self: S, request: Request, context: Context) -> AsyncIterator[Response]:
        async with status_on_error(context):
            caller = caller_of(context.invocation_metadata(), self.keys)
            async for response in method(self, request, caller):
                yield response

    return handler
