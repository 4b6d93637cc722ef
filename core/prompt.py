"""Prompt assembly: pure functions from a turn (history, persona, knowledge later) to a Prompt."""

from __future__ import annotations

from dataclasses import fields, replace

from core.errors import ContextLengthExceededError
from core.types import GenerationParams, Prompt, Turn


def build_prompt(turn: Turn) -> Prompt:
    """The prompt a backend continues for `turn`."""
    return Prompt(
        messages=turn.messages,
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
