"""plan_turn(): sampling precedence, tool handling per model, context trimming, reply budget."""

from __future__ import annotations

import pytest

from core.catalog import ModelSpec
from core.errors import ContextLengthExceededError, UnimplementedError
from core.modes.steps import Preparation
from core.pipeline.planning import Context, fit_to_context, plan_turn, turn_groups, with_defaults
from core.tools import parser_class
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
from tests.fakes import ScriptedBackend

SYSTEM = Message(Role.SYSTEM, "be brief")
Q1, A1 = Message(Role.USER, "one two three"), Message(Role.ASSISTANT, "four five")
Q2, A2 = Message(Role.USER, "six seven"), Message(Role.ASSISTANT, "eight")
NEW = Message(Role.USER, "nine ten")
WEATHER = ToolSpec("get_weather", "Current weather", {"type": "object"})


def spec(**fields: object) -> ModelSpec:
    return ModelSpec(**{"name": "m", "backend": "scripted", "context_window": 4096, **fields})  # type: ignore[arg-type]


def context(history: tuple[Message, ...] = ()) -> Context:
    return Context(instructions=(SYSTEM,), history=history, new=(NEW,))


async def plan(turn: Turn, model: ModelSpec, backend=None, prep=None, history=()):
    return await plan_turn(
        turn, model, backend or ScriptedBackend(), prep or Preparation(query=""), context(history)
    )


def test_defaults_fill_only_unset_fields_request_first():
    request = GenerationParams(temperature=0.1)
    app = GenerationParams(temperature=0.9, max_tokens=30, stop=("X",))
    model = GenerationParams(max_tokens=500, seed=7)
    merged = with_defaults(with_defaults(request, app), model)
    assert merged == GenerationParams(temperature=0.1, max_tokens=30, stop=("X",), seed=7)
    assert with_defaults(request, GenerationParams()) is request  # nothing to fill: no copy


async def test_request_then_app_then_model_defaults():
    prep = Preparation(query="", defaults=GenerationParams(temperature=0.3))
    model = spec(defaults=GenerationParams(temperature=0.9, top_p=0.5, max_tokens=64))
    result = await plan(Turn(messages=(NEW,), params=GenerationParams(seed=1)), model, prep=prep)
    assert result.params == GenerationParams(temperature=0.3, top_p=0.5, max_tokens=64, seed=1)


async def test_an_unset_max_tokens_stays_unset_for_the_backend():
    result = await plan(Turn(messages=(NEW,)), spec())
    assert result.params.max_tokens is None
    assert result.prompt.messages == (SYSTEM, NEW) and result.trimmed == 0


async def test_native_tools_go_to_the_backend_as_they_are():
    choice = ToolChoice(ToolChoiceMode.REQUIRED)
    turn = Turn(messages=(NEW,), tools=(WEATHER,), tool_choice=choice)
    result = await plan(turn, spec())
    assert result.prompt.tools == (WEATHER,) and result.prompt.tool_choice == choice
    assert result.readers().tools is None and result.prompt.messages == (SYSTEM, NEW)


async def test_app_tools_serve_a_turn_that_brings_none():
    prep = Preparation(query="", tools=(WEATHER,))
    assert (await plan(Turn(messages=(NEW,)), spec(), prep=prep)).prompt.tools == (WEATHER,)


async def test_tool_choice_none_sends_no_tools():
    turn = Turn(messages=(NEW,), tools=(WEATHER,), tool_choice=ToolChoice(ToolChoiceMode.NONE))
    result = await plan(turn, spec())
    assert result.prompt.tools == () and result.prompt.tool_choice == ToolChoice()


async def test_text_formats_get_instructions_in_their_parsers_syntax_and_a_parser():
    backend = ScriptedBackend(native_tools=False)
    turn = Turn(messages=(NEW,), tools=(WEATHER,))
    result = await plan(turn, spec(tool_format="mistral"), backend)
    system = result.prompt.messages[0]
    assert system.role is Role.SYSTEM and system.content.startswith("be brief\n\n")
    assert parser_class("mistral").call_syntax in system.content and "get_weather" in system.content
    parser = result.readers().tools
    assert parser is not None and parser.kind == "mistral"
    assert result.readers().tools is not parser  # a fresh parser for each choice
    assert result.prompt.tools == ()  # described in the prompt, not sent natively


@pytest.mark.parametrize(
    ("tool_format", "choice", "field"),
    [
        ("", ToolChoice(), "tools"),
        ("hermes", ToolChoice(ToolChoiceMode.REQUIRED), "tool_choice"),
        ("hermes", ToolChoice(ToolChoiceMode.FUNCTION, "get_weather"), "tool_choice"),
    ],
)
async def test_what_a_text_model_cannot_do_is_unimplemented_naming_the_field(
    tool_format, choice, field
):
    turn = Turn(messages=(NEW,), tools=(WEATHER,), tool_choice=choice)
    with pytest.raises(UnimplementedError) as caught:
        await plan(turn, spec(tool_format=tool_format), ScriptedBackend(native_tools=False))
    assert caught.value.metadata["field"] == field


def test_history_is_cut_before_each_user_message():
    tool_reply = Message(Role.TOOL, "sunny", tool_call_id="c1")
    groups = turn_groups((Q1, A1, tool_reply, Q2, A2))
    assert groups == [(Q1, A1, tool_reply), (Q2, A2)]


async def test_the_oldest_whole_turns_are_dropped_to_fit():
    backend = ScriptedBackend()  # counts 4 + words per message

    async def count(messages):
        return await backend.count_tokens(Prompt(messages=messages))

    full = await count((SYSTEM, Q1, A1, Q2, A2, NEW))
    without_first = await count((SYSTEM, Q2, A2, NEW))
    messages, trimmed, tokens = await fit_to_context(
        (SYSTEM,), (Q1, A1, Q2, A2), (NEW,), count, limit=full - 1
    )
    assert (messages, trimmed, tokens) == ((SYSTEM, Q2, A2, NEW), 2, without_first)


async def test_trimming_is_reported_and_the_reply_reserve_counts():
    model = spec(context_window=40)
    turn = Turn(messages=(NEW,), params=GenerationParams(max_tokens=15))
    result = await plan(turn, model, history=(Q1, A1, Q2, A2))
    assert result.trimmed >= 2 and result.prompt.messages[-1] == NEW
    assert result.prompt.messages[0] == SYSTEM


async def test_no_room_for_the_reply_is_context_length_exceeded():
    turn = Turn(messages=(NEW,), params=GenerationParams(max_tokens=4090))
    with pytest.raises(ContextLengthExceededError) as caught:
        await plan(turn, spec())
    assert caught.value.metadata["context_window"] == "4096"
