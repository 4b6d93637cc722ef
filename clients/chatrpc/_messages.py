"""Messages, their content parts and Embed's inputs ↔ protobuf, for the SDK's request
building and reply parsing (clients/chatrpc/_base.py): no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias, cast

from chatrpc import _types as t
from chatrpc._contract import new
from chatrpc.v1 import chat_service_pb2 as pb

# Embed's inputs: one text, texts, one token-id array, or token-id arrays.
EmbedInputs: TypeAlias = "str | Sequence[str] | Sequence[int] | Sequence[Sequence[int]]"

_ROLES = {
    t.Role.SYSTEM: pb.ROLE_SYSTEM,
    t.Role.USER: pb.ROLE_USER,
    t.Role.ASSISTANT: pb.ROLE_ASSISTANT,
    t.Role.TOOL: pb.ROLE_TOOL,
}
_ROLES_BACK = {value: role for role, value in _ROLES.items()}


def enum_value(cls: type[Any], value: object, what: str) -> Any:
    try:
        return cls(value)
    except ValueError:
        known = ", ".join(member.value for member in cls)
        raise ValueError(f"unknown {what} {value!r}; expected one of: {known}") from None


def message_to_pb(message: t.Message, path: str = "messages") -> pb.Message:
    """A message, each value checked against the field that carries it (chatrpc._contract)."""
    calls = [
        new(pb.ToolCall, f"{path}.tool_calls[{i}]", id=c.id, name=c.name, arguments=c.arguments)
        for i, c in enumerate(message.tool_calls)
    ]
    return new(
        pb.Message,
        path,
        role=_ROLES[enum_value(t.Role, message.role, "role")],
        content=message.content,
        name=message.name,
        tool_calls=calls,
        tool_call_id=message.tool_call_id,
        parts=[part_to_pb(p) for p in message.parts],
    )


def calls_from_pb(message: pb.Message) -> tuple[t.ToolCall, ...]:
    return tuple(t.ToolCall(c.id, c.name, c.arguments) for c in message.tool_calls)


def message_from_pb(message: pb.Message) -> t.Message:
    parts = tuple(part_from_pb(p) for p in message.parts)
    return t.Message(
        role=_ROLES_BACK.get(message.role, t.Role.USER),
        content=message.content or "".join(p.text for p in parts),
        name=message.name,
        tool_calls=calls_from_pb(message),
        tool_call_id=message.tool_call_id,
        reasoning=message.reasoning,
        parts=parts,
    )


_DETAILS = {
    "": pb.IMAGE_DETAIL_UNSPECIFIED,
    "auto": pb.IMAGE_DETAIL_AUTO,
    "low": pb.IMAGE_DETAIL_LOW,
    "high": pb.IMAGE_DETAIL_HIGH,
}
_DETAILS_BACK = {value: name for name, value in _DETAILS.items()}


def part_to_pb(part: t.ContentPart) -> pb.ContentPart:
    if not part.image_url:
        return pb.ContentPart(text=part.text)
    detail = _DETAILS.get(part.detail)
    if detail is None:
        raise ValueError(f"unknown image detail {part.detail!r}; expected auto, low or high")
    return pb.ContentPart(image=pb.ImagePart(url=part.image_url, detail=detail))


def part_from_pb(part: pb.ContentPart) -> t.ContentPart:
    if part.WhichOneof("part") == "image":
        return t.ContentPart.image(part.image.url, _DETAILS_BACK.get(part.image.detail, ""))
    return t.ContentPart(text=part.text)


def embed_request(
    inputs: EmbedInputs, model: str, dimensions: int | None, user: str
) -> pb.EmbedRequest:
    """Texts go as `inputs`; one list of ints, or a list of them, as `token_inputs`."""
    request = new(pb.EmbedRequest, model=model, dimensions=dimensions, user=user)
    items = [inputs] if isinstance(inputs, str) else list(inputs)
    if items and all(isinstance(i, int) for i in items):  # one token array
        request.token_inputs.append(new(pb.TokenIds, "input", ids=cast("list[int]", items)))
    elif items and not isinstance(items[0], str):
        request.token_inputs.extend(
            new(pb.TokenIds, f"input[{n}]", ids=list(cast("Sequence[int]", i)))
            for n, i in enumerate(items)
        )
    else:
        request.inputs.extend(cast("list[str]", items))
    return request
