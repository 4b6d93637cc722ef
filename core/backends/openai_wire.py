"""The OpenAI chat-completions wire shape for OpenAICompatBackend: pure conversions, no I/O.

`request_fields` turns a Prompt and GenerationParams into the keyword arguments of
`chat.completions.create` (allowlisted, range-checked fields only). `ChunkFolder` turns the
upstream's stream chunks into BackendChunks: text and native tool-call deltas pass through, a
call's id and name only on its first delta (a missing id becomes `call_` + 24 characters), and
it remembers the finish reason and usage for the last chunk. Finish reasons: "stop", "length",
"tool_calls" and "function_call" map by name; "stop" after tool calls becomes TOOL_CALLS (some
upstreams say "stop"); "content_filter" and unknown reasons become STOP (the text so far is the
reply) and are logged.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping

from openai.types.chat import ChatCompletionChunk
from openai.types.chat.chat_completion_chunk import ChoiceDeltaToolCall

from core.errors import InvalidArgumentError
from core.tools.base import new_tool_call_id
from core.types import (
    BackendChunk,
    FinishReason,
    GenerationParams,
    JsonObject,
    Message,
    Prompt,
    ResponseFormatType,
    Role,
    ToolCallDelta,
    ToolChoiceMode,
    Usage,
)

logger = logging.getLogger(__name__)

# Request fields `request_fields` owns; operator-configured extra body fields may not shadow them.
OWNED_FIELDS = frozenset(
    {
        "model", "messages", "stream", "stream_options", "temperature", "top_p", "max_tokens",
        "stop", "seed", "presence_penalty", "frequency_penalty", "repetition_penalty", "tools",
        "tool_choice", "parallel_tool_calls", "response_format",
    }
)  # fmt: skip
FINISH_REASONS = {
    "stop": FinishReason.STOP,
    "length": FinishReason.LENGTH,
    "tool_calls": FinishReason.TOOL_CALLS,
    "function_call": FinishReason.TOOL_CALLS,
    "content_filter": FinishReason.STOP,
}


def request_fields(
    model: str,
    prompt: Prompt,
    params: GenerationParams,
    *,
    tools: bool,
    repetition_penalty: bool,
    extra: Mapping[str, object],
) -> JsonObject:
    """Keyword arguments of `chat.completions.create` (without `stream`/`stream_options`).

    Native tool fields go only to upstreams with `tools`; `repetition_penalty` only to those
    that accept it (vLLM, LightLLM; OpenAI does not), else it is dropped. `extra` (operator
    configuration, never request data) and repetition_penalty travel in `extra_body`.
    """
    fields: JsonObject = {
        "model": model,
        "messages": [message_to_openai(m) for m in prompt.messages],
    }
    fields.update(sampling_fields(params))
    if prompt.tools and tools:
        fields["tools"] = tools_to_openai(prompt)
        choice = prompt.tool_choice
        if choice.mode is ToolChoiceMode.FUNCTION:
            fields["tool_choice"] = {"type": "function", "function": {"name": choice.name}}
        elif choice.mode is not ToolChoiceMode.AUTO:  # auto is every upstream's default
            fields["tool_choice"] = choice.mode.value
        if not prompt.parallel_tool_calls:
            fields["parallel_tool_calls"] = False
    response_format = prompt.response_format
    if response_format.type is ResponseFormatType.JSON_OBJECT:
        fields["response_format"] = {"type": "json_object"}
    elif response_format.type is ResponseFormatType.JSON_SCHEMA:
        schema = {"name": response_format.name or "reply", "schema": response_format.schema or {}}
        fields["response_format"] = {"type": "json_schema", "json_schema": schema}
    body = dict(extra)
    if repetition_penalty and params.repetition_penalty is not None:
        _check("repetition_penalty", params.repetition_penalty, 0.0, 2.0, open_low=True)
        body["repetition_penalty"] = params.repetition_penalty
    if body:
        fields["extra_body"] = body
    return fields


def sampling_fields(params: GenerationParams) -> JsonObject:
    """Sampling fields in OpenAI's names, each checked against OpenAI's documented range."""
    fields: JsonObject = {}
    ranges: dict[str, tuple[float | None, float, float]] = {
        "temperature": (params.temperature, 0.0, 2.0),
        "top_p": (params.top_p, 0.0, 1.0),  # 0 excluded
        "max_tokens": (params.max_tokens, 1, 2**31 - 1),
        "seed": (params.seed, -(2**63), 2**63 - 1),
        "presence_penalty": (params.presence_penalty, -2.0, 2.0),
        "frequency_penalty": (params.frequency_penalty, -2.0, 2.0),
    }
    for name, (value, low, high) in ranges.items():
        if value is not None:
            _check(name, value, low, high, open_low=name == "top_p")
            fields[name] = value
    if params.stop:
        if not all(isinstance(s, str) and s for s in params.stop):
            raise InvalidArgumentError(
                "stop strings must be non-empty.", field="generation_config.stop"
            )
        fields["stop"] = list(params.stop)
    return fields


def _check(name: str, value: float, low: float, high: float, *, open_low: bool = False) -> None:
    if not (low < value <= high if open_low else low <= value <= high):  # NaN fails both
        raise InvalidArgumentError(
            f"{name} is out of range for the upstream model.", field=f"generation_config.{name}"
        )


def message_to_openai(message: Message) -> JsonObject:
    """A message in OpenAI's shape (content is null beside tool calls, as OpenAI sends it)."""
    item: JsonObject = {"role": message.role.value, "content": message.content}
    if message.tool_calls:
        item["content"] = message.content or None
        item["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in message.tool_calls
        ]
    if message.role is Role.TOOL:
        item["tool_call_id"] = message.tool_call_id
    elif message.name:
        item["name"] = message.name
    return item


