"""OpenAI chat-completions requests → the SDK's ChatRequest (the HTTP names are the
contract's unless a row here says otherwise); no I/O."""

from __future__ import annotations

from typing import Any, cast

from pydantic import BaseModel

import chatrpc
from gateway.http.errors import RequestError
from gateway.openai.types import (
    ChatCompletionRequest,
    ChatMessage,
    ImagePart,
    NamedToolChoice,
    ResponseFormat,
    TextPart,
    Tool,
)

JsonObject = dict[str, Any]


def chat_request(
    request: ChatCompletionRequest, header_thread_id: str | None
) -> chatrpc.ChatRequest:
    """The SDK request for an OpenAI chat-completions request."""
    if request.stream_options is not None and not request.stream:
        raise RequestError(
            "stream_options is only allowed when stream is true.", param="stream_options"
        )
    config = generation_config(request, request.max_completion_tokens)
    if request.max_completion_tokens is not None:  # the upstream hears the name the client used
        config["max_completion_tokens"] = config.pop("max_tokens")
    if request.n is not None:
        config["choice_count"] = request.n  # the core checks the range (README: at most 8)
    if request.model_extra:
        config["extra_params"] = extra_params(request.model_extra)
    mode = mode_fields(request.chat_mode, request.chat_param)
    return chatrpc.ChatRequest(
        messages=tuple(message_to_sdk(m) for m in request.messages),
        model=request.model,
        thread_id=_thread_id(request.thread_id, header_thread_id),
        generation_config=config,
        tools=tuple(_tool(t, i) for i, t in enumerate(request.tools or ())),
        tool_choice=_tool_choice(request.tool_choice),
        parallel_tool_calls=request.parallel_tool_calls,
        response_format=_response_format(request.response_format),
        user=request.user or "",
        metadata=request.metadata or {},
        **mode,
    )


def generation_config(request: BaseModel, max_tokens: int | None) -> chatrpc.GenerationConfig:
    """The GenerationConfig keys `request` sets (the HTTP field names are the contract's);
    `max_tokens` is the request's other spelling of it, which must agree."""
    declared = type(request).model_fields  # never a field the client added (extra_params)
    config: dict[str, Any] = {
        name: value
        for name in chatrpc.GenerationConfig.__optional_keys__
        if name in declared and (value := getattr(request, name)) is not None
    }
    if max_tokens is not None and config.setdefault("max_tokens", max_tokens) != max_tokens:
        raise RequestError("max_tokens and max_completion_tokens disagree.", param="max_tokens")
    return cast(chatrpc.GenerationConfig, config)


# DB-GPT's chat_mode → (chatrpc mode, the ChatRequest field chat_param fills)
_MODES = {
    "chat_normal": (chatrpc.ChatMode.NORMAL, ""),
    "chat_app": (chatrpc.ChatMode.APP, "app_id"),
    "chat_knowledge": (chatrpc.ChatMode.KNOWLEDGE, "space_id"),
    "chat_flow": (chatrpc.ChatMode.FLOW, "flow_id"),
}


def mode_fields(chat_mode: str | None, chat_param: str | None) -> dict[str, Any]:
    """ChatRequest's `mode` and id field for DB-GPT's chat_mode and chat_param."""
    if chat_mode is None or chat_mode == "chat_normal":
        return {}
    mode, id_field = _MODES[chat_mode]
    if not chat_param:
        raise RequestError(
            f"chat_param is required with chat_mode {chat_mode}.", param="chat_param"
        )
    return {"mode": mode, id_field: chat_param}


def _thread_id(body: str | int | None, header: str | None) -> str:
    value = non_empty(None if body is None else str(body), "thread_id") or ""
    header = non_empty(header, "X-Thread-Id")
    if header and value and header != value:
        raise RequestError(
            "thread_id in the body and the X-Thread-Id header differ.", param="thread_id"
        )
    return value or header or ""


def non_empty(thread_id: str | None, param: str) -> str | None:
    """`thread_id` unless it is "": an empty id is a mistake, not a request for no thread."""
    if thread_id == "":
        raise RequestError(
            f"{param} must not be empty: omit it for a turn without a thread.", param=param
        )
    return thread_id


# JSON nesting a schema may have on its way to the core (whose own limit is far lower): the
# contract carries it as google.protobuf.Struct, two protobuf levels per JSON level, and
# protobuf refuses more than 100.
MAX_SCHEMA_DEPTH = 32


def _shallow(schema: JsonObject | None, param: str) -> JsonObject | None:
    """`schema` unless it nests deeper than MAX_SCHEMA_DEPTH (checked without recursion)."""
    stack: list[tuple[object, int]] = [(schema, 1)]
    while stack:
        value, depth = stack.pop()
        if not isinstance(value, dict | list):
            continue
        if depth > MAX_SCHEMA_DEPTH:
            raise RequestError(
                f"{param} is nested deeper than {MAX_SCHEMA_DEPTH} levels.", param=param
            )
        children = value.values() if isinstance(value, dict) else value
        stack.extend((child, depth + 1) for child in children)
    return schema


def extra_params(fields: dict[str, Any]) -> dict[str, Any]:
    """A request's fields beyond OpenAI's, for the core to accept (those the model's catalog
    entry allows) or refuse by name."""
    for name, value in fields.items():
        _shallow({name: value}, name)
    return dict(fields)


def _tool(tool: Tool, index: int) -> chatrpc.Tool:
    function = tool.function
    parameters = _shallow(function.parameters, f"tools[{index}].function.parameters")
    return chatrpc.Tool(function.name, function.description or "", parameters, function.strict)


def _tool_choice(choice: str | NamedToolChoice | None) -> chatrpc.ToolChoice | None:
    if choice is None:
        return None
    if isinstance(choice, str):
        return chatrpc.ToolChoice(chatrpc.ToolChoiceMode(choice))
    return chatrpc.ToolChoice.function(choice.function.name)


def _response_format(fmt: ResponseFormat | None) -> chatrpc.ResponseFormat | None:
    if fmt is None:
        return None
    schema = fmt.json_schema
    return chatrpc.ResponseFormat(
        chatrpc.ResponseFormatType(fmt.type),
        schema.name if schema else "",
        _shallow(schema.schema_ or {}, "response_format.json_schema.schema") if schema else None,
        schema.strict if schema else None,
    )


def message_to_sdk(message: ChatMessage) -> chatrpc.Message:
    content = message.content
    parts: tuple[chatrpc.ContentPart, ...] = ()
    if isinstance(content, list):
        if any(isinstance(part, ImagePart) for part in content):
            parts = tuple(_part(part) for part in content)
            content = ""
        else:
            content = "".join(part.text for part in content if isinstance(part, TextPart))
    calls = tuple(
        chatrpc.ToolCall(id=c.id, name=c.function.name, arguments=c.function.arguments)
        for c in message.tool_calls or ()
    )
    role = "system" if message.role == "developer" else message.role
    return chatrpc.Message(
        role=role,
        content=content or "",
        name=message.name or "",
        tool_calls=calls,
        tool_call_id=message.tool_call_id or "",
        parts=parts,
    )


def _part(part: TextPart | ImagePart) -> chatrpc.ContentPart:
    if isinstance(part, TextPart):
        return chatrpc.ContentPart(text=part.text)
    return chatrpc.ContentPart.image(part.image_url.url, part.image_url.detail or "")
