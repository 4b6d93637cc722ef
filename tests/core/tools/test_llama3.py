"""Llama 3 format: the contract plus <|python_tag|>, separators and the JSON-answer case."""

from __future__ import annotations

import json
from collections.abc import Sequence

from core.tools.llama3 import Llama3ToolCallParser
from core.types import TextDelta
from tests.core.tools.contract import TOOLS, Call, Folded, ToolParserContract, fold, parse_whole


def render_llama3(calls: Sequence[Call]) -> str:
    return "; ".join(
        json.dumps({"name": name, "parameters": arguments}) for name, arguments in calls
    )


class TestLlama3(ToolParserContract):
    kind = "llama3"
    text_before_calls = False
    malformed = (
        '{"answer": 42}',
        '{"name": "add"}',
        '{"name": "add", "parameters": [1, 2]}',
        '{"name": "add", "parameters": {"a": 1},}',
        '{"name": 7, "parameters": {}}',
        "{" + "[" * 5000 + "]" * 5000 + "}",
        '<|python_tag|>print("hello")',
        '<|python_tag|>{"name": "add", "parameters": "a=1"}',
        '<|python_tag|><|python_tag|>{"name": "add", "parameters": {}}',
        '<|python_fag|>{"name": "add", "parameters": {}}',
    )

    def render(self, calls: Sequence[Call]) -> str:
        return render_llama3(calls)


class TestLlama3Quirks:
    def test_python_tag_before_the_call(self) -> None:
        output = '<|python_tag|>{"name": "add", "parameters": {"a": 1}}'
        assert parse_whole("llama3", output) == Folded("", (("add", '{"a":1}'),))

    def test_python_tag_before_each_call(self) -> None:
        output = (
            '<|python_tag|>{"name": "add", "parameters": {"a": 1}};\n'
            '<|python_tag|> {"name": "add", "parameters": {"a": 2}}'
        )
        assert parse_whole("llama3", output) == Folded("", (("add", '{"a":1}'), ("add", '{"a":2}')))

    def test_newline_separated_calls_and_arguments_key(self) -> None:
        output = '{"name": "add", "arguments": {"a": 1}}\n{"name": "search_web", "parameters": {}}'
        assert parse_whole("llama3", output) == Folded(
            "", (("add", '{"a":1}'), ("search_web", "{}"))
        )

    def test_leading_whitespace_is_text_and_the_call_still_counts(self) -> None:
        parser = Llama3ToolCallParser(TOOLS)
        assert parser.feed("\n ") == [TextDelta("\n ")]
        folded = fold(parser.feed('{"name": "add", "parameters": {}}') + parser.finish())
        assert folded == Folded("", (("add", "{}"),))

    def test_text_before_a_call_object_makes_it_text(self) -> None:
        output = 'Calling: {"name": "add", "parameters": {}}'
        assert parse_whole("llama3", output) == Folded(output, ())

    def test_json_answer_is_held_until_it_closes_then_released_as_text(self) -> None:
        parser = Llama3ToolCallParser(TOOLS)
        assert parser.feed('{"answer": ') == []
        assert parser.feed("42} and more") == [TextDelta('{"answer": 42} and more')]
        assert parser.finish() == []

    def test_text_after_the_last_call_is_text(self) -> None:
        output = render_llama3([("add", {})]) + ";\nHope that helps {really}"
        assert parse_whole("llama3", output) == Folded(
            ";\nHope that helps {really}", (("add", "{}"),)
        )

    def test_a_non_call_object_after_a_call_ends_the_calls(self) -> None:
        call = render_llama3([("add", {})])
        output = call + '; {"answer": 1}; ' + call
        assert parse_whole("llama3", output) == Folded('; {"answer": 1}; ' + call, (("add", "{}"),))

    def test_trailing_separators_are_text(self) -> None:
        assert parse_whole("llama3", render_llama3([("add", {})]) + ";\n") == Folded(
            ";\n", (("add", "{}"),)
        )

    def test_partial_python_tag_is_held_then_released(self) -> None:
        parser = Llama3ToolCallParser(TOOLS)
        assert parser.feed("<|python") == []
        assert parser.feed("ista|> hi") == [TextDelta("<|pythonista|> hi")]
