"""Prompt assembly: pure functions from a turn (history, persona, knowledge later) to a Prompt."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import fields, replace

from core.errors import ContextLengthExceededError
from core.types import GenerationParams, Message, Prompt, Role, ToolSpec, Turn

# How each text tool-call format writes one call (core/tools parses exactly these shapes).
CALL_SYNTAX = {
    "hermes": '<tool_call>\n{"name": "<function name>", "arguments": {<arguments>}}\n</tool_call>',
    "qwen25": '<tool_call>\n{"name": "<function name>", "arguments": {<arguments>}}\n</tool_call>',
    "llama3": '<|python_tag|>{"name": "<function name>", "parameters": {<arguments>}}',
    "mistral": '[TOOL_CALLS][{"name": "<function name>", "arguments": {<arguments>}}]',
    "glm4": "<function name>\n{<arguments>}",
}


def tool_instructions(tools: tuple[ToolSpec, ...], call_format: str) -> Message:
    """A system message telling a model without native tool calling how to call `tools`."""
    specs = [
        {
            "type": "function",
            "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
        }
        for t in tools
    ]
    text = (
        "You can call these functions:\n"
        + json.dumps(specs, ensure_ascii=False)
        + "\nTo call one, reply with exactly this and nothing else:\n"
        + CALL_SYNTAX[call_format]
    )
    return Message(role=Role.SYSTEM, content=text)


def with_instructions(messages: tuple[Message, ...], extra: Message) -> tuple[Message, ...]:
    """`messages` with `extra` merged into the leading system message (or placed first)."""
    if messages and messages[0].role is Role.SYSTEM:
        merged = replace(messages[0], content=messages[0].content + "\n\n" + extra.content)
        return (merged, *messages[1:])
    return (extra, *messages)


def build_prompt(turn: Turn, messages: tuple[Message, ...] | None = None) -> Prompt:
    """The prompt a backend continues for `turn` (with `messages` if the thread supplied them)."""
    return Prompt(
        messages=turn.messages if messages is None else messages,
        tools=turn.tools,
        tool_choice=turn.tool_choice,
        parallel_tool_calls=turn.parallel_tool_calls,
        response_format=turn.response_format,
    )


def with_defaults(params: GenerationParams, defaults: GenerationParams) -> GenerationParams:
    """`params` with every unset field taken from the model's catalog defaults."""
    missing = {
        f.name: getattr(defaults, f.name)
        for f in fields(params)
        if getattr(params, f.name) in (None, ())
    }
    return replace(params, **missing)


def reply_budget(
    prompt_tokens: int, params: GenerationParams, default_max: int | None, window: int
) -> GenerationParams:
    """`params` with max_tokens settled against the context window.

    A requested max_tokens must fit beside the prompt; unset, it is the model's default
    (if any) cut to the room left. No room: ContextLengthExceededError.
    """
    room = window - prompt_tokens
    needed = params.max_tokens if params.max_tokens is not None else 1
    if needed > room:
        raise ContextLengthExceededError(
            f"The prompt has {prompt_tokens} tokens and the reply may need {needed}, "
            f"but the model's context window is {window} tokens.",
            field="messages",
            prompt_tokens=str(prompt_tokens),
            context_window=str(window),
        )
    if params.max_tokens is not None:
        return params
    return replace(params, max_tokens=min(default_max or room, room))


TokenCounter = Callable[[tuple[Message, ...]], Awaitable[int]]


def turn_groups(history: tuple[Message, ...]) -> list[tuple[Message, ...]]:
    """History cut before each user message, so trimming never orphans a reply or tool result."""
    groups: list[list[Message]] = []
    for message in history:
        if message.role is Role.USER or not groups:
            groups.append([])
        groups[-1].append(message)
    return [tuple(g) for g in groups]


async def fit_to_context(
    instructions: tuple[Message, ...],
    history: tuple[Message, ...],
    new: tuple[Message, ...],
    count: TokenCounter,
    limit: int,
) -> tuple[tuple[Message, ...], int, int]:
    """Drops the oldest history turns until the prompt fits `limit` tokens.

    Returns (messages, trimmed message count, prompt tokens). Instructions (system messages)
    and the new messages are always kept; if they alone exceed the limit the caller's
    reply_budget reports it.
    """
    groups = turn_groups(history)
    trimmed = 0
    while True:
        messages = (*instructions, *(m for g in groups for m in g), *new)
        tokens = await count(messages)
        if tokens <= limit or not groups:
            return messages, trimmed, tokens
        excess = tokens - limit
        while groups and excess > 0:  # per-group counts estimate; the loop re-checks
            group = groups.pop(0)
            trimmed += len(group)
            excess -= await count(group)
