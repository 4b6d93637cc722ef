"""GET / (service info), GET /health (liveness) and GET /ready (the core's gRPC health)."""

from __future__ import annotations

from fastapi import APIRouter, Request

import chatrpc
from gateway import __version__
from gateway.http.context import gateway_state
from gateway.http.errors import envelope
from gateway.http.responses import JsonResponse

router = APIRouter()

ENDPOINTS = [
    "POST /v1/chat/completions",
    "POST /v1/embeddings",
    "GET /v1/models",
    "GET /v1/models/{model}",
    "POST /api/v2/chat/completions",
    "POST /v1/responses",
    "GET /v1/responses/{response_id}",
    "DELETE /v1/responses/{response_id}",
    "GET /v1/responses/{response_id}/input_items",
    "POST /v1/spaces",
    "GET /v1/spaces",
    "DELETE /v1/spaces/{space_id}",
    "POST /v1/spaces/{space_id}/documents",
    "GET /v1/threads",
    "GET /v1/threads/{thread_id}",
    "DELETE /v1/threads/{thread_id}",
    "POST /v1/threads/search",
    "POST /v1/threads/{thread_id}",
    "GET /v1/threads/{thread_id}/export",
    "GET /v1/data/export",
    "POST /v1/data/erase",
    "GET /v1/spend",
    "GET /health",
    "GET /ready",
    "GET /playground",
]


@router.get("/")
async def service_info() -> JsonResponse:
    """Name, version and endpoints of this gateway."""
    return JsonResponse({"name": "chatrpc", "version": __version__, "endpoints": ENDPOINTS})


@router.get("/health")
async def liveness() -> JsonResponse:
    """The gateway process is up (it says nothing about the core; see /ready)."""
    return JsonResponse({"status": "ok"})


@router.get("/ready")
async def readiness(request: Request) -> JsonResponse:
    """200 when the core reports SERVING over grpc.health.v1; 503 while it is down or loading."""
    client = gateway_state(request).client  # health is unauthenticated (grpc.health.v1 has no key)
    try:
        status = await client.health(timeout=2.0)
    except chatrpc.ChatServiceError:
        status = "UNREACHABLE"
    if status == "SERVING":
        return JsonResponse({"status": "ready", "core": status})
    body = envelope(
        f"The core is not serving (health: {status}).",
        "service_unavailable_error",
        None,
        "core_not_ready",
    )
    return JsonResponse(body, status_code=503, headers={"retry-after": "1"})
