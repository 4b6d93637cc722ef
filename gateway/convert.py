"""OpenAI HTTP shapes ↔ chatrpc SDK types; no I/O. The only place that speaks OpenAI's words."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

import chatrpc
from gateway.errors import RequestError
from gateway.openai_types import ChatCompletionRequest, ChatMessage, DbgptChatRequest

JsonObject = dict[str, Any]
ModelT = TypeVar("ModelT", bound=BaseModel)


def parse_request(body: bytes) -> ChatCompletionRequest:
    """Validates a chat request body; errors become a 400 naming the offending parameter."""
    return parse_model(body, ChatCompletionRequest)


def parse_model(body: bytes, model: type[ModelT]) -> ModelT:
    """Validates a JSON body against `model`; errors become a 400 naming the parameter."""
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise validation_error(exc) from None


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


def request_to_turn(request: ChatCompletionRequest, header_thread_id: str | None) -> dict[str, Any]:
    """SDK chat()/chat_stream() keyword arguments for an OpenAI request."""
    if request.n not in (None, 1):
        raise RequestError("Only n=1 is supported.", param="n")
    if request.stream_options is not None and not request.stream:
        raise RequestError(
            "stream_options is only allowed when stream is true.", param="stream_options"
        )
    turn: dict[str, Any] = {
        "messages": [message_to_sdk(m, i) for i, m in enumerate(request.messages)],
        "model": request.model,
        "thread_id": _thread_id(request.thread_id, header_thread_id),
    }
    max_tokens = request.max_completion_tokens
    if request.max_tokens is not None:
        if max_tokens is not None and max_tokens != request.max_tokens:
            raise RequestError("max_tokens and max_completion_tokens disagree.", param="max_tokens")
        max_tokens = request.max_tokens
    if max_tokens is not None:
        turn["max_tokens"] = max_tokens
    for name in (
        "temperature",
        "top_p",
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "repetition_penalty",
    ):
        value = getattr(request, name)
        if value is not None:
            turn[name] = value
    if request.stop is not None:
        turn["stop"] = [request.stop] if isinstance(request.stop, str) else request.stop
    if request.user:
        turn["user"] = request.user
    if request.metadata:
        turn["metadata"] = request.metadata
    _tools_to_turn(request, turn)
    turn.update(mode_to_turn(request.chat_mode, request.chat_param))
    return turn


# DB-GPT's chat_mode → (chatrpc mode, the SDK argument chat_param fills)
_MODES = {
    "chat_normal": ("normal", ""),
    "chat_app": ("app", "app_id"),
    "chat_knowledge": ("knowledge", "space_id"),
    "chat_flow": ("flow", "flow_id"),
}


def mode_to_turn(chat_mode: str | None, chat_param: str | None) -> dict[str, str]:
    """SDK `mode` and id arguments for DB-GPT's chat_mode and chat_param."""
    if chat_mode is None or chat_mode == "chat_normal":
        return {}
    mode, id_argument = _MODES[chat_mode]
    if not chat_param:
        raise RequestError(
            f"chat_param is required with chat_mode {chat_mode}.", param="chat_param"
        )
    return {"mode": mode, id_argument: chat_param}


_DBGPT_SAMPLING = (
    "temperature",
    "top_p",
    "presence_penalty",
    "frequency_penalty",
    "repetition_penalty",
)


def dbgpt_to_turn(request: DbgptChatRequest) -> dict[str, Any]:
    """SDK arguments for a DB-GPT request; user_name, sys_code and span_id are recorded only."""
    messages: Any = request.messages
    if not isinstance(messages, str):
        messages = [message_to_sdk(m, i) for i, m in enumerate(messages)]
    turn: dict[str, Any] = {
        "messages": messages,
        "model": request.model,
        "thread_id": request.conv_uid or "",
    }
    max_tokens = request.max_tokens if request.max_tokens is not None else request.max_new_tokens
    if max_tokens is not None:
        turn["max_tokens"] = max_tokens
    for name in _DBGPT_SAMPLING:
        if getattr(request, name) is not None:
            turn[name] = getattr(request, name)
    if request.stop is not None:
        turn["stop"] = [request.stop] if isinstance(request.stop, str) else request.stop
    if request.user_name or request.user:
        turn["user"] = request.user_name or request.user
    recorded = {k: v for k in ("sys_code", "span_id") if (v := getattr(request, k))}
    if recorded:
        turn["metadata"] = recorded
    turn.update(mode_to_turn(request.chat_mode, request.chat_param))
    return turn


def _thread_id(body: str | int | None, header: str | None) -> str:
    value = "" if body is None else str(body)
    if header and value and header != value:
        raise RequestError(
            "thread_id in the body and the X-Thread-Id header differ.", param="thread_id"
        )
    return value or header or ""


