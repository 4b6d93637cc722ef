"""Per-app state the routes share: the SDK client to the core and the call deadline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

from fastapi import HTTPException, Request

import chatrpc
from gateway.deadlines import call_deadline
from gateway.settings import Settings
from gateway.throttle import BadKeyThrottle
from observability.metrics import MetricsServer


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


def bearer_token(request: Request) -> str | None:
    """The key of an `Authorization: Bearer <key>` header (scheme case-insensitive).

    The gateway only forwards it: the core checks every key (one place holds the keys, and
    each RPC is authenticated no matter which face it came through).
    """
    scheme, _, token = request.headers.get("authorization", "").strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token and " " not in token else None


def client_address(request: Request) -> str:
    """The HTTP client's address (its socket's; uvicorn's proxy headers decide what that is)."""
    return request.client.host if request.client else ""


def core_client(
    request: Request, *, stream: bool = False
) -> tuple[chatrpc.AsyncClient, CallOptions]:
    """The AsyncClient to the core and the options for one call on behalf of `request`:
    its key and its deadline (gateway/deadlines.py; `stream`: a streamed reply)."""
    state = gateway_state(request)
    timeout = call_deadline(request, state.settings.call_timeout, stream=stream)
    return state.client, CallOptions(timeout=timeout, api_key=bearer_token(request))


async def require_key(request: Request) -> None:
    """Router dependency: with keys required, no Bearer key means 401 before any work (async:
    FastAPI runs a sync dependency in a worker thread, on every request).

    Attached to every router but the service routes (/, /health, /ready), never by path
    prefix (vLLM CVE-2026-48746). The key itself is verified by the core on each call.
    """
    state = gateway_state(request)
    if state.settings.auth == "disabled":
        return
    await state.throttle.check(client_address(request))
    if bearer_token(request) is None:
        raise HTTPException(
            status_code=401,
            detail="Missing or malformed API key: send 'Authorization: Bearer <key>'.",
            headers={"www-authenticate": "Bearer"},
        )
