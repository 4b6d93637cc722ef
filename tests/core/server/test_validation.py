"""Every bad input gets INVALID_ARGUMENT naming its field, before any model work; on both RPCs."""

from __future__ import annotations

import math

import grpc
import pytest
from google.protobuf import struct_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from chatrpc.v1 import chat_service_pb2 as pb, chat_service_pb2_grpc as pb_grpc
from tests.servers import CoreThread

USER = pb.Message(role=pb.ROLE_USER, content="hi")
ASSISTANT = pb.Message(role=pb.ROLE_ASSISTANT, content="hello")


def config(**fields) -> dict:
    return {"generation_config": pb.GenerationConfig(**fields)}


def deep_struct(depth: int) -> struct_pb2.Struct:
    value: dict = {"type": "string"}
    for _ in range(depth):
        value = {"type": "object", "properties": {"x": value}}
    struct = struct_pb2.Struct()
    struct.update(value)
    return struct


def _struct(value: dict) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(value)
    return struct


BAD_INPUTS = {
    "no messages": ({"messages": []}, "messages"),
    "last from assistant": ({"messages": [USER, ASSISTANT]}, "messages[1]"),
    "only a system message": (
        {"messages": [pb.Message(role=pb.ROLE_SYSTEM, content="be nice")]},
        "messages",
    ),
    "role unspecified": ({"messages": [pb.Message(content="x")]}, "messages[0].role"),
    "role out of range": ({"messages": [pb.Message(role=99, content="x")]}, "messages[0].role"),
    "empty user content": (
        {"messages": [pb.Message(role=pb.ROLE_USER, content="  \n ")]},
        "messages[0].content",
    ),
    "tool message without tool_call_id": (
        {"messages": [pb.Message(role=pb.ROLE_TOOL, content="42")]},
        "messages[0].tool_call_id",
    ),
    "tool call arguments not JSON": (
        {
            "messages": [
                pb.Message(
                    role=pb.ROLE_ASSISTANT,
                    tool_calls=[pb.ToolCall(id="call_1", name="f", arguments="{nope")],
                ),
                pb.Message(role=pb.ROLE_TOOL, content="1", tool_call_id="call_1"),
            ]
        },
        "messages[0].tool_calls[0].arguments",
    ),
    "too many messages": ({"messages": [USER] * 257}, "messages"),
    "message too long": (
        {"messages": [pb.Message(role=pb.ROLE_USER, content="x" * 200_001)]},
        "messages[0].content",
    ),
    "temperature above 2": (config(temperature=2.5), "generation_config.temperature"),
    "temperature negative": (config(temperature=-0.1), "generation_config.temperature"),
    "temperature NaN": (config(temperature=math.nan), "generation_config.temperature"),
    "temperature infinite": (config(temperature=math.inf), "generation_config.temperature"),
    "top_p zero": (config(top_p=0.0), "generation_config.top_p"),
    "top_p above 1": (config(top_p=1.5), "generation_config.top_p"),
    "max_tokens zero": (config(max_tokens=0), "generation_config.max_tokens"),
    "max_tokens negative": (config(max_tokens=-1), "generation_config.max_tokens"),
    "max_tokens above window": (config(max_tokens=4097), "generation_config.max_tokens"),
    "too many stop strings": (config(stop=["a", "b", "c", "d", "e"]), "generation_config.stop"),
    "empty stop string": (config(stop=[""]), "generation_config.stop"),
    "stop string too long": (config(stop=["x" * 65]), "generation_config.stop"),
    "presence penalty out of range": (
        config(presence_penalty=3.0),
        "generation_config.presence_penalty",
    ),
    "repetition penalty zero": (
        config(repetition_penalty=0.0),
        "generation_config.repetition_penalty",
    ),
    "thread id with a path": ({"thread_id": "../../x"}, "thread_id"),
    "thread id with SQL": ({"thread_id": "' OR 1=1 --"}, "thread_id"),
    "thread id too long": ({"thread_id": "a" * 129}, "thread_id"),
    "tool name invalid": ({"tools": [pb.Tool(name="bad name!")]}, "tools[0].name"),
    "tool names duplicated": ({"tools": [pb.Tool(name="f"), pb.Tool(name="f")]}, "tools[1].name"),
    "too many tools": ({"tools": [pb.Tool(name=f"f{i}") for i in range(33)]}, "tools"),
    "tool schema too deep": (
        {"tools": [pb.Tool(name="f", parameters=deep_struct(10))]},
        "tools[0].parameters",
    ),
    "tool_choice names an unknown tool": (
        {
            "tools": [pb.Tool(name="f")],
            "tool_choice": pb.ToolChoice(mode=pb.TOOL_CHOICE_MODE_FUNCTION, function_name="g"),
        },
        "tool_choice.function_name",
    ),
    "tool_choice required without tools": (
        {"tool_choice": pb.ToolChoice(mode=pb.TOOL_CHOICE_MODE_REQUIRED)},
        "tool_choice",
    ),
    "json_schema without schema": (
        {"response_format": pb.ResponseFormat(type=pb.RESPONSE_FORMAT_TYPE_JSON_SCHEMA)},
        "response_format.json_schema",
    ),
    "strict on a text format": (
        {"response_format": pb.ResponseFormat(type=pb.RESPONSE_FORMAT_TYPE_TEXT, strict=True)},
        "response_format.strict",
    ),
    "both names of the output cap": (
        config(max_tokens=5, max_completion_tokens=5),
        "generation_config.max_completion_tokens",
    ),
    "max_completion_tokens above the window": (
        config(max_completion_tokens=10**6),
        "generation_config.max_completion_tokens",
    ),
    "a provider parameter the model does not take": (
        config(extra_params=_struct({"enable_thinking": False})),
        "generation_config.extra_params.enable_thinking",
    ),
    "mode app without app_id": ({"mode": pb.CHAT_MODE_APP}, "app_id"),
    "mode out of range": ({"mode": 42}, "mode"),
    "too much metadata": ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
    "user too long": ({"user": "u" * 257}, "user"),
}


