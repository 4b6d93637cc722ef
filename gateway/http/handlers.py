"""The app's exception handlers, installed once by create_app: our own refusals, the SDK's
errors, FastAPI's validation errors and Starlette's HTTP errors all answer OpenAI's envelope
(gateway/http/errors.py), and an unexpected error a generic 500 without its text."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException
from starlette.routing import Match

import chatrpc
from gateway.http.context import client_address, gateway_state
from gateway.http.errors import (
    INTERNAL,
    ClientDisconnected,
    RequestError,
    envelope,
    service_error_to_http,
)
from gateway.http.responses import JsonResponse
from observability.metrics import refused

logger = logging.getLogger(__name__)

# The gateway's own refusals of a request's shape (chatrpc_refusals_total, reason validation);
# a 404 for an unknown model is an answer, not a refusal.
_REFUSED_STATUSES = frozenset({400, 413, 415})


async def _on_service_error(request: Request, exc: Exception) -> JsonResponse:
    assert isinstance(exc, chatrpc.ChatServiceError)
    if isinstance(exc, chatrpc.AuthenticationError):
        state = gateway_state(request)
        await state.throttle.refused(client_address(request))
    status, body, headers = service_error_to_http(exc)
    return JsonResponse(body, status_code=status, headers=headers)


async def _on_request_error(request: Request, exc: Exception) -> JsonResponse:
    assert isinstance(exc, RequestError)
    if exc.status in _REFUSED_STATUSES:
        refused("http", "validation")
    body = envelope(exc.message, "invalid_request_error", exc.param, exc.code)
    return JsonResponse(body, status_code=exc.status)


async def _on_validation_error(request: Request, exc: Exception) -> JsonResponse:
    assert isinstance(exc, RequestValidationError)
    refused("http", "validation")
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
    param = ".".join(str(p) for p in first.get("loc", ())) or None
    body = envelope(
        f"Invalid request: {first.get('msg')}", "invalid_request_error", param, "invalid_request"
    )
    return JsonResponse(body, status_code=400)


_HTTP_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
}


async def _on_http_error(request: Request, exc: Exception) -> JsonResponse:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 401:
        refused("http", "auth")
    type_ = _HTTP_TYPES.get(exc.status_code, "invalid_request_error")
    code = {401: "invalid_api_key", 429: "rate_limited"}.get(exc.status_code)
    body = envelope(str(exc.detail), type_, None, code)
    headers = exc.headers
    if exc.status_code == 405:  # Starlette names the methods of the first route that matched
        headers = {**(headers or {}), "allow": ", ".join(allowed_methods(request))}
    return JsonResponse(body, status_code=exc.status_code, headers=headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at the request's path (a path can have one route per
    method: GET and DELETE /v1/threads/{id} are two): each method tried against the routes as
    the router matches them (FastAPI nests included routers), so no route is listed twice."""
    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(r.matches({**request.scope, "method": method})[0] == Match.FULL for r in routes)
    ]


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


async def _on_disconnected(request: Request, exc: Exception) -> Response:
    return Response(status_code=499)  # nobody reads it; uvicorn drops it


async def _on_unexpected(request: Request, exc: Exception) -> JsonResponse:
    logger.exception("unexpected error on %s %s", request.method, request.url.path)
    status, type_, _ = INTERNAL
    body = envelope("The server had an error processing the request.", type_, None, "internal")
    return JsonResponse(body, status_code=status)


def install_handlers(app: FastAPI) -> None:
    """Registers every error handler once (called by create_app)."""
    app.add_exception_handler(chatrpc.ChatServiceError, _on_service_error)
    app.add_exception_handler(RequestError, _on_request_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(HTTPException, _on_http_error)
    app.add_exception_handler(ClientDisconnected, _on_disconnected)
    app.add_exception_handler(Exception, _on_unexpected)
