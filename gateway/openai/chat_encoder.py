"""Turn events → OpenAI's chat shapes: `chat.completion.chunk` JSON for a stream and the
`chat.completion` object for a whole reply; no I/O."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

import chatrpc
from gateway.http.sse import DONE, error_frame
from gateway.openai.types import ChatCompletionRequest

JsonObject = dict[str, Any]


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


class ChatEncoder:
    """One turn in OpenAI's chat shapes (gateway/http/turns.py's TurnEncoder): its stream as
    `chat.completion.chunk` events ended by `[DONE]`, or the `chat.completion` of its reply.

    The chunk envelope (id, created, model) is rendered once, at the stream's start; each
    delta then costs one orjson encoding of its delta object. `shape` says how many choices
    there are (each gets its role chunk first, together), whether logprobs and reasoning are
    shown, and whether usage is sent (OpenAI's stream_options).
    """

    end = DONE

    def __init__(self, shape: ReplyShape = ReplyShape()) -> None:
        self._shape = shape
        self._head = self._usage_head = b""

    @classmethod
    def of(cls, request: ChatCompletionRequest) -> ChatEncoder:
        """The encoder for a chat-completions request (its ReplyShape)."""
        return cls(ReplyShape.of(request))

    def reply(self, reply: chatrpc.Reply) -> JsonObject:
        """The `chat.completion` object of a whole reply."""
        return reply_to_openai(reply, self._shape)

    def frames(self, event: chatrpc.StreamEvent) -> bytes | None:
        """The SSE event for `event`, or None when it has nothing to send."""
        data = self.encode(event)
        return None if data is None else b"data: " + data + b"\n\n"  # sse.frame, inlined

    def failed(self, exc: chatrpc.ChatServiceError) -> bytes:
        """OpenAI's error envelope as the stream's last event (no `[DONE]` follows)."""
        return error_frame(exc)

    def _begin(self, start: chatrpc.StreamStart) -> None:
        head = orjson.dumps(
            {
                "id": start.id,
                "object": "chat.completion.chunk",
                "created": start.created,
                "model": start.model,
            }
        )[:-1]
        usage = b',"usage":null' if self._shape.include_usage else b""
        self._head = head + usage + b',"choices":['
        self._usage_head = head + b',"choices":[],"usage":'

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
            self._begin(event)
            role = b'{"role":"assistant","content":""}'
            chunk = self._chunk(*(self._choice(role, index=i) for i in range(self._shape.choices)))
            if event.sources:  # an extra top-level field on the first chunk only
                sources = orjson.dumps(sources_to_openai(event.sources))
                chunk = chunk[:-1] + b',"sources":' + sources + b"}"
            return chunk
        if isinstance(event, chatrpc.StreamFinish):
            finish = b'"' + event.finish_reason.value.encode() + b'"'
            return self._chunk(self._choice(b"{}", finish, event.choice_index))
        if isinstance(event, chatrpc.Usage) and self._shape.include_usage:
            return self._usage_head + orjson.dumps(usage_to_openai(event)) + b"}"
        # McpItems: chat completions send no MCP tools
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
