"""The OpenAI wire shapes toward upstreams (chat completions, embeddings): pure conversions,
no I/O, no SDK.

Out: `request_body` turns a Prompt and GenerationParams into the JSON body of
`POST /chat/completions` (allowlisted fields only), its messages and tools in the shapes of
core/chat_shapes.py (which chat templates and tool instructions use too).

In: `SseSplitter` cuts the raw response bytes into the `data:` payloads of complete events, and
`ChunkFolder` turns the decoded chunks of one network read into BackendChunks: all the text
that arrived together in one chunk (coalescing: a fast upstream's deltas travel on as one),
native tool-call deltas with a call's id and name only on its first delta (a missing id
becomes `call_` + 24 characters), reasoning text (`reasoning_content`, as DashScope and older
vLLM send it, or vLLM's newer `reasoning`) apart from the answer, token logprobs
(`logprobs.content`, when asked), and the finish reason and usage remembered for the last
chunk. Finish reasons: "stop", "length", "tool_calls" and "function_call" map by name; "stop"
after tool calls becomes TOOL_CALLS (some upstreams say "stop"); "content_filter" stays
CONTENT_FILTER; unknown reasons become STOP (the text so far is the reply) and are logged.

Embeddings: `embeddings_body` is the body of `POST /embeddings`, `embeddings_from_openai`
reads its answer (checked: one finite vector per input, in input order).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

from core.backends.base import EmbedInputs
from core.chat_shapes import message_to_openai, tools_to_openai
from core.tools.base import new_tool_call_id
from core.types import (
    BackendChunk,
    EmbeddingBatch,
    FinishReason,
    GenerationParams,
    JsonObject,
    Prompt,
    ResponseFormat,
    ResponseFormatType,
    TokenLogprob,
    ToolCallDelta,
    ToolChoiceMode,
    TopLogprob,
    Usage,
)

logger = logging.getLogger(__name__)

# GenerationParams fields OpenAI's API takes under the same name (repetition_penalty is not one:
# it goes in the body only to upstreams configured to accept it).
OPENAI_SAMPLING = (
    "temperature",
    "top_p",
    "max_tokens",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
)
# Request fields `request_body` owns; operator-configured extra body fields may not shadow them.
OWNED_FIELDS = frozenset(
    {
        *OPENAI_SAMPLING, "model", "messages", "stream", "stream_options", "repetition_penalty",
        "tools", "tool_choice", "parallel_tool_calls", "response_format", "logprobs",
        "top_logprobs", "n", "max_completion_tokens",
    }
)  # fmt: skip
FINISH_REASONS = {
    "stop": FinishReason.STOP,
    "length": FinishReason.LENGTH,
    "tool_calls": FinishReason.TOOL_CALLS,
    "function_call": FinishReason.TOOL_CALLS,
    "content_filter": FinishReason.CONTENT_FILTER,
}
# The names an upstream may take the output cap under (catalog option `max_tokens_field`).
MAX_TOKENS_FIELDS = ("max_tokens", "max_completion_tokens")


def request_body(
    model: str,
    prompt: Prompt,
    params: GenerationParams,
    *,
    tools: bool,
    repetition_penalty: bool,
    extra: Mapping[str, object],
    max_tokens_field: str = "",
) -> JsonObject:
    """The streamed request's JSON body (the pipeline has validated every value).

    Native tool fields go only to upstreams with `tools`; `repetition_penalty` only to those
    that accept it (vLLM, LightLLM; OpenAI does not), else it is dropped; `extra` is operator
    configuration, never request data. An unset max_tokens is left out: the upstream then
    applies its own default, which it always accepts (hosted upstreams cap output per model).
    A set one goes under `max_tokens_field` when the operator names one (reasoning models take
    `max_completion_tokens` only), else under the name the caller used. The caller's provider
    fields (`params.extra`, allowed by the catalog) go as given, over the operator's `extra`.
    """
    body: JsonObject = {
        "model": model,
        "messages": [message_to_openai(m) for m in prompt.messages],
    }
    for name in OPENAI_SAMPLING:
        value = getattr(params, name)
        if value is not None and value != ():
            body[name] = list(value) if name == "stop" else value
    if params.max_tokens is not None:
        del body["max_tokens"]
        body[max_tokens_field or params.max_tokens_field or "max_tokens"] = params.max_tokens
    if repetition_penalty and params.repetition_penalty is not None:
        body["repetition_penalty"] = params.repetition_penalty
    if params.logprobs:
        body["logprobs"] = True
        if params.top_logprobs:
            body["top_logprobs"] = params.top_logprobs
    if prompt.tools and tools:
        body["tools"] = tools_to_openai(prompt.tools)
        choice = prompt.tool_choice
        if choice.mode is ToolChoiceMode.FUNCTION:
            body["tool_choice"] = {"type": "function", "function": {"name": choice.name}}
        elif choice.mode is not ToolChoiceMode.AUTO:  # auto is every upstream's default
            body["tool_choice"] = choice.mode.value
        if not prompt.parallel_tool_calls:
            body["parallel_tool_calls"] = False
    response_format = _response_format(prompt.response_format)
    if response_format is not None:
        body["response_format"] = response_format
    body.update(extra)
    body.update(params.extra)  # the catalog lets callers set these: theirs over the default
    body["stream"] = True
    body["stream_options"] = {"include_usage": True}
    return body


def _response_format(fmt: ResponseFormat) -> JsonObject | None:
    """The body's `response_format` (None for free text); `strict` only when the caller said."""
    if fmt.type is ResponseFormatType.JSON_OBJECT:
        return {"type": "json_object"}
    if fmt.type is not ResponseFormatType.JSON_SCHEMA:
        return None
    schema: JsonObject = {"name": fmt.name or "reply", "schema": fmt.schema or {}}
    if fmt.strict is not None:
        schema["strict"] = fmt.strict
    return {"type": "json_schema", "json_schema": schema}


