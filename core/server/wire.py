"""Request bytes → protobuf, refusing what is too large or malformed before the full decode.

grpc hands a handler's request deserializer the raw bytes; `ChatRequestDecoder` counts the
top-level fields of a Chat/StreamChat request on the wire first (a few hundred varints at
most: it stops at the first count over its limit), so a 4 MB request of a million empty
messages is refused without building a million objects. Malformed protobuf, invalid UTF-8 in
a string field and nesting beyond protobuf's recursion limit are INVALID_ARGUMENT naming the
request, never UNKNOWN with a Python exception name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

from google.protobuf.message import DecodeError, Message

from core.errors import InvalidArgumentError
from core.settings import Limits

M = TypeVar("M", bound=Message)

_VARINT, _FIXED64, _LENGTH, _FIXED32 = 0, 1, 2, 5
# Field numbers of ChatRequest and StreamChatRequest (they share their fields).
_MESSAGES, _TOOLS, _METADATA = 2, 5, 14
_SINGULAR_FIELDS = 14  # each may appear once (more is legal, last one wins: allow a few)


def decoder(message_type: type[M]) -> Callable[[bytes], M]:
    """A request deserializer for `message_type` that reports bad bytes as INVALID_ARGUMENT."""

    def decode(data: bytes) -> M:
        try:
            return message_type.FromString(data)
        except (DecodeError, RecursionError) as exc:
            detail = str(exc).rsplit(": ", 1)[-1]  # upb repeats the type name first
            raise InvalidArgumentError(
                f"The request is not a valid {message_type.DESCRIPTOR.full_name}: {detail}.",
                field="request",
            ) from None

    return decode


def chat_request_decoder(message_type: type[M], limits: Limits) -> Callable[[bytes], M]:
    """`decoder(message_type)` after counting the repeated fields on the wire (see module)."""
    caps = {
        _MESSAGES: ("messages", limits.max_messages),
        _TOOLS: ("tools", limits.max_tools),
        _METADATA: ("metadata", limits.max_metadata),
    }
    most = sum(cap for _, cap in caps.values()) + 4 * _SINGULAR_FIELDS
    decode = decoder(message_type)

    def check_then_decode(data: bytes) -> M:
        counts = dict.fromkeys(caps, 0)
        for total, number in enumerate(top_level_fields(data), start=1):
            if total > most:
                raise InvalidArgumentError(
                    f"The request has more than {most} top-level fields.", field="request"
                )
            if number in counts:
                counts[number] += 1
                name, cap = caps[number]
                if counts[number] > cap:
                    raise InvalidArgumentError(f"{name} has more than {cap} entries.", field=name)
        return decode(data)

    return check_then_decode


def top_level_fields(data: bytes) -> Iterator[int]:
    """The field number of each top-level field of an encoded message, in order.

    Only tags and lengths are read; a truncated or invalid encoding raises
    InvalidArgumentError.
    """
    position, end = 0, len(data)
    while position < end:
        tag, position = _varint(data, position)
        number, wire_type = tag >> 3, tag & 7
        if wire_type == _VARINT:
            _, position = _varint(data, position)
        elif wire_type == _LENGTH:
            length, position = _varint(data, position)
            position += length
        elif wire_type == _FIXED64:
            position += 8
        elif wire_type == _FIXED32:
            position += 4
        else:
            raise _malformed()
        if number == 0 or position > end:
            raise _malformed()
        yield number


def _varint(data: bytes, position: int) -> tuple[int, int]:
    value, shift = 0, 0
    while position < len(data) and shift < 64:
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, position
        shift += 7
    raise _malformed()


def _malformed() -> InvalidArgumentError:
    return InvalidArgumentError("The request is not a valid protobuf message.", field="request")
