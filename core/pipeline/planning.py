"""Turn planning: one turn's prompt, tool handling and reply budget, decided once per turn.

`plan_turn` runs after the mode's steps and the thread's context are known, and before any
generation:

1. Sampling: the request's settings, then the app's defaults, then the model's catalog defaults.
2. Tools: a backend with native tool calling gets them as they are; a model whose catalog entry
   names a text `tool_format` gets them described in a system message (in that parser's own
   call syntax) and its output parsed; any other model refuses tools. tool_choice "none"
   sends no tools at all.
3. Context: the oldest whole history turns are dropped until instructions, history and the new
   messages fit the window minus the reply's reserve.
A text completion (`Turn.prompt`) skips 2 and 3: its raw text is the whole prompt.

4. Budget: a requested (or default) max_tokens must fit beside the prompt; an unset one stays
   unset, so the backend uses the room left (embedded model) or the upstream its own default,
   which every upstream accepts. Limits against the model's output cap are validation's.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, fields, replace
from functools import partial

from core.backends.base import Backend
from core.catalog import ModelSpec
from core.chat_shapes import tools_to_openai
from core.errors import ContextLengthExceededError, UnimplementedError
from core.modes.steps import Preparation
from core.pipeline.generation import Readers
from core.reasoning import create_reasoning_parser
from core.tools import create_parser, parser_class
from core.tools.base import ToolCallParser
from core.types import (
    GenerationParams,
    Message,
    Prompt,
    Role,
    ToolChoice,
    ToolChoiceMode,
    ToolSpec,
    Turn,
)

TokenCounter = Callable[[tuple[Message, ...]], Awaitable[int]]


@dataclass(frozen=True, slots=True)
class Context:
    """The prompt's parts: instructions (kept), history (trimmable), new messages (kept)."""

    instructions: tuple[Message, ...]
    history: tuple[Message, ...]
    new: tuple[Message, ...]


@dataclass(frozen=True, slots=True)
class TurnPlan:
    """What the backend is asked, with which settings, and how its text is read."""

    prompt: Prompt
    params: GenerationParams
    new_parser: Callable[[], ToolCallParser] | None  # a text tool-call parser per generation
    trimmed: int  # stored messages left out of the prompt to fit the window
    reasoning_format: str = ""

    def readers(self) -> Readers:
        """Fresh parsers for one generation (each choice reads its own text)."""
        return Readers(
            tools=self.new_parser() if self.new_parser is not None else None,
            reasoning=(
                create_reasoning_parser(self.reasoning_format) if self.reasoning_format else None
            ),
        )


async def plan_turn(
    turn: Turn, spec: ModelSpec, backend: Backend, prep: Preparation, context: Context
) -> TurnPlan:
    """The plan of one turn (see the module docstring); raises ChatError if it cannot fit."""

    async def count(messages: tuple[Message, ...]) -> int:
        return await backend.count_tokens(Prompt(messages=messages))

    params = with_defaults(with_defaults(turn.params, prep.defaults), spec.defaults)
    if turn.prompt:  # a text completion: the raw text, no template, instructions or tools
        raw = Prompt(messages=(), raw=turn.prompt)
        check_room(await backend.count_tokens(raw), params, spec.context_window)
        return TurnPlan(prompt=raw, params=params, new_parser=None, trimmed=0)
    tools = turn.tools or prep.tools
    instruction, parser, tools = _tool_plan(turn, spec, backend.supports_tools, tools)
    reserve = (params.max_tokens or 1) + (await count((instruction,)) if instruction else 0)
    messages, trimmed, prompt_tokens = await fit_to_context(
        context.instructions, context.history, context.new, count, spec.context_window - reserve
    )
    if instruction is not None:
        messages = with_instructions(messages, instruction)
        prompt_tokens = await count(messages)
    check_room(prompt_tokens, params, spec.context_window)
    prompt = Prompt(
        messages=messages,
        tools=tools,
        tool_choice=turn.tool_choice if tools else ToolChoice(),
        parallel_tool_calls=turn.parallel_tool_calls,
        response_format=turn.response_format,
    )
    return TurnPlan(
        prompt=prompt,
        params=params,
        new_parser=parser,
        trimmed=trimmed,
        reasoning_format=spec.reasoning_format,
    )


def _tool_plan(
    turn: Turn, spec: ModelSpec, native: bool, tools: tuple[ToolSpec, ...]
) -> tuple[Message | None, Callable[[], ToolCallParser] | None, tuple[ToolSpec, ...]]:
    """(instruction message, text parser, tools the backend is sent) for the turn's tools."""
    if not tools or turn.tool_choice.mode is ToolChoiceMode.NONE:
        return None, None, ()
    if native:
        return None, None, tools
    if not spec.tool_format:
        raise UnimplementedError(f"The model {spec.name!r} cannot call tools.", field="tools")
    if turn.tool_choice.mode is not ToolChoiceMode.AUTO:
        raise UnimplementedError(
            f"The model {spec.name!r} writes tool calls as text and cannot be forced to call"
            " one; use tool_choice auto.",
            field="tool_choice",
        )
    instruction = tool_instructions(tools, parser_class(spec.tool_format).call_syntax)
    return instruction, partial(create_parser, spec.tool_format, tools), ()


def tool_instructions(tools: tuple[ToolSpec, ...], call_syntax: str) -> Message:
    """A system message telling a model without native tool calling how to call `tools`."""
    text = (
        "You can call these functions:\n"
        + json.dumps(tools_to_openai(tools), ensure_ascii=False)
        + "\nTo call one, reply with exactly this and nothing else:\n"
        + call_syntax
    )
    return Message(role=Role.SYSTEM, content=text)


def with_instructions(messages: tuple[Message, ...], extra: Message) -> tuple[Message, ...]:
    """`messages` with `extra` merged into the leading system message (or placed first)."""
    if messages and messages[0].role is Role.SYSTEM:
        merged = replace(messages[0], content=messages[0].content + "\n\n" + extra.content)
        return (merged, *messages[1:])
    return (extra, *messages)


def with_defaults(params: GenerationParams, defaults: GenerationParams) -> GenerationParams:
    """`params` with every unset field taken from `defaults`."""
    missing = {}
    for f in fields(params):
        if getattr(params, f.name) in _UNSET:
            value = getattr(defaults, f.name)
            if value not in _UNSET:
                missing[f.name] = value
    return replace(params, **missing) if missing else params


_UNSET = (None, ())


def check_room(prompt_tokens: int, params: GenerationParams, window: int) -> None:
    """ContextLengthExceededError unless the prompt leaves room for the reply's max_tokens."""
    needed = params.max_tokens if params.max_tokens is not None else 1
    if needed > window - prompt_tokens:
        raise ContextLengthExceededError(
            f"The prompt has {prompt_tokens} tokens and the reply may need {needed}, "
            f"but the model's context window is {window} tokens.",
            field="messages",
            prompt_tokens=str(prompt_tokens),
            context_window=str(window),
        )


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
    and the new messages are always kept; if they alone exceed the limit, check_room reports
    it.
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
