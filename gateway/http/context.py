"""One HTTP request as the routes see it: a RequestContext, built once per request by the
router dependency `request_context` (the API-key check included) and handed to helpers, so
no helper reads app state or headers itself (as the core's `Call` is to its RPCs)."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Annotated, TypedDict, TypeVar

from fastapi import Depends, HTTPException, Request
from starlette.datastructures import Headers

import chatrpc
from gateway.http.body import ModelT, parse_model, read_json_body
from gateway.http.deadlines import call_deadline
from gateway.http.disconnect import cancel_on_disconnect
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
    api_key: str | None  # the caller's Bearer key, forwarded: the core checks every key
    deadline: float  # seconds a call may take (gateway/http/deadlines.py)
    stream_deadline: float  # the same for a streamed reply
    idempotency_key: str | None  # the `Idempotency-Key` header
    request_id: str  # this request's id (observability.requests)
    thread_header: str | None  # the `X-Thread-Id` header
    request: Request  # the body and the disconnect watcher read it

    def call(self, *, stream: bool = False) -> CallOptions:
        """The key and the deadline of one call to the core (`stream`: a streamed reply)."""
        timeout = self.stream_deadline if stream else self.deadline
        return CallOptions(timeout=timeout, api_key=self.api_key)

    async def body(self, model: type[ModelT]) -> ModelT:
        """The request's JSON body validated against `model` (415, 413 and 400 as they apply)."""
        return parse_model(await read_json_body(self.request, self.settings.max_body_bytes), model)

    async def until_disconnect(self, work: Awaitable[T]) -> T:
        """Awaits `work`, cancelling it (and its call to the core) if the client goes away."""
        return await cancel_on_disconnect(self.request, work)


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
    return RequestContext(
        client=state.client,
        settings=settings,
        api_key=key,
        deadline=call_deadline(headers, settings.call_timeout, stream=False),
        stream_deadline=call_deadline(headers, settings.call_timeout, stream=True),
        idempotency_key=headers.get("idempotency-key"),
        request_id=fields.request_id if fields else "",
        thread_header=headers.get("x-thread-id"),
        request=request,
    )


Context = Annotated[RequestContext, Depends(request_context)]