def tools_to_openai(prompt: Prompt) -> list[JsonObject]:
    """The prompt's tools in OpenAI's function-tool shape."""
    tools: list[JsonObject] = []
    for tool in prompt.tools:
        function: JsonObject = {"name": tool.name, "parameters": tool.parameters}
        if tool.description:
            function["description"] = tool.description
        tools.append({"type": "function", "function": function})
    return tools


def estimate_tokens(prompt: Prompt, *, tools: bool) -> int:
    """A tokenizer-free estimate of the prompt's tokens, for context-window checks only.

    ASCII text counts one token per 3 characters and every other character one token, plus 4
    per message and call and the tools' JSON: generous for English and for CJK text alike.
    """
    total = 3
    for message in prompt.messages:
        total += 4 + _estimate(message.content) + _estimate(message.name)
        for call in message.tool_calls:
            total += 4 + _estimate(call.name) + _estimate(call.arguments)
    if prompt.tools and tools:
        total += _estimate(json.dumps(tools_to_openai(prompt), ensure_ascii=False))
    return total


def _estimate(text: str) -> int:
    ascii_chars = sum(1 for ch in text if ch < "\x80")
    return math.ceil(ascii_chars / 3) + len(text) - ascii_chars


class ChunkFolder:
    """Turns upstream chunks into BackendChunks; remembers the finish reason and usage."""

    def __init__(self) -> None:
        self.finish: FinishReason | None = None
        self.usage: Usage | None = None
        self.deltas = 0  # chunks that carried text or tool-call deltas
        self._started: set[int] = set()
        self._named: set[int] = set()

    def feed(self, chunk: ChatCompletionChunk) -> BackendChunk | None:
        """The deltas of `chunk` as one BackendChunk, or None if it had none."""
        if chunk.usage is not None:
            self.usage = Usage(chunk.usage.prompt_tokens or 0, chunk.usage.completion_tokens or 0)
        text, calls = "", list[ToolCallDelta]()
        for choice in chunk.choices:
            if choice.index != 0:  # n is never sent, so other choices are not ours
                continue
            text += choice.delta.content or ""
            calls.extend(self._call(c) for c in choice.delta.tool_calls or ())
            if choice.finish_reason is not None:
                self.finish = finish_reason(choice.finish_reason)
        if self._started and self.finish is FinishReason.STOP:
            self.finish = FinishReason.TOOL_CALLS
        if not text and not calls:
            return None
        self.deltas += 1
        return BackendChunk(text=text, tool_calls=tuple(calls))

    def _call(self, call: ChoiceDeltaToolCall) -> ToolCallDelta:
        index = call.index if isinstance(call.index, int) else 0
        function = call.function
        call_id = "" if index in self._started else call.id or new_tool_call_id()
        self._started.add(index)
        name = "" if index in self._named else (function.name if function else "") or ""
        if name:
            self._named.add(index)
        arguments = (function.arguments if function else "") or ""
        return ToolCallDelta(index=index, id=call_id, name=name, arguments=arguments)


def finish_reason(reason: str) -> FinishReason:
    """Our finish reason for an upstream one (see the module docstring)."""
    mapped = FINISH_REASONS.get(reason)
    if mapped is None or reason == "content_filter":
        logger.warning("Upstream finished with %r; reported as stop", reason[:40])
    return mapped or FinishReason.STOP
