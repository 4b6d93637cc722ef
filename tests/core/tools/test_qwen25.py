"""Qwen2.5 format: Hermes blocks under their own kind."""

from __future__ import annotations

from collections.abc import Sequence

from core.tools import create_parser
from core.tools.hermes import HermesToolCallParser
from core.tools.qwen25 import Qwen25ToolCallParser
from tests.core.tools.contract import TOOLS, Call, Folded, ToolParserContract, fold
from tests.core.tools.test_hermes import MALFORMED, render_hermes


class TestQwen25(ToolParserContract):
    kind = "qwen25"
    malformed = MALFORMED

    def render(self, calls: Sequence[Call]) -> str:
        return render_hermes(calls)


def test_qwen25_is_hermes_with_its_own_kind() -> None:
    parser = create_parser("qwen25", TOOLS)
    assert isinstance(parser, Qwen25ToolCallParser)
    assert isinstance(parser, HermesToolCallParser)
    assert (Qwen25ToolCallParser.kind, HermesToolCallParser.kind) == ("qwen25", "hermes")


def test_qwen25_chat_template_output() -> None:
    # What Qwen2.5-Instruct writes: each block on its own lines, a newline between blocks.
    output = (
        "<tool_call>\n"
        '{"name": "get_weather", "arguments": {"city": "杭州"}}\n'
        "</tool_call>\n"
        "<tool_call>\n"
        '{"name": "get_weather", "arguments": {"city": "北京"}}\n'
        "</tool_call>"
    )
    parser = create_parser("qwen25", TOOLS)
    folded = fold(parser.feed(output) + parser.finish())
    assert folded == Folded(
        "\n", (("get_weather", '{"city":"杭州"}'), ("get_weather", '{"city":"北京"}'))
    )