def estimate_tokens(prompt: Prompt, *, tools: bool) -> int:
    """A tokenizer-free estimate of the prompt's tokens, for context-window checks only.

    ASCII text counts one token per 3 characters and every other character one token, plus 4
    per message and call and the tools' JSON: generous for English and for CJK text alike.
    """
    total = 3 + _estimate(prompt.raw)
    for message in prompt.messages:
        total += 4 + _estimate(message.content) + _estimate(message.name)
        for call in message.tool_calls:
            total += 4 + _estimate(call.name) + _estimate(call.arguments)
    if prompt.tools and tools:
        total += _estimate(json.dumps(tools_to_openai(prompt.tools), ensure_ascii=False))
    return total


def _estimate(text: str) -> int:
    if text.isascii():  # the common case, without a per-character loop
        return math.ceil(len(text) / 3)
    ascii_chars = sum(1 for ch in text if ch < "\x80")
    return math.ceil(ascii_chars / 3) + len(text) - ascii_chars


class SseSplitter:
    """Raw SSE bytes → the `data:` payloads of the events completed so far (bytes).

    Events end with a blank line; lines may end in LF, CRLF or CR. Comment lines and fields
    other than `data` are skipped; a multi-line data field is joined with LF (the SSE rule).
    """

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[bytes]:
        buffer = self._buffer + data
        if b"\r" in buffer:
            buffer = buffer.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        *events, self._buffer = buffer.split(b"\n\n")
        payloads = []
        for event in events:
            if event.startswith(b"data:") and b"\n" not in event:  # the common one-line event
                value = event[5:]
                payloads.append(value[1:] if value[:1] == b" " else value)
                continue
            lines = [line[5:] for line in event.split(b"\n") if line.startswith(b"data:")]
            if lines:
                payloads.append(b"\n".join(p[1:] if p[:1] == b" " else p for p in lines))
        return payloads


class _Piece:
    """What one upstream chunk carried for choice 0."""

    __slots__ = ("calls", "logprobs", "reasoning", "text")

    def __init__(self) -> None:
        self.text = ""
        self.reasoning = ""
        self.calls: list[ToolCallDelta] = []
        self.logprobs: list[TokenLogprob] = []


