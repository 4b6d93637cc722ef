"""One HTTP request as the routes see it: a RequestContext, built once per request by the
router dependency `request_context` (the API-key check included) and handed to helpers, so
no helper reads app state or headers itself (as the core's `Call` is to its RPCs). It also
watches for the client going away: a disconnect cancels the awaited call to the core."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Annotated, TypedDict, TypeVar

from fastapi import Depends, HTTPException, Request
from starlette.datastructures import Headers

import chatrpc
from gateway.http.body import ModelT, read_model
from gateway.http.deadlines import call_deadlines
from gateway.http.errors import ClientDisconnected
from gateway.http.throttle import BadKeyThrottle
from gateway.settings import Settings
from observability.metrics import MetricsServer
from observability.requests import current

T = TypeVar("T")


@dataclass(slots=True)
class GatewayState:
    """Owned by create_app's lifespan; reachable from every request as app.state.gateway."""

    settings: Settings
    client: chatrpc.AsyncClient
    throttle: BadKeyThrottle
    metrics: MetricsServer | None = None  # the Prometheus exporter, on its own port


def gateway_state(request: Request) -> GatewayState:
    state: GatewayState = request.app.state.gateway
    return state


class CallOptions(TypedDict):
    """Per-call SDK arguments every route passes: the deadline and the caller's API key."""

    timeout: float
    api_key: str | None


@dataclass(slots=True)
class RequestContext:
    """What one HTTP request brings to its calls to the core, read once from its headers."""

    client: chatrpc.AsyncClient  # the SDK client to the core
    settings: Settings
    # The caller's key (forwarded: the core checks every key) and the call's deadline
    # (gateway/http/deadlines.py), as every SDK call takes them: `**context.call`.
    call: CallOptions
    stream_call: CallOptions  # the same for a call whose reply is streamed
    idempotency_key: str | None  # the `Idempotency-Key` header
    request_id: str  # this request's id (observability.requests)
    thread_header: str | None  # the `X-Thread-Id` header
    request: Request  # the body and the disconnect watcher read it

    async def body(self, model: type[ModelT]) -> ModelT:
        """The request's JSON body validated against `model` (415, 413 and 400 as they apply)."""
        return await read_model(self.request, self.settings.max_body_bytes, model)

    async def until_disconnect(self, work: Awaitable[T]) -> T:
        """Awaits `work`, cancelling it (and so its call to the core) if the client disconnects
        first: then ClientDisconnected. Only for work started after the body was read (the
        watcher consumes `receive()`)."""
        task = asyncio.ensure_future(work)
        watcher = asyncio.ensure_future(_disconnected(self.request))
        try:
            await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            watcher.cancel()
            if not task.done():
                # Wait for the cancel to land (the gRPC call is cancelled with it): asking a
                # task that is still cancelling for its result raised InvalidStateError,
                # logged as an unexpected error on every hang-up.
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, chatrpc.ChatServiceError):
                    await task
        if task.cancelled():
            raise ClientDisconnected()
        return task.result()


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


def bearer_token(headers: Headers) -> str | None:
    """The key of an `Authorization: Bearer <key>` header (scheme case-insensitive)."""
    scheme, _, token = headers.get("authorization", "").strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token and " " not in token else None


def client_address(request: Request) -> str:
    """The HTTP client's address (its socket's; uvicorn's proxy headers decide what that is)."""
    return request.client.host if request.client else ""


async def request_context(request: Request) -> RequestContext:
    """Router dependency: with keys required, no Bearer key means 401 before any work; then
    the request's context (async: FastAPI runs a sync dependency in a worker thread).

    Attached to every router but the service routes (/, /health, /ready), never by path
    prefix (vLLM CVE-2026-48746); FastAPI caches it, so a route that takes a `Context`
    parameter gets the same object. The key itself is verified by the core on each call.
    """
    state = gateway_state(request)
    settings, headers = state.settings, request.headers
    key = bearer_token(headers)
    if settings.auth != "disabled":
        await state.throttle.check(client_address(request))
        if key is None:
            raise HTTPException(
                status_code=401,
                detail="Missing or malformed API key: send 'Authorization: Bearer <key>'.",
                headers={"www-authenticate": "Bearer"},
            )
    fields = current()
    deadline, stream_deadline = call_deadlines(headers, settings.call_timeout)
    return RequestContext(
        client=state.client,
        settings=settings,
        call=CallOptions(timeout=deadline, api_key=key),
        stream_call=CallOptions(timeout=stream_deadline, api_key=key),
        idempotency_key=headers.get("idempotency-key"),
        request_id=fields.request_id if fields else "",
        thread_header=headers.get("x-thread-id"),
        request=request,
    )


Context = Annotated[RequestContext, Depends(request_context)]
