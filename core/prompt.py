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


def check_context(prompt_tokens: int, max_tokens: int | None, window: int) -> None:
    """Raises ContextLengthExceededError unless the prompt leaves room for the reply."""
    reply = max_tokens if max_tokens is not None else 1
    if prompt_tokens + reply > window:
        raise ContextLengthExceededError(
            f"The prompt has {prompt_tokens} tokens and the reply may need {reply}, "
            f"but the model's context window is {window} tokens.",
            field="messages",
            prompt_tokens=str(prompt_tokens),
            context_window=str(window),
        )
