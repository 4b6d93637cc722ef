"""Reading request bodies: JSON content type only, bounded size, checked before parsing."""

from __future__ import annotations

from fastapi import Request
from starlette.requests import ClientDisconnect

from gateway.disconnect import ClientDisconnected
from gateway.errors import RequestError
from gateway.state import gateway_state


async def read_json_body(request: Request) -> bytes:
    """The raw body of a JSON request: 415 for other content types, 413 above the limit.

    A declared Content-Length over the limit is refused before a byte is read; a chunked
    body is read only up to the limit. A client gone before the end is ClientDisconnected.
    """
    content_type = request.headers.get("content-type", "")
    if content_type.split(";", 1)[0].strip().lower() != "application/json":
        raise RequestError(
            "Content-Type must be application/json.",
            param=None,
            status=415,
            code="unsupported_media_type",
        )
    limit = gateway_state(request).settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise _too_large(limit)
    body = bytearray()
    try:
        async for piece in request.stream():
            body += piece
            if len(body) > limit:
                raise _too_large(limit)
    except ClientDisconnect:  # gone, or cut off by the body timeout: nobody to answer
        raise ClientDisconnected() from None
    return bytes(body)


def _too_large(limit: int) -> RequestError:
    return RequestError(
        f"The request body is larger than {limit} bytes.",
        param=None,
        status=413,
        code="request_too_large",
    )
