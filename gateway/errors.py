"""Errors → HTTP status + OpenAI's envelope `{"error": {"message", "type", "param", "code"}}`.

One table maps the SDK's gRPC codes to HTTP (google/rpc/code.proto's mapping); handlers
installed once in create_app cover our errors, FastAPI's validation errors and Starlette's
HTTP errors, so no response body is ever `{"detail": ...}`.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

import chatrpc
from gateway.disconnect import ClientDisconnected
from gateway.responses import JsonResponse
from gateway.state import client_address, gateway_state
from observability.metrics import refused

logger = logging.getLogger(__name__)

# gRPC status code name → (HTTP status, OpenAI error type, extra headers)
STATUS: dict[str, tuple[int, str, dict[str, str]]] = {
    "INVALID_ARGUMENT": (400, "invalid_request_error", {}),
    "OUT_OF_RANGE": (400, "invalid_request_error", {}),
    "FAILED_PRECONDITION": (400, "invalid_request_error", {}),
    "UNAUTHENTICATED": (401, "authentication_error", {"www-authenticate": "Bearer"}),
    "PERMISSION_DENIED": (403, "permission_error", {}),
    "NOT_FOUND": (404, "not_found_error", {}),
    "ABORTED": (409, "conflict_error", {"x-should-retry": "false"}),
    "ALREADY_EXISTS": (409, "conflict_error", {"x-should-retry": "false"}),
    "RESOURCE_EXHAUSTED": (429, "rate_limit_error", {}),
    "CANCELLED": (499, "cancelled_error", {}),
    "DEADLINE_EXCEEDED": (504, "timeout_error", {}),
    "UNIMPLEMENTED": (501, "invalid_request_error", {"x-should-retry": "false"}),
    "UNAVAILABLE": (503, "service_unavailable_error", {"retry-after": "1"}),
}
INTERNAL: tuple[int, str, dict[str, str]] = (500, "server_error", {})
RATE_LIMIT_HEADERS = "x-ratelimit-"

# Refusals by gRPC itself, not the core (no ErrorInfo; the SDK names them): the client's
# request was too big, which no retry mends. Their text (gRPC's, naming internal metadata)
# never reaches the client. reason → (status, code, message), the codes of the gateway's own
# refusals (gateway/body.py, gateway/connections.py).
TRANSPORT: dict[str, tuple[int, str, str]] = {
    "MESSAGE_TOO_LARGE": (
        413,
        "request_too_large",
        "The request is too large for the model service.",
    ),
    "METADATA_TOO_LARGE": (
        431,
        "request_header_fields_too_large",
        "The request headers are too large.",
    ),
}
# What a client reads for any other status gRPC raised itself (a core that is down or hung).
TRANSPORT_MESSAGES = {
    503: "The model service is unavailable; retry shortly.",
    504: "The model service did not answer within the request's deadline.",
}
TRANSPORT_MESSAGE = "The model service refused the request."


# The core names fields of the gRPC contract; OpenAI clients know them by their HTTP names.
_PARAM_PREFIXES = (
    ("generation_config.choice_count", "n"),
    ("generation_config.", ""),
    ("tool_choice.function_name", "tool_choice.function.name"),
    ("response_format.json_schema", "response_format.json_schema.schema"),
    ("previous_turn_id", "previous_response_id"),  # the Responses API's names for these
    ("turn_id", "response_id"),
    ("inputs", "input"),  # Embed's repeated field; `inputs[2]` → `input[2]`
)


def field_to_param(field: str | None) -> str | None:
    """The OpenAI param for a core field: `generation_config.temperature` → `temperature`."""
    if not field:
        return None
    for prefix, replacement in _PARAM_PREFIXES:
        if field.startswith(prefix):
            return replacement + field[len(prefix) :]
    if field.startswith("tools[") and field.count(".") == 1:
        head, tail = field.split(".")
        return f"{head}.function.{tail}"
    return field


# The gateway's own refusals of a request's shape (chatrpc_refusals_total, reason validation);
# a 404 for an unknown model is an answer, not a refusal.
_REFUSED_STATUSES = frozenset({400, 413, 415})


class RequestError(Exception):
    """A request the gateway refuses on its own (HTTP shape), as a 400 unless told otherwise."""

    def __init__(
        self, message: str, *, param: str | None, status: int = 400, code: str = "invalid_request"
    ) -> None:
        super().__init__(message)
        self.message, self.param, self.status, self.code = message, param, status, code


def envelope(
    message: str, type_: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def service_error_to_http(
    exc: chatrpc.ChatServiceError,
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, body, headers) for an error the core (or the SDK) reported."""
    status, type_, headers = STATUS.get(exc.code.name, INTERNAL)
    headers = dict(headers)
    if exc.retry_after is not None:
        headers["retry-after"] = str(max(1, math.ceil(exc.retry_after)))
    if status == 429:  # the core's x-ratelimit-* counters travel in ErrorInfo's metadata
        headers.setdefault("retry-after", "1")
        headers |= {k: v for k, v in exc.metadata.items() if k.startswith(RATE_LIMIT_HEADERS)}
    message = exc.message if status != 500 else "The server had an error processing the request."
    code = exc.reason.lower() or None
    if not exc.domain:  # gRPC's own status: its text is not for clients
        refusal = TRANSPORT.get(exc.reason)
        if refusal is not None:
            status, code, message = refusal
            type_, headers = "invalid_request_error", {}
        elif status != 500:
            message = TRANSPORT_MESSAGES.get(status, TRANSPORT_MESSAGE)
    param = field_to_param(exc.metadata.get("field"))
    return status, envelope(message, type_, param, code), headers


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
    return JsonResponse(body, status_code=exc.status_code, headers=exc.headers)


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
