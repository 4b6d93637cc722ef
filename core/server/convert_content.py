"""Message content parts, generation settings and Embed's request ↔ protobuf, for
core/server/convert.py:
image parts with their `detail`, and GenerationConfig with its two names of the output cap and
its provider parameters (a Struct, whose whole numbers go back to ints)."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from google.protobuf import json_format

from chatrpc.v1 import chat_service_pb2 as pb
from core.errors import InvalidArgumentError
from core.types import ContentPart, EmbedRequest, GenerationParams

_DETAILS = {
    pb.IMAGE_DETAIL_UNSPECIFIED: "",
    pb.IMAGE_DETAIL_AUTO: "auto",
    pb.IMAGE_DETAIL_LOW: "low",
    pb.IMAGE_DETAIL_HIGH: "high",
}
_DETAILS_PB = {name: value for value, name in _DETAILS.items()}


def content_from_pb(message: pb.Message, field: str) -> tuple[str, tuple[ContentPart, ...]]:
    """(content, parts) of a message: with parts, `content` is their text (and must be empty)."""
    if not message.parts:
        return message.content, ()
    if message.content:
        raise InvalidArgumentError(
            f"Set {field}.content or {field}.parts, not both.", field=f"{field}.parts"
        )
    parts = tuple(part_from_pb(p, f"{field}.parts[{j}]") for j, p in enumerate(message.parts))
    return "".join(p.text for p in parts), parts


def part_from_pb(part: pb.ContentPart, field: str) -> ContentPart:
    kind = part.WhichOneof("part")
    if kind == "image":
        detail = _DETAILS.get(part.image.detail)
        if detail is None:
            where = f"{field}.image.detail"
            raise InvalidArgumentError(f"{where} has an unknown value.", field=where)
        return ContentPart(image_url=part.image.url, detail=detail)
    if kind is None:
        raise InvalidArgumentError(f"{field} must be text or an image.", field=field)
    return ContentPart(text=part.text)


def part_to_pb(part: ContentPart) -> pb.ContentPart:
    if part.image_url:
        image = pb.ImagePart(url=part.image_url, detail=_DETAILS_PB[part.detail])
        return pb.ContentPart(image=image)
    return pb.ContentPart(text=part.text)


_OPTIONAL_PARAMS = tuple(
    f.name for f in fields(GenerationParams) if f.name not in ("stop", "max_tokens_field", "extra")
)


def params_from_pb(config: pb.GenerationConfig) -> GenerationParams:
    """GenerationConfig → GenerationParams: the fields share their names; unset stays None.
    `max_completion_tokens` is max_tokens under its other name, which the params remember."""
    values: dict[str, Any] = {
        n: getattr(config, n)
        for n in _OPTIONAL_PARAMS
        if config.HasField(n)  # type: ignore[arg-type]
    }
    if config.HasField("max_completion_tokens"):
        if "max_tokens" in values:
            raise InvalidArgumentError(
                "Set max_tokens or max_completion_tokens, not both.",
                field="generation_config.max_completion_tokens",
            )
        values["max_tokens"] = config.max_completion_tokens
        values["max_tokens_field"] = "max_completion_tokens"
    if config.HasField("extra_params"):
        values["extra"] = _integral(dict(json_format.MessageToDict(config.extra_params)))
    return GenerationParams(stop=tuple(config.stop), **values)


def _integral(value: Any) -> Any:
    """`value` with its whole numbers as ints: a Struct holds every number as a double, and an
    upstream's `top_k: 20.0` is not what the caller sent (`top_k: 20`)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value


def embed_request_from_pb(request: pb.EmbedRequest) -> EmbedRequest:
    return EmbedRequest(
        inputs=tuple(request.inputs),
        model=request.model,
        dimensions=request.dimensions if request.HasField("dimensions") else None,
        user=request.user,
        token_inputs=tuple(tuple(t.ids) for t in request.token_inputs),
    )
