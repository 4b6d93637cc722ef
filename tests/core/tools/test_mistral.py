"""Mistral format: the contract for the JSON-array and [ARGS] forms, plus their quirks."""

from __future__ import annotations

import json
from collections.abc import Sequence

from core.tools.mistral import MistralToolCallParser
from core.types import TextDelta
from tests.core.tools.contract import TOOLS, Call, Folded, ToolParserContract, fold, parse_whole


def render_array(calls: Sequence[Call]) -> str:
    items = [{"name": name, "arguments": arguments} for name, arguments in calls]
    return "[TOOL_CALLS]" + json.dumps(items)


def render_args(calls: Sequence[Call]) -> str:
    return "".join(
        f"[TOOL_CALLS]{name}[ARGS]{json.dumps(arguments, ensure_ascii=False)}"
        for name, arguments in calls
    )


class TestMistralArray(ToolParserContract):
    kind = "mistral"
    malformed = (
        "[TOOL_CALLS][]",
        '[TOOL_CALLS][{"name": "add", "arguments": {}}, {"name": "add"}]',
        '[TOOL_CALLS][{"name": "add", "arguments": {}}',
        '[TOOL_CALLS][{"name": "add", "arguments": {}}}]',
        "[TOOL_CALLS]" + "[" * 5000 + "]" * 5000,
        "[TOOL_CALLS]",
        "[TOOL_CALLS] 42",
    )

    def render(self, calls: Sequence[Call]) -> str:
        return render_array(calls)


class TestMistralArgs(ToolParserContract):
    kind = "mistral"
    malformed = (
        "[TOOL_CALLS]add[ARGS][1]",
        '[TOOL_CALLS]add[ARGS]{"a": }',
        '[TOOL_CALLS]add [ARGS]{"a": 1}',
        '[TOOL_CALLS]add[ARG]{"a": 1}',
        '[TOOL_CALLS]get weather[ARGS]{"a": 1}',
        '[TOOL_CALLS][ARGS]{"a": 1}',
        "[TOOL_CALLS]" + "f" * 65 + '[ARGS]{"a": 1}',
    )

    def render(self, calls: Sequence[Call]) -> str:
        return render_args(calls)


class TestMistralQuirks:
    def test_text_between_args_form_calls(self) -> None:
        output = 'First [TOOL_CALLS]add[ARGS]{"a": 1} then [TOOL_CALLS]add[ARGS] {"a": 2} end'
        folded = parse_whole("mistral", output)
        assert folded == Folded("First  then  end", (("add", '{"a":1}'), ("add", '{"a":2}')))

    def test_single_call_object_without_array(self) -> None:
        output = '[TOOL_CALLS] {"name": "add", "arguments": {"a": 1}}'
        assert parse_whole("mistral", output) == Folded("", (("add", '{"a":1}'),))

    def test_model_invented_ids_are_replaced(self) -> None:
        output = '[TOOL_CALLS][{"name": "add", "arguments": {}, "id": "abc123def"}]'
        parser = MistralToolCallParser(TOOLS, lambda: "call_" + "z" * 24)
        events = parser.feed(output) + parser.finish()
        assert [getattr(e, "id", "") for e in events] == ["call_" + "z" * 24, ""]

    def test_array_with_one_invalid_call_is_all_text(self) -> None:
        output = '[TOOL_CALLS][{"name": "add", "arguments": {}}, {"name": "add", "arguments": 1}]'
        assert parse_whole("mistral", output) == Folded(output, ())

    def test_scanning_resumes_after_a_broken_candidate(self) -> None:
        broken = "[TOOL_CALLS]not a call. "
        call = '[TOOL_CALLS]add[ARGS]{"a": 1}'
        assert parse_whole("mistral", broken + call) == Folded(broken, (("add", '{"a":1}'),))

    def test_partial_marker_is_held_then_released(self) -> None:
        parser = MistralToolCallParser(TOOLS)
        assert parser.feed("See [TOOL_") == [TextDelta("See ")]
        assert parser.feed("S] and [1]") == [TextDelta("[TOOL_S] and [1]")]
        assert parser.finish() == []

    def test_name_is_held_until_args_marker(self) -> None:
        parser = MistralToolCallParser(TOOLS)
        assert parser.feed("[TOOL_CALLS]get_wea") == []
        assert parser.feed("ther[AR") == []
        assert fold(parser.feed('GS]{"city": "Paris"}')).calls == (
            ("get_weather", '{"city":"Paris"}'),
        )
