"""Errors → HTTP status + OpenAI's envelope `{"error": {"message", "type", "param", "code"}}`.

One table maps the SDK's typed errors to HTTP (google/rpc/code.proto's mapping of their
codes); gateway/http/handlers.py answers every exception with it, so no response body is ever
`{"detail": ...}`. No I/O and no app state here: everything below the routes may import it.
"""

from __future__ import annotations

import math
from typing import Any

import chatrpc

# The SDK's typed errors → (HTTP status, OpenAI error type, extra headers); a subclass maps
# as its nearest listed base (chatrpc.ChatServiceError itself, or InternalError: 500).
STATUS: dict[type[chatrpc.ChatServiceError], tuple[int, str, dict[str, str]]] = {
    chatrpc.InvalidRequestError: (400, "invalid_request_error", {}),
    chatrpc.AuthenticationError: (401, "authentication_error", {"www-authenticate": "Bearer"}),
    chatrpc.PermissionDeniedError: (403, "permission_error", {}),
    chatrpc.NotFoundError: (404, "not_found_error", {}),
    chatrpc.ConflictError: (409, "conflict_error", {"x-should-retry": "false"}),
    chatrpc.RateLimitError: (429, "rate_limit_error", {}),
    chatrpc.RequestCancelledError: (499, "cancelled_error", {}),
    chatrpc.DeadlineExceededError: (504, "timeout_error", {}),
    chatrpc.UnimplementedError: (501, "invalid_request_error", {"x-should-retry": "false"}),
    chatrpc.UnavailableError: (503, "service_unavailable_error", {"retry-after": "1"}),
}
INTERNAL: tuple[int, str, dict[str, str]] = (500, "server_error", {})
RATE_LIMIT_HEADERS = "x-ratelimit-"

# Refusals by gRPC itself, not the core (no ErrorInfo; the SDK names them): the client's
# request was too big, which no retry mends. Their text (gRPC's, naming internal metadata)
# never reaches the client. reason → (status, code, message), the codes of the gateway's own
# refusals (gateway/http/body.py, gateway/http/connections.py).
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
    ("generation_config.extra_params.", ""),  # a provider field is a top-level body field
    ("generation_config.", ""),
    ("tool_choice.function_name", "tool_choice.function.name"),
    ("response_format.json_schema", "response_format.json_schema.schema"),
    ("previous_turn_id", "previous_response_id"),  # the Responses API's names for these
    ("turn_id", "response_id"),
    ("inputs", "input"),  # Embed's repeated field; `inputs[2]` → `input[2]`
    ("token_inputs", "input"),  # its token-array twin
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
    return field.replace(".parts", ".content")  # a message's parts are its content list


class ClientDisconnected(Exception):
    """The client closed the connection before a response could be sent."""


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
    status, type_, headers = next(
        (STATUS[cls] for cls in type(exc).__mro__ if cls in STATUS), INTERNAL
    )
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
