"""Values checked against the contract field that will carry them, before a request is built.

protobuf refuses a value its field cannot carry (an int32 above 2**31 - 1, a bool for an
integer, a string with a lone surrogate) with a bare ValueError or TypeError that names no
field, and gRPC refuses metadata that is not printable ASCII; through the gateway either was a
500. Here each value is checked against its field's descriptor (the bounds come from the
field's type, not from a list) and each metadata value against what gRPC carries, and a
violation is an InvalidRequestError naming the field (AuthenticationError for the API key), as
the core's own INVALID_ARGUMENT would be.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Final, TypeVar

import grpc
from google.protobuf import json_format, struct_pb2
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from chatrpc._errors import AuthenticationError, InvalidRequestError

M = TypeVar("M", bound=Message)
F = FieldDescriptor

_INT_BOUNDS: Final[dict[int, tuple[int, int]]] = {
    **dict.fromkeys((F.TYPE_INT32, F.TYPE_SINT32, F.TYPE_SFIXED32), (-(2**31), 2**31 - 1)),
    **dict.fromkeys((F.TYPE_UINT32, F.TYPE_FIXED32), (0, 2**32 - 1)),
    **dict.fromkeys((F.TYPE_INT64, F.TYPE_SINT64, F.TYPE_SFIXED64), (-(2**63), 2**63 - 1)),
    **dict.fromkeys((F.TYPE_UINT64, F.TYPE_FIXED64), (0, 2**64 - 1)),
}
_FLOAT32_MAX: Final = 3.4028234663852886e38


def invalid(path: str, message: str) -> InvalidRequestError:
    """The SDK's own INVALID_ARGUMENT for `path`, shaped as the core's (ErrorInfo field)."""
    return InvalidRequestError(
        f"{path}: {message}",
        code=grpc.StatusCode.INVALID_ARGUMENT,
        reason="INVALID_ARGUMENT",
        metadata={"field": path},
    )


def check_value(field: Any, value: object, path: str) -> None:
    """Raises InvalidRequestError unless `field` (one element of it, if repeated) can carry
    `value`."""
    kind = field.type
    if kind in _INT_BOUNDS:
        low, high = _INT_BOUNDS[kind]
        if isinstance(value, bool) or not isinstance(value, int):
            raise invalid(path, f"must be an integer, not {type(value).__name__}")
        if not low <= value <= high:
            raise invalid(path, f"must be between {low} and {high}")
    elif kind in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise invalid(path, f"must be a number, not {type(value).__name__}")
        if not math.isfinite(value) or (kind == F.TYPE_FLOAT and abs(value) > _FLOAT32_MAX):
            raise invalid(path, "must be a finite number in range")
    elif kind == F.TYPE_BOOL:
        if not isinstance(value, bool):
            raise invalid(path, f"must be a boolean, not {type(value).__name__}")
    elif kind == F.TYPE_STRING:
        check_text(value, path)


def check_text(value: object, path: str) -> None:
    """A string the contract can carry: UTF-8, so no lone surrogate."""
    if not isinstance(value, str):
        raise invalid(path, f"must be a string, not {type(value).__name__}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise invalid(path, "must be valid Unicode text (it has a lone surrogate)") from None


def assign(message: Message, name: str, value: object, path: str) -> None:
    """`message.name = value` (or extend, for a repeated field), checked first."""
    field = message.DESCRIPTOR.fields_by_name[name]
    if _repeated(field):
        items = list(value) if isinstance(value, Sequence) and not isinstance(value, str) else None
        if items is None:
            raise invalid(path, f"must be a list, not {type(value).__name__}")
        for index, item in enumerate(items):
            check_value(field, item, f"{path}[{index}]")
        getattr(message, name).extend(items)
        return
    check_value(field, value, path)
    setattr(message, name, value)


def new(cls: type[M], path: str = "", **values: Any) -> M:
    """`cls(**values)`, each scalar (or repeated scalar) value checked against its field;
    message-typed values are taken as built. `path` prefixes the field names."""
    fields = cls.DESCRIPTOR.fields_by_name
    for name, value in values.items():
        field = fields[name]
        if value is None or field.type == F.TYPE_MESSAGE:
            continue
        where = f"{path}.{name}" if path else name
        if _repeated(field):
            for index, item in enumerate(value):
                check_value(field, item, f"{where}[{index}]")
        else:
            check_value(field, value, where)
    return cls(**values)


def struct(value: Mapping[str, Any], path: str) -> struct_pb2.Struct:
    """A JSON object as the google.protobuf.Struct that carries it (no NaN, valid text)."""
    result = struct_pb2.Struct()
    try:
        json_format.ParseDict(dict(value), result)
    except (json_format.ParseError, ValueError, TypeError) as exc:
        raise invalid(path, f"is not JSON the contract can carry ({exc})") from None
    return result


def check_map(values: Mapping[str, object], path: str) -> None:
    """A map<string, string>: every key and value a string the contract can carry."""
    for key, value in values.items():
        check_text(key, f"{path} key")
        check_text(value, f"{path}[{key!r}]")


def check_metadata(name: str, value: str) -> None:
    """A gRPC metadata value: printable ASCII (0x20-0x7E) only, as gRPC carries it; the API
    key's violation is an AuthenticationError (a credential gRPC cannot carry is not valid)."""
    if all(" " <= char <= "~" for char in value):
        return
    if name == "authorization":
        raise AuthenticationError(
            "The API key has characters an API key cannot have (only printable ASCII).",
            code=grpc.StatusCode.UNAUTHENTICATED,
            reason="UNAUTHENTICATED",
        )
    raise invalid(name.replace("-", "_"), "must be printable ASCII (a gRPC metadata value)")


def _repeated(field: Any) -> bool:
    return bool(field.is_repeated)
