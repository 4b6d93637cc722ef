"""Hermes format: the contract plus tag handling."""

from __future__ import annotations

import json
from collections.abc import Sequence

from core.tools.hermes import HermesToolCallParser
from core.types import TextDelta, ToolCallDelta
from tests.core.tools.contract import TOOLS, Call, Folded, ToolParserContract, canonical, fold


def render_hermes(calls: Sequence[Call]) -> str:
    return "".join(
        "<tool_call>"
        + json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False)
        + "</tool_call>"
        for name, arguments in calls
    )


MALFORMED = (
    '<tool_call>{"name": "add", "arguments": {"a": 1}</tool_call>',
    "<tool_call>not json</tool_call>",
    "<tool_call></tool_call>",
    '<tool_call>{"arguments": {"a": 1}}</tool_call>',
    '<tool_call>{"name": "add"}</tool_call>',
    '<tool_call>{"name": "add", "arguments": {}} and more</tool_call>',
    '<tool_call>{"name": "add", "arguments": {"a": NaN}}</tool_call>',
    '<tool_call>[{"name": "add", "arguments": {}}]</tool_call>',
    "<tool_call>" + "[" * 5000 + "]" * 5000 + "</tool_call>",
    "</tool_call>",
)


class TestHermes(ToolParserContract):
    kind = "hermes"
    malformed = MALFORMED

    def render(self, calls: Sequence[Call]) -> str:
        return render_hermes(calls)


class TestHermesQuirks:
    def test_partial_start_tag_is_held_back_then_released(self) -> None:
        parser = HermesToolCallParser(TOOLS)
        assert parser.feed("Hi <tool_") == [TextDelta("Hi ")]
        assert parser.feed("box> done <") == [TextDelta("<tool_box> done ")]
        assert parser.finish() == [TextDelta("<")]

    def test_hold_back_is_shorter_than_the_tag(self) -> None:
        for end in range(len("<tool_call>")):
            parser = HermesToolCallParser(TOOLS)
            held = "<tool_call>"[:end]
            assert fold(parser.feed("x" + held)).text == "x"
            assert fold(parser.finish()).text == held

    def test_call_is_emitted_when_its_block_closes(self) -> None:
        parser = HermesToolCallParser(TOOLS, lambda: "call_" + "a" * 24)
        assert parser.feed('<tool_call>{"name": "add", "arguments": {"a": 1}}') == []
        assert parser.feed("</tool_call") == []
        assert parser.feed(">!") == [
            ToolCallDelta(index=0, id="call_" + "a" * 24, name="add"),
            ToolCallDelta(index=0, arguments='{"a":1}'),
            TextDelta("!"),
        ]

    def test_newlines_around_and_between_blocks_are_text(self) -> None:
        output = (
            '<tool_call>\n{"name": "add", "arguments": {}}\n</tool_call>\n'
            '<tool_call>\n{"name": "add", "arguments": {"b": 2}}\n</tool_call>'
        )
        parser = HermesToolCallParser(TOOLS)
        folded = fold(parser.feed(output) + parser.finish())
        assert folded == Folded("\n", (("add", "{}"), ("add", '{"b":2}')))

    def test_bad_block_between_good_ones_is_text_and_numbering_continues(self) -> None:
        good = render_hermes([("add", {"a": 1})])
        bad = '<tool_call>{"name": "add", "arguments": 3}</tool_call>'
        parser = HermesToolCallParser(TOOLS)
        events = parser.feed(good + bad + good) + parser.finish()
        assert [e.index for e in events if isinstance(e, ToolCallDelta) and e.name] == [0, 1]
        assert fold(events).text == bad

    def test_closing_tag_inside_an_argument_ends_the_block_early(self) -> None:
        # A documented limitation: the body ends at the first </tool_call>.
        output = render_hermes([("search_web", {"query": "</tool_call>"})])
        parser = HermesToolCallParser(TOOLS)
        assert fold(parser.feed(output) + parser.finish()) == Folded(output, ())

    def test_any_function_name_is_passed_on(self) -> None:
        parser = HermesToolCallParser(())
        folded = fold(parser.feed(render_hermes([("not_offered", {"x": 1})])) + parser.finish())
        assert folded.calls == (("not_offered", canonical({"x": 1})),)
