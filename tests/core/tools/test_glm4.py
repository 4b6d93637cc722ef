"""GLM-4 format: the contract plus known-name checks and line handling."""

from __future__ import annotations

import json
from collections.abc import Sequence

from core.tools.glm4 import Glm4ToolCallParser
from core.types import TextDelta, ToolSpec
from tests.core.tools.contract import TOOLS, Call, Folded, ToolParserContract, parse_whole


def render_glm4(calls: Sequence[Call]) -> str:
    return "\n".join(
        f"{name}\n{json.dumps(arguments, ensure_ascii=False)}" for name, arguments in calls
    )


class TestGlm4(ToolParserContract):
    kind = "glm4"
    text_before_calls = False
    malformed = (
        'get_weather\n{"city": 北京}',
        "get_weather\n[1, 2]",
        'get_weather {"city": "北京"}',
        "get_weather\nnot json",
        "get_weather\n" + "{" + "[" * 5000 + "]" * 5000 + "}",
    )

    def render(self, calls: Sequence[Call]) -> str:
        return render_glm4(calls)


class TestGlm4Quirks:
    def test_documented_example(self) -> None:
        assert parse_whole("glm4", 'get_weather\n{"city": "北京"}') == Folded(
            "", (("get_weather", '{"city":"北京"}'),)
        )

    def test_unknown_function_name_stays_text(self) -> None:
        for output in ['weather\n{"city": "x"}', 'get_weather_now\n{"city": "x"}']:
            assert parse_whole("glm4", output) == Folded(output, ())

    def test_without_tools_everything_is_text(self) -> None:
        output = 'get_weather\n{"city": "x"}'
        assert parse_whole("glm4", output, tools=()) == Folded(output, ())

    def test_name_prefix_is_held_then_released(self) -> None:
        parser = Glm4ToolCallParser(TOOLS)
        assert parser.feed("get_wea") == []
        assert parser.feed("ther is sunny") == [TextDelta("get_weather is sunny")]

    def test_text_after_calls_is_kept(self) -> None:
        output = render_glm4([("add", {"a": 1})]) + "\n\n计算完成。"
        assert parse_whole("glm4", output) == Folded("\n\n计算完成。", (("add", '{"a":1}'),))

    def test_name_that_prefixes_another_tool(self) -> None:
        tools = (ToolSpec("get"), ToolSpec("get_weather"))
        output = 'get\n{"k": 1}\nget_weather\n{"city": "x"}'
        assert parse_whole("glm4", output, tools) == Folded(
            "", (("get", '{"k":1}'), ("get_weather", '{"city":"x"}'))
        )

    def test_crlf_and_blank_line_after_the_name(self) -> None:
        assert parse_whole("glm4", 'add\r\n\n  {"a": 1}') == Folded("", (("add", '{"a":1}'),))
