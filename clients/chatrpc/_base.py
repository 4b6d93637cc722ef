"""Everything in the SDK that is not I/O: request building, response parsing, call metadata."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeAlias, TypedDict, TypeVar

from google.protobuf import json_format, struct_pb2

from chatrpc._types import (
    Document,
    FinishReason,
    Message,
    Model,
    Reply,
    ReplyChunk,
    Role,
    Source,
    Space,
    Thread,
    ThreadMessage,
    ThreadPage,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from chatrpc.v1 import chat_service_pb2 as pb

DEFAULT_TARGET = "127.0.0.1:50051"

MessageLike: TypeAlias = "Message | Mapping[str, Any]"
Messages: TypeAlias = "str | Sequence[Message | Mapping[str, Any]]"
RequestT = TypeVar("RequestT", pb.ChatRequest, pb.StreamChatRequest)

_ROLES = {
    "system": pb.ROLE_SYSTEM,
    "user": pb.ROLE_USER,
    "assistant": pb.ROLE_ASSISTANT,
    "tool": pb.ROLE_TOOL,
}
_FINISH = {
    pb.FINISH_REASON_STOP: FinishReason.STOP,
    pb.FINISH_REASON_LENGTH: FinishReason.LENGTH,
    pb.FINISH_REASON_TOOL_CALLS: FinishReason.TOOL_CALLS,
}
_MODES = {
    "normal": pb.CHAT_MODE_NORMAL,
    "app": pb.CHAT_MODE_APP,
    "knowledge": pb.CHAT_MODE_KNOWLEDGE,
    "flow": pb.CHAT_MODE_FLOW,
}
_TOOL_CHOICES = {
    "auto": pb.TOOL_CHOICE_MODE_AUTO,
    "none": pb.TOOL_CHOICE_MODE_NONE,
    "required": pb.TOOL_CHOICE_MODE_REQUIRED,
}
_FORMATS = {
    "text": pb.RESPONSE_FORMAT_TYPE_TEXT,
    "json_object": pb.RESPONSE_FORMAT_TYPE_JSON_OBJECT,
    "json_schema": pb.RESPONSE_FORMAT_TYPE_JSON_SCHEMA,
}


class TurnOptions(TypedDict, total=False):
    """Keyword arguments that shape a turn, shared by chat() and chat_stream() of both clients.

    Sampling (`temperature`, `top_p`, `max_tokens`, `stop`, `seed`, the penalties) follows
    OpenAI's meaning; `tools`, `tool_choice` and `response_format` take OpenAI's shapes;
    `mode` is "normal", "app", "knowledge" or "flow" with `app_id`/`space_id`/`flow_id`.
    """

    model: str
    thread_id: str | int
    temperature: float
    top_p: float
    max_tokens: int
    stop: str | Sequence[str]
    seed: int
    presence_penalty: float
    frequency_penalty: float
    repetition_penalty: float
    tools: Sequence[Mapping[str, Any]]
    tool_choice: str | Mapping[str, Any]
    parallel_tool_calls: bool
    response_format: Mapping[str, Any]
    mode: str
    app_id: str
    space_id: str
    flow_id: str
    user: str
    metadata: Mapping[str, str]


def build_request(request: RequestT, messages: Messages, options: TurnOptions) -> RequestT:
    """Fills a Chat/StreamChat request (they share their fields) from SDK arguments."""
    request.model = options.get("model", "")
    request.messages.extend(_message_to_pb(m) for m in normalize_messages(messages))
    request.thread_id = str(options.get("thread_id", ""))
    _fill_config(request.generation_config, options)
    for tool in options.get("tools") or ():
        request.tools.append(_tool_to_pb(tool))
    if "tool_choice" in options:
        request.tool_choice.CopyFrom(_tool_choice_to_pb(options["tool_choice"]))
    if "parallel_tool_calls" in options:
        request.parallel_tool_calls = options["parallel_tool_calls"]
    if "response_format" in options:
        request.response_format.CopyFrom(_response_format_to_pb(options["response_format"]))
    if options.get("mode"):
        request.mode = _lookup(_MODES, options["mode"], "mode")
    request.app_id = options.get("app_id", "")
    request.space_id = options.get("space_id", "")
    request.flow_id = options.get("flow_id", "")
    request.user = options.get("user", "")
    request.metadata.update(options.get("metadata") or {})
    return request


def normalize_messages(messages: Messages) -> list[Message]:
    """A string is one user message; mappings use the OpenAI message shape."""
    if isinstance(messages, str):
        return [Message(role=Role.USER, content=messages)]
    return [m if isinstance(m, Message) else _message_from_mapping(m) for m in messages]


def _message_from_mapping(item: Mapping[str, Any]) -> Message:
    calls = tuple(
        ToolCall(
            id=c.get("id", ""),
            name=c.get("function", c).get("name", ""),
            arguments=c.get("function", c).get("arguments", ""),
        )
        for c in item.get("tool_calls") or ()
    )
    return Message(
        role=item.get("role", ""),
        content=item.get("content") or "",
        name=item.get("name") or "",
        tool_calls=calls,
        tool_call_id=item.get("tool_call_id") or "",
    )


def _lookup(table: Mapping[str, Any], key: str, what: str) -> Any:
    try:
        return table[str(key)]
    except KeyError:
        known = ", ".join(sorted(table))
        raise ValueError(f"unknown {what} {key!r}; expected one of: {known}") from None


def _message_to_pb(message: Message) -> pb.Message:
    role = message.role.value if isinstance(message.role, Role) else message.role
    return pb.Message(
        role=_lookup(_ROLES, role, "role"),
        content=message.content,
        name=message.name,
        tool_calls=[
            pb.ToolCall(id=c.id, name=c.name, arguments=c.arguments) for c in message.tool_calls
        ],
        tool_call_id=message.tool_call_id,
    )


_CONFIG_FIELDS = (
    "temperature",
    "top_p",
    "max_tokens",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "repetition_penalty",
)


def _fill_config(config: pb.GenerationConfig, options: TurnOptions) -> None:
    for name in _CONFIG_FIELDS:
        value = options.get(name)
        if value is not None:
            setattr(config, name, value)
    stop = options.get("stop")
    config.stop.extend([stop] if isinstance(stop, str) else list(stop or ()))


def _struct(value: Mapping[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    json_format.ParseDict(dict(value), struct)
    return struct


def _tool_to_pb(tool: Mapping[str, Any]) -> pb.Tool:
    function = tool.get("function", tool)  # OpenAI's {"type": "function", "function": {...}}
    result = pb.Tool(name=function.get("name", ""), description=function.get("description") or "")
    if function.get("parameters") is not None:
        result.parameters.CopyFrom(_struct(function["parameters"]))
    return result


def _tool_choice_to_pb(choice: str | Mapping[str, Any]) -> pb.ToolChoice:
    if isinstance(choice, str):
        return pb.ToolChoice(mode=_lookup(_TOOL_CHOICES, choice, "tool_choice"))
    name = choice.get("function", {}).get("name", "")
    return pb.ToolChoice(mode=pb.TOOL_CHOICE_MODE_FUNCTION, function_name=name)


def _response_format_to_pb(fmt: Mapping[str, Any]) -> pb.ResponseFormat:
    result = pb.ResponseFormat(type=_lookup(_FORMATS, fmt.get("type", ""), "response_format"))
    schema = fmt.get("json_schema")
    if schema is not None:
        result.schema_name = schema.get("name", "")
        result.json_schema.CopyFrom(_struct(schema.get("schema", {})))
    return result


def call_metadata(
    api_key: str | None, idempotency_key: str | None = None
) -> tuple[tuple[str, str], ...]:
    """gRPC metadata for a call: `authorization: Bearer <key>` and `idempotency-key`, if given."""
    items = [("authorization", f"Bearer {api_key}")] if api_key else []
    if idempotency_key:
        items.append(("idempotency-key", idempotency_key))
    return tuple(items)


def usage_from_pb(usage: pb.Usage) -> Usage:
    return Usage(usage.prompt_tokens, usage.completion_tokens, usage.total_tokens)


def _calls_from_pb(message: pb.Message) -> tuple[ToolCall, ...]:
    return tuple(ToolCall(c.id, c.name, c.arguments) for c in message.tool_calls)


def reply_from_pb(response: pb.ChatResponse) -> Reply:
    return Reply(
        id=response.id,
        model=response.model,
        created=response.create_time.seconds,
        thread_id=response.thread_id,
        content=response.message.content,
        tool_calls=_calls_from_pb(response.message),
        finish_reason=_FINISH.get(response.finish_reason, FinishReason.STOP),
        usage=usage_from_pb(response.usage),
        trimmed=response.trimmed_message_count,
        sources=sources_from_pb(response.sources),
    )


def sources_from_pb(sources: Sequence[pb.Source]) -> tuple[Source, ...]:
    return tuple(
        Source(s.chunk_id, s.document_id, s.source, s.title, s.score, s.text) for s in sources
    )


def space_from_pb(space: pb.Space) -> Space:
    return Space(
        space_id=space.space_id,
        name=space.name,
        description=space.description,
        created=space.create_time.seconds,
        document_count=space.document_count,
    )


def document_from_pb(document: pb.Document) -> Document:
    return Document(
        document_id=document.document_id,
        space_id=document.space_id,
        source=document.source,
        title=document.title,
        created=document.create_time.seconds,
        chunk_count=document.chunk_count,
    )


_ROLE_NAMES = {value: Role(name) for name, value in _ROLES.items()}


def thread_from_pb(thread: pb.Thread) -> Thread:
    messages = tuple(
        ThreadMessage(
            seq=m.seq,
            message=Message(
                role=_ROLE_NAMES.get(m.message.role, Role.USER),
                content=m.message.content,
                name=m.message.name,
                tool_calls=_calls_from_pb(m.message),
                tool_call_id=m.message.tool_call_id,
            ),
            turn_id=m.turn_id,
            created=m.create_time.seconds,
        )
        for m in thread.messages
    )
    return Thread(
        thread_id=thread.thread_id,
        created=thread.create_time.seconds,
        updated=thread.update_time.seconds,
        message_count=thread.message_count,
        messages=messages,
    )


def page_from_pb(response: pb.ListThreadsResponse) -> ThreadPage:
    threads = tuple(thread_from_pb(t) for t in response.threads)
    return ThreadPage(threads=threads, next_page_token=response.next_page_token)


def model_from_pb(model: pb.Model) -> Model:
    return Model(
        id=model.id,
        owned_by=model.owned_by,
        backend=model.backend,
        context_window=model.context_window,
        ready=model.ready,
        created=model.create_time.seconds,
    )


class ChunkParser:
    """Turns StreamChat events into ReplyChunks, carrying the start's identity along."""

    def __init__(self) -> None:
        self._head = ReplyChunk(event="start", id="", model="", created=0, thread_id="")

    def parse(self, response: pb.StreamChatResponse) -> ReplyChunk:
        kind = response.WhichOneof("event")
        if kind == "start":
            start = response.start
            self._head = ReplyChunk(
                event="start",
                id=start.id,
                model=start.model,
                created=start.create_time.seconds,
                thread_id=start.thread_id,
                trimmed=start.trimmed_message_count,
                sources=sources_from_pb(start.sources),
            )
            return self._head
        if kind == "delta":
            calls = tuple(
                ToolCallDelta(d.index, d.id, d.name, d.arguments) for d in response.delta.tool_calls
            )
            return replace(
                self._head, event="delta", content=response.delta.content, tool_calls=calls
            )
        if kind == "finish":
            reason = _FINISH.get(response.finish.finish_reason, FinishReason.STOP)
            return replace(self._head, event="finish", finish_reason=reason)
        return replace(self._head, event="usage", usage=usage_from_pb(response.usage))
