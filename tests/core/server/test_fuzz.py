"""Hypothesis-generated protobuf messages (and raw bytes) against every ChatService method of a
real core: whatever arrives, the answer is a status the contract defines for it, never
INTERNAL or UNKNOWN. Messages are drawn from the request types' own descriptors (every field,
nested messages, repeated and map fields, unknown enum numbers), so a new field is fuzzed
without a change here. Bounded: a few dozen examples per method."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings, strategies as st

from chatrpc.v1 import chat_service_pb2 as pb
from tests.servers import CoreThread

SERVICE = pb.DESCRIPTOR.services_by_name["ChatService"]
F = FieldDescriptor
NEVER = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}
INT_RANGES = {
    F.TYPE_INT32: (-(2**31), 2**31 - 1),
    F.TYPE_SINT32: (-(2**31), 2**31 - 1),
    F.TYPE_UINT32: (0, 2**32 - 1),
    F.TYPE_INT64: (-(2**63), 2**63 - 1),
    F.TYPE_UINT64: (0, 2**64 - 1),
}
# Short texts, with what often breaks parsers: empty, Chinese, control characters.
TEXT = st.one_of(st.text(max_size=40), st.sampled_from(["", "scripted", "小盏", "\x00", "a" * 300]))


def scalar(field: Any) -> st.SearchStrategy[Any]:
    kind = field.type
    if kind in INT_RANGES:
        low, high = INT_RANGES[kind]
        return st.one_of(st.sampled_from([low, high, 0, -1 if low else 1]), st.integers(low, high))
    if kind in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
        return st.floats(
            allow_nan=True, allow_infinity=True, width=32 if kind == F.TYPE_FLOAT else 64
        )
    if kind == F.TYPE_BOOL:
        return st.booleans()
    if kind == F.TYPE_STRING:
        return TEXT
    if kind == F.TYPE_BYTES:
        return st.binary(max_size=40)
    if kind == F.TYPE_ENUM:
        numbers = [v.number for v in field.enum_type.values]
        return st.one_of(st.sampled_from(numbers), st.integers(-5, 50))  # unknown numbers too
    raise AssertionError(f"unhandled field type {kind}")


def messages(descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[Message]:
    """Messages of `descriptor`'s type: any subset of fields set, nested up to 3 levels."""
    cls = message_factory.GetMessageClass(descriptor)

    @st.composite
    def build(draw: st.DrawFn) -> Message:
        message = cls()
        for field in descriptor.fields:
            if not draw(st.booleans()):
                continue
            if field.message_type is not None and field.message_type.GetOptions().map_entry:
                key, value = (
                    field.message_type.fields_by_name["key"],
                    field.message_type.fields_by_name["value"],
                )
                if value.message_type is None:
                    getattr(message, field.name).update(
                        draw(st.dictionaries(scalar(key), scalar(value), max_size=3))
                    )
                continue
            if field.message_type is not None:
                if depth >= 3 or field.message_type.full_name.startswith("google.protobuf"):
                    continue
                children = messages(field.message_type, depth + 1)
                if field.is_repeated:
                    getattr(message, field.name).extend(draw(st.lists(children, max_size=3)))
                else:
                    getattr(message, field.name).CopyFrom(draw(children))
            elif field.is_repeated:
                getattr(message, field.name).extend(draw(st.lists(scalar(field), max_size=3)))
            else:
                setattr(message, field.name, draw(scalar(field)))
        return message

    return build()


@pytest.fixture(scope="module")
def fuzzed_core(request) -> Iterator[CoreThread]:
    catalog = request.getfixturevalue("catalog")
    tmp = request.getfixturevalue("tmp_path_factory").mktemp("fuzz")
    core = CoreThread(catalog, database_url=f"sqlite:///{tmp}/fuzz.db")
    yield core
    core.stop()


@pytest.fixture(scope="module")
def catalog(scripted_module, embedded_backend):
    from core.catalog import ModelCatalog, ModelSpec

    catalog = ModelCatalog([ModelSpec(name="scripted", backend="scripted", context_window=4096)])
    catalog.attach("scripted", scripted_module)
    return catalog


@pytest.fixture(scope="module")
def scripted_module():
    from tests.fakes import ScriptedBackend

    return ScriptedBackend()


def call(channel: grpc.Channel, method: Any, data: bytes) -> grpc.StatusCode:
    path = f"/{SERVICE.full_name}/{method.name}"
    try:
        if method.server_streaming:
            for _ in channel.unary_stream(path)(data, timeout=10):
                pass
        else:
            channel.unary_unary(path)(data, timeout=10)
    except grpc.RpcError as exc:
        return exc.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


FUZZ = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.mark.parametrize("method", list(SERVICE.methods), ids=lambda m: m.name)
def test_generated_requests_never_get_internal_or_unknown(fuzzed_core, method) -> None:
    with grpc.insecure_channel(fuzzed_core.target) as channel:

        @FUZZ
        @given(request=messages(method.input_type))
        def check(request: Message) -> None:
            code = call(channel, method, request.SerializeToString())
            assert code not in NEVER, (method.name, request)

        check()


@pytest.mark.parametrize("method", list(SERVICE.methods), ids=lambda m: m.name)
def test_random_bytes_never_get_internal_or_unknown(fuzzed_core, method) -> None:
    with grpc.insecure_channel(fuzzed_core.target) as channel:

        @FUZZ
        @given(data=st.binary(max_size=200))
        def check(data: bytes) -> None:
            assert call(channel, method, data) not in NEVER, (method.name, data)

        check()