def field_of(error: grpc.aio.AioRpcError) -> tuple[str, str, str]:
    """ErrorInfo reason and field, and the first BadRequest field violation ("" if none)."""
    status = rpc_status.from_call(error)
    assert status is not None
    info, violations = None, []
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations = [v.field for v in bad.field_violations]
    assert info is not None and info.domain == "chatrpc"
    return info.reason, info.metadata["field"], violations[0] if violations else ""


async def collect(call, into: list[object]) -> None:
    async for event in call:
        into.append(event)


@pytest.fixture
async def stub(core_server: CoreThread):
    async with grpc.aio.insecure_channel(core_server.target) as channel:
        yield pb_grpc.ChatServiceStub(channel)


@pytest.mark.parametrize("case", BAD_INPUTS, ids=list(BAD_INPUTS))
async def test_bad_input_is_invalid_argument_before_any_model_work(stub, scripted, case):
    fields, field = BAD_INPUTS[case]
    fields = {"messages": [USER], **fields}
    with pytest.raises(grpc.aio.AioRpcError) as unary:
        await stub.Chat(pb.ChatRequest(**fields))
    events: list[object] = []
    with pytest.raises(grpc.aio.AioRpcError) as streamed:
        await collect(stub.StreamChat(pb.StreamChatRequest(**fields)), events)
    assert events == [], "no event may be sent for an invalid request"
    for caught in (unary, streamed):
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        reason, named, violation = field_of(caught.value)
        assert reason == "INVALID_ARGUMENT"
        assert named == violation == field
    assert scripted.calls == [] and scripted.token_counts == 0


async def test_prompt_beyond_the_context_window_is_context_length_exceeded(stub, scripted):
    words = " ".join(["word"] * 3000)
    request = pb.ChatRequest(
        messages=[pb.Message(role=pb.ROLE_USER, content=words)],
        generation_config=pb.GenerationConfig(max_tokens=2000),
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Chat(request)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_of(caught.value)[0] == "CONTEXT_LENGTH_EXCEEDED"
    assert scripted.calls == []


@pytest.mark.parametrize(
    "fields",
    [
        {"mode": pb.CHAT_MODE_KNOWLEDGE, "space_id": "no-such-space"},
        {"mode": pb.CHAT_MODE_APP, "app_id": "no-such-app"},
        {"mode": pb.CHAT_MODE_FLOW, "flow_id": "no-such-flow"},
    ],
)
async def test_unknown_app_space_or_flow_is_not_found_before_generation(stub, scripted, fields):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Chat(pb.ChatRequest(messages=[USER], **fields))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert scripted.calls == []
