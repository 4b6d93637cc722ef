"""OpenAI HTTP shapes ↔ chatrpc SDK types; no I/O. The only place that speaks OpenAI's words."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, TypeVar, cast

import orjson
from pydantic import BaseModel, ValidationError

import chatrpc
from gateway.errors import RequestError
from gateway.openai_types import (
    ChatCompletionRequest,
    ChatMessage,
    DbgptChatRequest,
    NamedToolChoice,
    ResponseFormat,
    Tool,
)

JsonObject = dict[str, Any]
ModelT = TypeVar("ModelT", bound=BaseModel)


def parse_request(body: bytes) -> ChatCompletionRequest:
    """Validates a chat request body; errors become a 400 naming the offending parameter."""
    return parse_model(body, ChatCompletionRequest)


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


def chat_request(
    request: ChatCompletionRequest, header_thread_id: str | None
) -> chatrpc.ChatRequest:
    """The SDK request for an OpenAI chat-completions request."""
    if request.stream_options is not None and not request.stream:
        raise RequestError(
            "stream_options is only allowed when stream is true.", param="stream_options"
        )
    config = generation_config(request, request.max_completion_tokens)
    if request.n is not None:
        config["choice_count"] = request.n  # the core checks the range (README: at most 8)
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
    config: dict[str, Any] = {
        name: value
        for name in chatrpc.GenerationConfig.__optional_keys__
        if (value := getattr(request, name, None)) is not None
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


def dbgpt_request(request: DbgptChatRequest) -> chatrpc.ChatRequest:
    """The SDK request for a DB-GPT request: `messages` may be one string or a list of them
    (each a user message); user_name (or user) is the turn's user, sys_code and span_id are
    recorded in its metadata."""
    messages = request.messages
    if isinstance(messages, str):
        messages = [messages]
    max_tokens = request.max_new_tokens if request.max_tokens is None else request.max_tokens
    chat_mode = request.chat_mode or request.chat_model
    if request.chat_model and chat_mode != request.chat_model:
        raise RequestError("chat_mode and chat_model disagree.", param="chat_model")
    return chatrpc.ChatRequest(
        messages=tuple(
            chatrpc.Message(chatrpc.Role.USER, m) if isinstance(m, str) else message_to_sdk(m)
            for m in messages
        ),
        model=request.model,
        thread_id=_non_empty(request.conv_uid, "conv_uid") or "",
        generation_config=generation_config(request, max_tokens),
        user=request.user_name or request.user or "",
        metadata={k: v for k in ("sys_code", "span_id") if (v := getattr(request, k))},
        **mode_fields(chat_mode, request.chat_param),
    )


def _thread_id(body: str | int | None, header: str | None) -> str:
    value = _non_empty(None if body is None else str(body), "thread_id") or ""
    header = _non_empty(header, "X-Thread-Id")
    if header and value and header != value:
        raise RequestError(
            "thread_id in the body and the X-Thread-Id header differ.", param="thread_id"
        )
    return value or header or ""


def _non_empty(thread_id: str | None, param: str) -> str | None:
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


def _tool(tool: Tool, index: int) -> chatrpc.Tool:
    function = tool.function
    parameters = _shallow(function.parameters, f"tools[{index}].function.parameters")
    return chatrpc.Tool(function.name, function.description or "", parameters)


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
    )


def message_to_sdk(message: ChatMessage) -> chatrpc.Message:
    content = message.content
    if isinstance(content, list):
        content = "".join(part.text for part in content)
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
    )


@dataclass(frozen=True, slots=True)
class ReplyShape:
    """What a turn's JSON or chunks show beyond the reply itself, from its request: how many
    choices, whether logprobs were asked (null otherwise, as OpenAI sends), whether reasoning
    is shown (always on /v1; on DB-GPT's route only when asked), the usage chunk."""

    choices: int = 1
    logprobs: bool = False
    reasoning: bool = True
    include_usage: bool = False

    @classmethod
    def of(cls, request: ChatCompletionRequest) -> ReplyShape:
        usage = bool(request.stream_options and request.stream_options.include_usage)
        return cls(request.n or 1, bool(request.logprobs), True, usage)


def turn_headers(trimmed: int, server_metadata: Mapping[str, str]) -> dict[str, str]:
    """Response headers of a turn: how many stored messages did not fit the context window,
    and what the core said about admitting it (x-ratelimit-*, x-chatrpc-queue-position)."""
    return {"x-trimmed-messages": str(trimmed), **server_metadata}


def usage_to_openai(usage: chatrpc.Usage) -> JsonObject:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def reply_to_openai(reply: chatrpc.Reply, shape: ReplyShape = ReplyShape()) -> JsonObject:
    """A `chat.completion` object."""
    body: JsonObject = {
        "id": reply.id,
        "object": "chat.completion",
        "created": reply.created,
        "model": reply.model,
        "choices": [_choice_to_openai(c, shape) for c in reply.choices],
        "usage": usage_to_openai(reply.usage),
    }
    if reply.thread_id:
        body["thread_id"] = reply.thread_id
    if reply.sources:
        body["sources"] = sources_to_openai(reply.sources)
    return body


def _choice_to_openai(choice: chatrpc.Choice, shape: ReplyShape) -> JsonObject:
    reply = choice.message
    message: JsonObject = {"role": "assistant", "content": reply.content, "refusal": None}
    if reply.tool_calls:
        message["content"] = reply.content or None
        message["tool_calls"] = [tool_call_to_openai(c) for c in reply.tool_calls]
    if reply.reasoning and shape.reasoning:
        message["reasoning_content"] = reply.reasoning  # DashScope's and vLLM's field
    return {
        "index": choice.index,
        "message": message,
        "finish_reason": choice.finish_reason.value,
        "logprobs": logprobs_to_openai(choice.logprobs) if shape.logprobs else None,
    }


def logprobs_to_openai(tokens: Iterable[chatrpc.TokenLogprob]) -> JsonObject:
    """A choice's `logprobs` object: `content` lists each token, `refusal` is null."""
    content = [
        {
            "token": t.token,
            "logprob": t.logprob,
            "bytes": list(t.token_bytes),
            "top_logprobs": [
                {"token": a.token, "logprob": a.logprob, "bytes": list(a.token_bytes)}
                for a in t.top_logprobs
            ],
        }
        for t in tokens
    ]
    return {"content": content, "refusal": None}


def sources_to_openai(sources: Iterable[chatrpc.Source]) -> list[JsonObject]:
    """The knowledge chunks a reply was given, numbered as the reply cites them."""
    return [
        {
            "index": n,
            "chunk_id": s.chunk_id,
            "document_id": s.document_id,
            "source": s.source,
            "title": s.title,
            "score": round(s.score, 4),
            "text": s.text,
        }
        for n, s in enumerate(sources, start=1)
    ]


def list_to_openai(items: Iterable[JsonObject], **extra: object) -> JsonObject:
    """OpenAI's list envelope: `{"object": "list", "data": [...]}` (plus paging fields)."""
    return {"object": "list", "data": list(items), **extra}


def model_to_openai(model: chatrpc.Model) -> JsonObject:
    return {"id": model.id, "object": "model", "created": model.created, "owned_by": model.owned_by}


class ChunkEncoder:
    """Encodes one stream's events as `chat.completion.chunk` JSON (UTF-8 bytes).

    The envelope (id, created, model) is rendered once per stream; each delta then costs one
    orjson encoding of its delta object. `shape` says how many choices there are (each gets
    its role chunk first, together), whether logprobs and reasoning are shown, and whether
    usage is sent (OpenAI's stream_options).
    """

    def __init__(self, start: chatrpc.StreamStart, shape: ReplyShape = ReplyShape()) -> None:
        head = orjson.dumps(
            {
                "id": start.id,
                "object": "chat.completion.chunk",
                "created": start.created,
                "model": start.model,
            }
        )[:-1]
        self._head = head + (b',"usage":null' if shape.include_usage else b"") + b',"choices":['
        self._usage_head = head + b',"choices":[],"usage":'
        self._shape = shape

    def _choice(
        self, delta: bytes, finish: bytes = b"null", index: int = 0, logprobs: bytes = b"null"
    ) -> bytes:
        return b'{"index":%d,"delta":%b,"logprobs":%b,"finish_reason":%b}' % (
            index,
            delta,
            logprobs,
            finish,
        )

    def _chunk(self, *choices: bytes) -> bytes:
        return self._head + b",".join(choices) + b"]}"

    def encode(self, event: chatrpc.StreamEvent) -> bytes | None:
        """The JSON for `event`, or None when it has nothing to send."""
        if isinstance(event, chatrpc.MessageDelta):
            return self._delta(event)
        if isinstance(event, chatrpc.StreamStart):
            role = b'{"role":"assistant","content":""}'
            chunk = self._chunk(*(self._choice(role, index=i) for i in range(self._shape.choices)))
            if event.sources:  # an extra top-level field on the first chunk only
                sources = orjson.dumps(sources_to_openai(event.sources))
                chunk = chunk[:-1] + b',"sources":' + sources + b"}"
            return chunk
        if isinstance(event, chatrpc.StreamFinish):
            finish = b'"' + event.finish_reason.value.encode() + b'"'
            return self._chunk(self._choice(b"{}", finish, event.choice_index))
        if self._shape.include_usage:
            return self._usage_head + orjson.dumps(usage_to_openai(event)) + b"}"
        return None

    def _delta(self, event: chatrpc.MessageDelta) -> bytes | None:
        delta: JsonObject = {}
        if event.reasoning and self._shape.reasoning:
            delta["reasoning_content"] = event.reasoning
        if event.content:
            delta["content"] = event.content
        if event.tool_calls:
            delta["tool_calls"] = [_tool_call_delta(d) for d in event.tool_calls]
        logprobs = b"null"
        if event.logprobs and self._shape.logprobs:
            logprobs = orjson.dumps(logprobs_to_openai(event.logprobs))
        elif not delta:
            return None
        return self._chunk(
            self._choice(orjson.dumps(delta), index=event.choice_index, logprobs=logprobs)
        )


def _tool_call_delta(delta: chatrpc.ToolCallDelta) -> JsonObject:
    """A tool-call delta; `function.name` is on every delta ("" after the first), so clients
    that read it on each one (the LightLLM seed's loop) work, while accumulating clients (the
    openai SDK concatenates strings) still get the name once."""
    item: JsonObject = {"index": delta.index}
    if delta.id:
        item["id"] = delta.id
        item["type"] = "function"
    item["function"] = {"name": delta.name, "arguments": delta.arguments}
    return item


def tool_call_to_openai(call: chatrpc.ToolCall) -> JsonObject:
    """A complete tool call in OpenAI's shape."""
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments},
    }


def thread_to_openai(thread: chatrpc.Thread) -> JsonObject:
    """A thread in the gateway's JSON shape (README "Thread routes")."""
    body: JsonObject = {
        "id": thread.thread_id,
        "object": "thread",
        "created_at": thread.created,
        "updated_at": thread.updated,
        "message_count": thread.message_count,
    }
    if thread.messages:
        body["messages"] = [_stored_message(m) for m in thread.messages]
    return body


def _stored_message(stored: chatrpc.ThreadMessage) -> JsonObject:
    message = stored.message
    item: JsonObject = {"seq": stored.seq, "role": str(message.role), "content": message.content}
    if message.reasoning:
        item["reasoning_content"] = message.reasoning
    if message.name:
        item["name"] = message.name
    if message.tool_calls:
        item["tool_calls"] = [tool_call_to_openai(c) for c in message.tool_calls]
    if message.tool_call_id:
        item["tool_call_id"] = message.tool_call_id
    item["turn_id"] = stored.turn_id
    item["created_at"] = stored.created
    item["user"] = stored.user
    item["metadata"] = dict(stored.metadata)
    return item