class ChunkFolder:
    """Decoded upstream chunks → BackendChunks; remembers the finish reason and usage."""

    def __init__(self) -> None:
        self.finish: FinishReason | None = None
        self.usage: Usage | None = None
        self.deltas = 0  # chunks that carried text or tool-call deltas
        self._started: set[int] = set()
        self._named: set[int] = set()

    def fold(self, chunks: Sequence[Any]) -> list[BackendChunk]:
        """The deltas of `chunks` (arrived together) as few BackendChunks as keep their order.

        Consecutive text (and reasoning before it) is joined; a text that follows a tool call,
        or reasoning that follows text or a tool call, starts a new chunk.
        Raises ValueError, TypeError or AttributeError for a chunk of the wrong shape.
        """
        out: list[BackendChunk] = []
        group = _Piece()
        for chunk in chunks:
            piece = self._feed(chunk)
            if (piece.text and group.calls) or (piece.reasoning and (group.text or group.calls)):
                out.append(_backend_chunk(group))
                group = _Piece()
            group.text += piece.text
            group.reasoning += piece.reasoning
            group.calls.extend(piece.calls)
            group.logprobs.extend(piece.logprobs)
        if group.text or group.calls or group.reasoning or group.logprobs:
            out.append(_backend_chunk(group))
        return out

    def _feed(self, chunk: Any) -> _Piece:
        if not isinstance(chunk, dict):
            raise ValueError("a stream chunk must be a JSON object")
        usage = chunk.get("usage")
        if usage:
            self.usage = Usage(
                int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
            )
        piece = _Piece()
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:  # n is never sent, so other choices are not ours
                continue
            delta = choice.get("delta") or {}
            piece.text += delta.get("content") or choice.get("text") or ""  # chat, or legacy
            piece.reasoning += delta.get("reasoning_content") or delta.get("reasoning") or ""
            piece.calls.extend(self._call(c) for c in delta.get("tool_calls") or ())
            logprobs = choice.get("logprobs")
            if logprobs and "tokens" in logprobs:  # a text completion's legacy shape
                piece.logprobs.extend(legacy_logprobs(logprobs))
            elif logprobs:
                piece.logprobs.extend(token_logprob(t) for t in logprobs.get("content") or ())
            reason = choice.get("finish_reason")
            if reason is not None:
                self.finish = finish_reason(str(reason))
        if self._started and self.finish is FinishReason.STOP:
            self.finish = FinishReason.TOOL_CALLS
        if piece.text or piece.calls or piece.reasoning:
            self.deltas += 1
        return piece

    def _call(self, call: Mapping[str, Any]) -> ToolCallDelta:
        index = call.get("index")
        index = index if isinstance(index, int) else 0
        function = call.get("function") or {}
        call_id = "" if index in self._started else call.get("id") or new_tool_call_id()
        self._started.add(index)
        name = "" if index in self._named else function.get("name") or ""
        if name:
            self._named.add(index)
        arguments = function.get("arguments") or ""
        if not isinstance(arguments, str) or not isinstance(name, str):
            raise ValueError("tool-call name and arguments must be strings")
        return ToolCallDelta(index=index, id=str(call_id), name=name, arguments=arguments)


def finish_reason(reason: str) -> FinishReason:
    """Our finish reason for an upstream one (see the module docstring)."""
    mapped = FINISH_REASONS.get(reason)
    if mapped is None:
        logger.warning("Upstream finished with %r; reported as stop", reason[:40])
    return mapped or FinishReason.STOP


def embeddings_body(model: str, texts: EmbedInputs, dimensions: int | None) -> JsonObject:
    """The JSON body of `POST /embeddings`: the texts (or token arrays) as a list, vectors
    asked for as floats (every OpenAI-compatible server sends floats; not all send base64)."""
    inputs = [t if isinstance(t, str) else list(t) for t in texts]
    body: JsonObject = {"model": model, "input": inputs, "encoding_format": "float"}
    if dimensions is not None:
        body["dimensions"] = dimensions
    return body


