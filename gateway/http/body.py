"""Request bodies: JSON content type only, bounded size and shape, validated into a pydantic
model with errors as a 400 naming the parameter in OpenAI's indexed form."""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import suppress
from typing import TypeVar

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.requests import ClientDisconnect, Request

from gateway.http.errors import ClientDisconnected, RequestError

ModelT = TypeVar("ModelT", bound=BaseModel)


class StrictModel(BaseModel):
    """The base of every request model: strict types, NaN and Infinity refused, and fields we
    do not serve refused by name rather than silently ignored."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)


async def read_model(request: Request, limit: int, model: type[ModelT]) -> ModelT:
    """The request's JSON body (read_json_body) validated against `model` (parse_model)."""
    return parse_model(await read_json_body(request, limit), model)


async def read_json_body(request: Request, limit: int) -> bytes:
    """The raw body of a JSON request: 415 for other content types, 413 above `limit` bytes.

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


# Bounds on a body's shape, checked on a fast parse before validation and conversion: a 1 MiB
# body of 33 000 empty messages cost about 0.2 s of validation and as much again of conversion
# before the core refused its count. Far above any real request (the core's own limits, 256
# messages by default, apply next); only the cost of refusing is bounded here.
MAX_LIST_ITEMS = 4096
MAX_JSON_VALUES = 100_000


def parse_model(body: bytes, model: type[ModelT]) -> ModelT:
    """Validates a JSON body against `model`; errors become a 400 naming the parameter."""
    with suppress(orjson.JSONDecodeError):  # invalid JSON: model_validate_json names the error
        check_shape(orjson.loads(body))
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise validation_error(exc) from None


def check_shape(value: object) -> None:
    """400 for a top-level list longer than MAX_LIST_ITEMS or a body of more than
    MAX_JSON_VALUES values (counted breadth-first, stopping at the bound)."""
    if isinstance(value, dict):
        for name, item in value.items():
            if isinstance(item, list) and len(item) > MAX_LIST_ITEMS:
                raise RequestError(
                    f"'{name}' has {len(item)} items; at most {MAX_LIST_ITEMS} are accepted.",
                    param=str(name),
                )
    pending, seen = [value], 0
    while pending:
        current = pending.pop()
        seen += 1
        if seen > MAX_JSON_VALUES:
            raise RequestError(
                f"The request body holds more than {MAX_JSON_VALUES} JSON values.", param=None
            )
        if isinstance(current, dict):
            pending.extend(current.values())
        elif isinstance(current, list):
            pending.extend(current)


def validation_error(exc: ValidationError) -> RequestError:
    """The most specific pydantic error as an OpenAI-style 400 with `param` in indexed form.

    For a union (content: str | parts), the deepest error says most ("content[0].type
    should be 'text'" rather than "content should be a string").
    """
    error = max(exc.errors(include_url=False), key=lambda e: len(e["loc"]))
    param = loc_to_param(error["loc"])
    if error["type"] == "extra_forbidden":
        return RequestError(f"Unrecognized request argument supplied: {param}", param=param)
    if error["type"] == "json_invalid":
        return RequestError(f"The request body is not valid JSON: {error['msg']}", param=None)
    return RequestError(f"Invalid value for '{param}': {error['msg']}", param=param or None)


_UNION_TAGS = frozenset({"str", "int", "float", "bool", "none"})


def loc_to_param(loc: Iterable[int | str]) -> str:
    """("messages", 0, "content") → "messages[0].content"; union-branch names are dropped."""
    param = ""
    for part in loc:
        if isinstance(part, int):
            param += f"[{part}]"
        elif part in _UNION_TAGS or "[" in part or part[:1].isupper():
            continue  # pydantic names the union member it tried; OpenAI's param has no such part
        else:
            param += f".{part}" if param else part
    return param
