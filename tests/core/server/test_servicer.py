"""ChatService over a real grpc.aio server on 127.0.0.1:0, called through generated stubs."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from chatrpc.v1 import chat_service_pb2 as pb, chat_service_pb2_grpc as pb_grpc
from core.types import BackendChunk, FinishReason
from tests.conftest import EMBEDDED
from tests.core.server.status import error_info
from tests.fakes import ScriptedBackend, tool_call_chunks
from tests.servers import CoreThread

USER = pb.Message(role=pb.ROLE_USER, content="hello there")


def chat_request(**fields) -> pb.ChatRequest:
    fields.setdefault("messages", [USER])
    return pb.ChatRequest(**fields)


def stream_request(**fields) -> pb.StreamChatRequest:
    fields.setdefault("messages", [USER])
    return pb.StreamChatRequest(**fields)


@pytest.fixture
async def stub(core_server: CoreThread):
    async with grpc.aio.insecure_channel(core_server.target) as channel:
        yield pb_grpc.ChatServiceStub(channel)


def scripted_reply(scripted: ScriptedBackend) -> None:
    scripted.enqueue(
        [
            "Hel",
            "lo",
            ", ",
            "world",
            BackendChunk(text="!"),
            *tool_call_chunks(0, "call_x", "f", '{"a": 1}'),
        ],
        finish=FinishReason.TOOL_CALLS,
    )


async def test_stream_events_arrive_in_order_start_deltas_finish_usage(stub, scripted):
    scripted.enqueue(["a", "b", "c"])
    events = [e async for e in stub.StreamChat(stream_request())]
    kinds = [e.WhichOneof("event") for e in events]
    assert kinds == ["start", "delta", "delta", "delta", "finish", "usage"]
    assert events[0].start.id.startswith("chatcmpl-") and len(events[0].start.id) == 33
    assert events[0].start.model == "scripted"
    assert abs(events[0].start.create_time.seconds - time.time()) < 60
    assert "".join(e.delta.content for e in events[1:4]) == "abc"
    assert events[4].finish.finish_reason == pb.FINISH_REASON_STOP
    assert events[5].usage.completion_tokens == 3
    assert events[5].usage.total_tokens == events[5].usage.prompt_tokens + 3


async def test_unary_equals_fold_of_the_stream(stub, scripted):
    scripted_reply(scripted)
    scripted_reply(scripted)
    unary = await stub.Chat(chat_request())
    events = [e async for e in stub.StreamChat(stream_request())]
    content = "".join(e.delta.content for e in events if e.HasField("delta"))
    calls: dict[int, list[str]] = {}
    for e in events:
        for d in e.delta.tool_calls:
            parts = calls.setdefault(d.index, [d.id, d.name])
            parts.append(d.arguments)
    folded_calls = [(p[0], p[1], "".join(p[2:])) for _, p in sorted(calls.items())]
    finish = next(e.finish.finish_reason for e in events if e.HasField("finish"))
    usage = next(e.usage for e in events if e.HasField("usage"))

    assert unary.message.role == pb.ROLE_ASSISTANT
    assert unary.message.content == content == "Hello, world!"
    assert [(c.id, c.name, c.arguments) for c in unary.message.tool_calls] == folded_calls
    assert folded_calls == [("call_x", "f", '{"a": 1}')]
    assert unary.finish_reason == finish == pb.FINISH_REASON_TOOL_CALLS
    assert unary.usage == usage
    assert unary.model == events[0].start.model


async def test_sampling_settings_reach_the_backend(stub, scripted):
    config = pb.GenerationConfig(
        temperature=0.7, top_p=0.9, max_tokens=50, stop=["END"], seed=-3,
        presence_penalty=0.5, frequency_penalty=-0.5, repetition_penalty=1.1,
    )  # fmt: skip
    await stub.Chat(chat_request(generation_config=config))
    params = scripted.calls[0].params
    assert (params.temperature, params.top_p, params.max_tokens) == (0.7, 0.9, 50)
    assert params.stop == ("END",) and params.seed == -3
    assert (params.presence_penalty, params.frequency_penalty) == (0.5, -0.5)
    assert params.repetition_penalty == 1.1


async def test_unset_sampling_settings_stay_unset_for_the_backend_to_decide(stub, scripted):
    """An unset max_tokens is not filled with the window's room: hosted upstreams cap output
    below it and refuse more, so the backend (or the upstream) applies its own default."""
    await stub.Chat(chat_request())
    params = scripted.calls[0].params
    assert params.temperature is None and params.seed is None
    assert params.max_tokens is None


async def test_the_models_default_max_tokens_caps_unset_max_tokens(catalog, scripted):
    from dataclasses import replace

    from core.catalog import ModelCatalog
    from core.types import GenerationParams

    spec = replace(
        catalog.get("scripted"), defaults=GenerationParams(max_tokens=64, temperature=0.3)
    )
    capped = ModelCatalog([spec])
    capped.attach("scripted", scripted)
    server = CoreThread(capped)
    try:
        async with grpc.aio.insecure_channel(server.target) as channel:
            stub = pb_grpc.ChatServiceStub(channel)
            await stub.Chat(chat_request())
            await stub.Chat(
                chat_request(generation_config=pb.GenerationConfig(max_tokens=100, temperature=1))
            )
    finally:
        server.stop()
    first, second = (call.params for call in scripted.calls)
    assert (first.max_tokens, first.temperature) == (64, 0.3)
    assert (second.max_tokens, second.temperature) == (100, 1.0)


async def test_list_models_reports_catalog_and_readiness(stub):
    response = await stub.ListModels(pb.ListModelsRequest())
    assert [m.id for m in response.models] == ["scripted", EMBEDDED]
    assert all(m.ready for m in response.models)
    assert response.models[1].backend == "llama_cpp"


async def test_unknown_model_is_not_found_with_reason(stub, scripted):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Chat(chat_request(model="no-such-model"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert error_info(caught.value).reason == "MODEL_NOT_FOUND"
    assert scripted.calls == []


async def test_backend_failure_mid_stream_ends_with_unavailable_after_partial_events(
    stub, scripted
):
    from core.errors import BackendUnavailableError

    scripted.enqueue(["a", "b", "c"], fail_after=2, error=BackendUnavailableError("boom"))
    call = stub.StreamChat(stream_request())
    received: list[str] = []

    async def drain():
        async for event in call:
            received.append(event.WhichOneof("event"))

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await drain()
    assert received == ["start", "delta", "delta"]
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert error_info(caught.value).reason == "BACKEND_UNAVAILABLE"


async def test_unexpected_exception_is_internal_without_traceback(stub, scripted):
    class Boom(Exception):
        pass

    async def explode(prompt, params):
        raise Boom("secret internals /etc/passwd")
        yield  # pragma: no cover

    scripted.stream = explode  # type: ignore[method-assign]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Chat(chat_request())
    assert caught.value.code() == grpc.StatusCode.INTERNAL
    assert "secret" not in caught.value.details() and "Traceback" not in caught.value.details()
    assert error_info(caught.value).reason == "INTERNAL"


async def test_cancel_after_first_event_stops_the_scripted_backend(stub, scripted):
    scripted.enqueue([f"t{i} " for i in range(200)], delay=0.01)
    call = stub.StreamChat(stream_request())
    async for event in call:
        if event.HasField("delta"):
            break
    record = scripted.calls[0]
    produced_at_cancel = record.produced
    call.cancel()
    for _ in range(200):
        if record.closed_at is not None:
            break
        await asyncio.sleep(0.01)
    assert record.closed_at is not None, "the backend stream was never closed"
    assert record.produced - produced_at_cancel <= 2
    assert record.produced < 200


async def test_health_reports_serving_for_server_and_service(core_server):
    async with grpc.aio.insecure_channel(core_server.target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "chatrpc.v1.ChatService"):
            response = await health.Check(health_pb2.HealthCheckRequest(service=service))
            assert response.status == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await health.Check(health_pb2.HealthCheckRequest(service="nope.Service"))
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_health_is_not_serving_until_models_are_loaded(catalog):
    from dataclasses import replace

    from core.auth import KeyRing
    from core.server.app import create_server
    from core.settings import Settings

    core = await create_server(replace(Settings(), port=0), KeyRing({}, required=False), catalog)
    await core.server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{core.port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            request = health_pb2.HealthCheckRequest(service="")
            before = await health.Check(request)
            await core.set_serving(True)
            after = await health.Check(request)
    finally:
        await core.stop(0)
    assert before.status == health_pb2.HealthCheckResponse.NOT_SERVING
    assert after.status == health_pb2.HealthCheckResponse.SERVING


async def test_reflection_lists_chat_health_and_reflection(core_server):
    async with grpc.aio.insecure_channel(core_server.target) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        responses = [r async for r in stub.ServerReflectionInfo(iter([request]))]
    names = {s.name for s in responses[0].list_services_response.service}
    assert names == {
        "chatrpc.v1.ChatService",
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }


@pytest.mark.model
async def test_embedded_model_answers_for_real(stub):
    config = pb.GenerationConfig(max_tokens=16, temperature=0.0)
    reply = await stub.Chat(chat_request(model=EMBEDDED, generation_config=config))
    assert reply.message.content.strip()
    assert reply.usage.completion_tokens >= 1
    assert reply.usage.completion_tokens <= 16
    assert reply.usage.prompt_tokens > 5
    assert reply.finish_reason in (pb.FINISH_REASON_STOP, pb.FINISH_REASON_LENGTH)


@pytest.mark.model
async def test_embedded_model_stops_within_two_tokens_of_a_cancel(stub, counting_llama):
    config = pb.GenerationConfig(max_tokens=400, temperature=0.8)
    request = stream_request(
        model=EMBEDDED,
        messages=[pb.Message(role=pb.ROLE_USER, content="Write a very long story about the sea.")],
        generation_config=config,
    )
    call = stub.StreamChat(request)
    deltas = 0
    async for event in call:
        deltas += event.HasField("delta")
        if deltas == 2:
            break
    at_cancel = counting_llama.yielded
    call.cancel()
    await asyncio.sleep(0.5)  # the model makes ~40 tokens/s: 20 tokens if it kept going
    after = counting_llama.yielded
    assert after - at_cancel <= 2


@pytest.mark.model
async def test_embedded_model_follows_a_json_schema_through_its_grammar(stub):
    import json

    from google.protobuf import struct_pb2

    schema = struct_pb2.Struct()
    schema.update(
        {
            "type": "object",
            "properties": {"color": {"type": "string", "enum": ["red", "green", "blue"]}},
            "required": ["color"],
        }
    )
    request = chat_request(
        model=EMBEDDED,
        messages=[pb.Message(role=pb.ROLE_USER, content="Pick a color.")],
        generation_config=pb.GenerationConfig(max_tokens=60, temperature=0.0),
        response_format=pb.ResponseFormat(
            type=pb.RESPONSE_FORMAT_TYPE_JSON_SCHEMA, schema_name="color", json_schema=schema
        ),
    )
    reply = await stub.Chat(request)
    assert json.loads(reply.message.content)["color"] in ("red", "green", "blue")
