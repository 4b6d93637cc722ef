"""The guard in front of every ChatService RPC, run before the request's bytes are parsed.

A grpc.aio server interceptor sees the method and the metadata first; it replaces each
ChatService handler's deserializer, so that in order:

1. the server's in-flight limit sheds the call (OVERLOADED, with a retry delay) when grpc looks
   its method up, with a prebuilt refusal that does not even read the request
   (core.server.shedding);
2. a peer that sent too many bad keys this minute is refused, then the key is checked (a bad
   one counts against its peer; trusted proxies, the gateway, throttle their own clients);
3. model work (a turn: Chat, StreamChat; Embed) is counted against its key's limits
   (core.quotas);
4. only then are the bytes decoded (core.server.wire: counted on the wire first, malformed
   input is INVALID_ARGUMENT).

Refusals are statuses with ErrorInfo (and RetryInfo) through core.server.errors. The
caller and the headers to send (x-ratelimit-*, the queue position, the replica's id) travel to
the servicer in a context variable; they go out as the call's initial metadata with its first
response, not before: gRPC's client retries a call (chatrpc.replica_service_config) only until
headers arrive, so earlier headers would close the window in which a dead replica's call is
retried elsewhere.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable
from contextlib import aclosing, asynccontextmanager
from typing import Any, TypeAlias, cast

import grpc
from google.protobuf import message_factory
from google.protobuf.message import Message

from chatrpc.v1 import chat_service_pb2 as pb
from core.auth import UNLIMITED
from core.errors import UnauthenticatedError
from core.keys.budgets import Budgets
from core.keys.directory import KeyDirectory
from core.quotas import Quotas
from core.server.observe import RpcObserver, RpcScope
from core.server.rpc import CALL, REPLICA, Call, Context, caller_of
from core.server.shedding import Shedder, overloaded
from core.server.spend import SpendMeter
from core.server.wire import chat_request_decoder, decoder
from core.settings import Limits
from observability.requests import (
    ATTEMPTS_HEADER,
    FALLBACK_HEADER,
    REQUEST_ID_HEADER,
    UPSTREAM_HEADER,
    RequestFields,
)

SERVICE = pb.DESCRIPTOR.services_by_name["ChatService"]
TURNS = ("Chat", "StreamChat")
# The RPCs that run a model, and so count against a key's requests, tokens and concurrency.
METERED = (*TURNS, "Embed")

Decode = Callable[[bytes], Message]


# What grpc.aio's write raises when the call closed under it (the client cancelled, or its
# connection died); a private class, so looked up, with context.done() as the fallback test.
_WRITE_FAILED: tuple[type[BaseException], ...] = tuple(
    getattr(importlib.import_module("grpc._cython.cygrpc"), name)
    for name in ("ExecuteBatchError",)
    if hasattr(importlib.import_module("grpc._cython.cygrpc"), name)
)

Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"


class Guard(grpc.aio.ServerInterceptor):
    """Admission for ChatService (see the module docstring); health and reflection pass."""

    def __init__(
        self,
        keys: KeyDirectory,
        quotas: Quotas,
        limits: Limits,
        *,
        max_in_flight: int,
        retry_after: float,
        trusted_proxies: Iterable[str] = (),
        replica_id: str = "",
        observer: RpcObserver | None = None,
        budgets: Budgets | None = None,
    ) -> None:
        self._budgets = budgets  # budgets and spend of virtual keys (core/server/spend.py)
        self._observer = observer or RpcObserver()
        self._keys = keys
        self._quotas = quotas
        self._max_in_flight = max_in_flight
        self._retry_after = retry_after
        self._trusted = frozenset(trusted_proxies)
        self._replica = {REPLICA: replica_id} if replica_id else {}
        self._in_flight = 0
        self._shedder = Shedder(retry_after)
        # The wrapped handler of each method, made once: the servicer's own handler is the
        # same object on every call, and wrapping it again cost every call.
        self._wrapped: dict[str, tuple[Handler, Handler]] = {}
        self._decoders: dict[str, Decode] = {}
        for method in SERVICE.methods:
            cls = message_factory.GetMessageClass(method.input_type)
            self._decoders[method.name] = (
                chat_request_decoder(cls, limits) if method.name in TURNS else decoder(cls)
            )

    @property
    def in_flight(self) -> int:
        """ChatService calls running now."""
        return self._in_flight

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await continuation(details)
        service, _, name = details.method.lstrip("/").partition("/")
        if handler is None or service != SERVICE.full_name or name not in self._decoders:
            return handler
        if self._in_flight >= self._max_in_flight:  # full: refused before it costs anything
            return self._shedder.handler(name, handler.unary_stream is not None)
        known = self._wrapped.get(name)
        if known is not None and known[0] is handler:
            return known[1]
        wrapped = self._wrap(name, handler)
        self._wrapped[name] = (handler, wrapped)
        return wrapped

    def _wrap(self, name: str, handler: Handler) -> Handler:
        decode, turn = self._decoders[name], name in METERED
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(name, handler.unary_unary, decode, turn),
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is None:  # ChatService has no client-streaming RPC
            return handler
        return grpc.unary_stream_rpc_method_handler(
            self._stream(
                name,
                cast(Callable[..., AsyncGenerator[Message, None]], handler.unary_stream),
                decode,
                turn,
            ),
            response_serializer=handler.response_serializer,
        )

    def _unary(
        self, name: str, inner: Callable[..., Awaitable[Message]], decode: Decode, turn: bool
    ) -> Callable[[bytes, Context], Awaitable[Message]]:
        async def behavior(data: bytes, context: Context) -> Message:
            async with (
                self._observer.scope(context, name) as rpc,
                self._admitted(context, turn, rpc) as call,
            ):
                request = decode(data)
                CALL.set(call)  # each RPC runs in a task of its own: nothing to reset
                spend = SpendMeter(self._budgets if turn else None, call.caller)
                await spend.admit(request)
                try:
                    response = await inner(request, context)
                except BaseException:
                    if turn:  # a failed turn is charged, and spends, what it generated
                        await call.charge(self._quotas, rpc.fields.generated)
                        await spend.settle(unreported=rpc.fields.generated)
                    raise
                await call.send_headers(**trail(rpc.fields))
                if turn:
                    spend.observe(response)
                    await call.charge(self._quotas, _usage_tokens(response))
                    await spend.settle()
                return response
            raise AssertionError("unreachable: status_on_error aborts")

        return behavior

    def _stream(
        self,
        name: str,
        inner: Callable[[Message, Context], AsyncGenerator[Message, None]],
        decode: Decode,
        turn: bool,
    ) -> Callable[[bytes, Context], Awaitable[None]]:
        # A coroutine that writes, not an async generator that grpc iterates: when a call is
        # cancelled while grpc sends a message, grpc drops the generator unclosed and Python
        # finalises it later in another task, whose context cannot reset the span and request
        # context set here ("Failed to detach context", logged as an ERROR). Written from
        # here, the inner stream is closed (aclosing) in the call's own task.
        async def behavior(data: bytes, context: Context) -> None:
            async with (
                self._observer.scope(context, name) as rpc,
                self._admitted(context, turn, rpc) as call,
            ):
                request = decode(data)
                CALL.set(call)  # each RPC runs in a task of its own: nothing to reset
                spend = SpendMeter(self._budgets if turn else None, call.caller)
                await spend.admit(request)
                tokens = 0
                try:
                    async with aclosing(inner(request, context)) as responses:
                        async for response in responses:
                            if not call.sent:  # the router's trail is known by the first message
                                await call.send_headers(**trail(rpc.fields))
                            tokens += _usage_tokens(response)
                            spend.observe(response)
                            await _write(context, response)
                finally:
                    if turn:  # without usage (cancelled, failed): what it generated
                        await call.charge(self._quotas, tokens or rpc.fields.generated)
                        await spend.settle(unreported=rpc.fields.generated)

        return behavior

    @asynccontextmanager
    async def _admitted(self, context: Context, turn: bool, rpc: RpcScope) -> AsyncIterator[Call]:
        """Steps 1-3 of the module docstring; the call's slot is held until it ends. The
        request id goes back with the call's other headers; a key without limits is not
        looked up in the quotas (they would admit it with no header)."""
        if self._in_flight >= self._max_in_flight:  # filled since the call was looked up
            raise overloaded(self._retry_after)
        self._in_flight += 1
        release: Callable[[], None] = _nothing
        try:
            peer = self._peer(context.peer())
            if peer is not None:
                await self._quotas.check_peer(peer)
            request_id = rpc.fields.request_id
            try:
                caller = caller_of(rpc.metadata, self._keys, request_id)
            except UnauthenticatedError:
                if peer is not None:
                    await self._quotas.bad_key(peer)
                raise
            headers = {**self._replica, REQUEST_ID_HEADER: request_id}
            call = Call(caller, self._keys.limits_of(caller.key), context, headers)
            if turn and call.limits != UNLIMITED:  # no look-up for a key without limits
                grant = await self._quotas.admit(caller.owner, call.limits)
                call.headers.update(grant.headers)
                release = grant.release
            yield call
        finally:
            release()
            self._in_flight -= 1

    def _peer(self, peer: str) -> str | None:
        """The caller's host ("ipv4:1.2.3.4:5678" → 1.2.3.4), or None for a trusted proxy
        (the gateway, which throttles its own clients' bad keys: gateway/http/throttle.py)."""
        host = peer.partition(":")[2].rpartition(":")[0].strip("[]") or peer
        return None if host in self._trusted else host


def _nothing() -> None:
    return None


async def _write(context: Context, response: Message) -> None:
    """Sends one message; a client that left meanwhile makes this a cancellation, as grpc's
    own generator-driven handler treats it, not a server error."""
    try:
        await context.write(response)
    except Exception as exc:
        if isinstance(exc, _WRITE_FAILED) or context.done():
            raise asyncio.CancelledError from None
        raise


def trail(fields: RequestFields) -> dict[str, str]:
    """The core router's trail (core/routing) as headers: x-chatrpc-upstream, -attempts and
    -fallback; empty for a turn that went through no router."""
    if not fields.upstream:
        return {}
    headers = {UPSTREAM_HEADER: fields.upstream, ATTEMPTS_HEADER: str(fields.attempts)}
    if fields.fallback:
        headers[FALLBACK_HEADER] = fields.fallback
    return headers


def _usage_tokens(response: Any) -> int:
    """Total tokens of a ChatResponse or a StreamChatResponse's usage message (else 0)."""
    if isinstance(response, pb.ChatResponse | pb.EmbedResponse):
        return int(response.usage.total_tokens)
    if isinstance(response, pb.StreamChatResponse) and response.HasField("usage"):
        return int(response.usage.total_tokens)
    return 0