def _tools_to_turn(request: ChatCompletionRequest, turn: dict[str, Any]) -> None:
    if request.tools:
        turn["tools"] = [tool.model_dump(exclude_none=True) for tool in request.tools]
    choice = request.tool_choice
    if choice is not None:
        turn["tool_choice"] = choice if isinstance(choice, str) else choice.model_dump()
    if request.parallel_tool_calls is not None:
        turn["parallel_tool_calls"] = request.parallel_tool_calls
    fmt = request.response_format
    if fmt is not None:
        dumped: JsonObject = {"type": fmt.type}
        if fmt.json_schema is not None:
            dumped["json_schema"] = fmt.json_schema.model_dump(by_alias=True, exclude_none=True)
        turn["response_format"] = dumped


def message_to_sdk(message: ChatMessage, index: int) -> chatrpc.Message:
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


def turn_headers(trimmed: int) -> dict[str, str]:
    """Response headers of a turn: how many stored messages did not fit the context window."""
    return {"x-trimmed-messages": str(trimmed)}


def usage_to_openai(usage: chatrpc.Usage) -> JsonObject:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }


def reply_to_openai(reply: chatrpc.Reply) -> JsonObject:
    """A `chat.completion` object."""
    message: JsonObject = {"role": "assistant", "content": reply.content, "refusal": None}
    if reply.tool_calls:
        message["content"] = reply.content or None
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in reply.tool_calls
        ]
    body: JsonObject = {
        "id": reply.id,
        "object": "chat.completion",
        "created": reply.created,
        "model": reply.model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": reply.finish_reason.value,
                "logprobs": None,
            }
        ],
        "usage": usage_to_openai(reply.usage),
    }
    if reply.thread_id:
        body["thread_id"] = reply.thread_id
    if reply.sources:
        body["sources"] = sources_to_openai(reply.sources)
    return body


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


def model_to_openai(model: chatrpc.Model) -> JsonObject:
    return {"id": model.id, "object": "model", "created": model.created, "owned_by": model.owned_by}


class ChunkEncoder:
    """Encodes one stream's ReplyChunks as `chat.completion.chunk` JSON texts.

    The envelope (id, created, model) is rendered once per stream; each delta then costs one
    json.dumps of its text. `include_usage` follows OpenAI's stream_options.
    """

    def __init__(self, first: chatrpc.ReplyChunk, include_usage: bool) -> None:
        head = json.dumps(
            {
                "id": first.id,
                "object": "chat.completion.chunk",
                "created": first.created,
                "model": first.model,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )[:-1]
        self._head = head + (',"usage":null' if include_usage else "") + ',"choices":['
        self._usage_head = head + ',"choices":[],"usage":'
        self._include_usage = include_usage

    def _choice(self, delta: str, finish: str = "null") -> str:
        return (
            f'{self._head}{{"index":0,"delta":{delta},"logprobs":null,"finish_reason":{finish}}}]}}'
        )

    def encode(self, chunk: chatrpc.ReplyChunk) -> str | None:
        """The JSON text for `chunk`, or None when it has nothing to send."""
        if chunk.event == "start":
            choice = self._choice('{"role":"assistant","content":""}')
            if chunk.sources:  # an extra top-level field on the first chunk only
                sources = json.dumps(sources_to_openai(chunk.sources), ensure_ascii=False)
                choice = choice[:-1] + ',"sources":' + sources + "}"
            return choice
        if chunk.event == "delta":
            delta: JsonObject = {}
            if chunk.content:
                delta["content"] = chunk.content
            if chunk.tool_calls:
                delta["tool_calls"] = [_tool_call_delta(d) for d in chunk.tool_calls]
            return (
                self._choice(json.dumps(delta, ensure_ascii=False, separators=(",", ":")))
                if delta
                else None
            )
        if chunk.event == "finish":
            reason = chunk.finish_reason.value if chunk.finish_reason else "stop"
            return self._choice("{}", f'"{reason}"')
        if chunk.event == "usage" and self._include_usage and chunk.usage is not None:
            return (
                self._usage_head
                + json.dumps(usage_to_openai(chunk.usage), separators=(",", ":"))
                + "}"
            )
        return None


def _tool_call_delta(delta: chatrpc.ToolCallDelta) -> JsonObject:
    function: JsonObject = {"arguments": delta.arguments}
    item: JsonObject = {"index": delta.index, "function": function}
    if delta.id:
        item["id"] = delta.id
        item["type"] = "function"
    if delta.name:
        function["name"] = delta.name
    return item


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
    if message.name:
        item["name"] = message.name
    if message.tool_calls:
        item["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in message.tool_calls
        ]
    if message.tool_call_id:
        item["tool_call_id"] = message.tool_call_id
    item["turn_id"] = stored.turn_id
    item["created_at"] = stored.created
    return item