def embeddings_from_openai(
    payload: Any, texts: EmbedInputs, dimensions: int | None
) -> EmbeddingBatch:
    """An upstream's embeddings response to `texts` as an EmbeddingBatch, in input order.

    Raises ValueError unless it holds exactly one vector of finite numbers per text (indices
    0 to len(texts) - 1, all of one length, `dimensions` long when asked). Without `usage`
    (some servers leave it out), the prompt tokens are estimated as `estimate_tokens` does.
    """
    count = len(texts)
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, list) or len(data) != count:
        raise ValueError("expected one embedding per input")
    vectors: dict[int, tuple[float, ...]] = {}
    for item in data:
        if not isinstance(item, dict):
            raise ValueError("an embedding must be an object")
        index, vector = item.get("index"), item.get("embedding")
        if not isinstance(index, int) or not 0 <= index < count or index in vectors:
            raise ValueError("embedding indices must be 0 to count - 1, each once")
        if not isinstance(vector, list) or not vector:
            raise ValueError("an embedding must be a non-empty list of numbers")
        values = tuple(float(v) for v in vector if _is_number(v))
        if len(values) != len(vector) or not all(map(math.isfinite, values)):
            raise ValueError("an embedding must hold finite numbers only")
        vectors[index] = values
    lengths = {len(v) for v in vectors.values()}
    if len(lengths) != 1 or (dimensions is not None and lengths != {dimensions}):
        raise ValueError("embeddings must all have the asked-for length")
    usage = payload.get("usage")
    tokens = usage.get("prompt_tokens") if isinstance(usage, dict) else None
    if not isinstance(tokens, int) or tokens < 0:
        tokens = sum(_estimate(t) if isinstance(t, str) else len(t) for t in texts)
    return EmbeddingBatch(vectors=tuple(vectors[i] for i in range(count)), prompt_tokens=tokens)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _backend_chunk(piece: _Piece) -> BackendChunk:
    return BackendChunk(
        text=piece.text,
        tool_calls=tuple(piece.calls),
        reasoning=piece.reasoning,
        logprobs=tuple(piece.logprobs),
    )


def token_logprob(item: Mapping[str, Any]) -> TokenLogprob:
    """One entry of OpenAI's `logprobs.content` (raises on a wrong shape)."""
    top = tuple(_top_logprob(t) for t in item.get("top_logprobs") or ())
    token, logprob, raw = _logprob_fields(item)
    return TokenLogprob(token=token, logprob=logprob, token_bytes=raw, top=top)


def legacy_logprobs(logprobs: Mapping[str, Any]) -> list[TokenLogprob]:
    """A text completion's `logprobs` (`tokens`, `token_logprobs`, `top_logprobs` as one
    {token: logprob} object per position) as TokenLogprobs (raises on a wrong shape)."""
    tokens, values = logprobs["tokens"], logprobs["token_logprobs"]
    tops = logprobs.get("top_logprobs") or [None] * len(tokens)
    out = []
    for token, value, top in zip(tokens, values, tops, strict=True):
        alternatives = tuple(
            TopLogprob(str(t), float(lp), str(t).encode("utf-8")) for t, lp in (top or {}).items()
        )
        out.append(TokenLogprob(str(token), float(value), str(token).encode("utf-8"), alternatives))
    return out


def _top_logprob(item: Mapping[str, Any]) -> TopLogprob:
    token, logprob, raw = _logprob_fields(item)
    return TopLogprob(token=token, logprob=logprob, token_bytes=raw)


def _logprob_fields(item: Mapping[str, Any]) -> tuple[str, float, bytes]:
    token, logprob, raw = item["token"], item["logprob"], item.get("bytes")
    if not isinstance(token, str) or isinstance(logprob, bool):
        raise TypeError("a logprob's token must be a string and its logprob a number")
    return token, float(logprob), bytes(raw) if raw is not None else token.encode("utf-8")
