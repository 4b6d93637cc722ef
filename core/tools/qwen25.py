"""Qwen2.5 tool calls: the Hermes ``<tool_call>{…}</tool_call>`` format under its own key."""

from __future__ import annotations

from typing import ClassVar

from core.tools.hermes import HermesToolCallParser


class Qwen25ToolCallParser(HermesToolCallParser):
    """Qwen2.5's chat template asks for Hermes-style ``<tool_call>`` blocks.

    It has its own key so the catalog can name the model's format, and so the two can diverge
    without renaming catalog entries.
    """

    kind: ClassVar[str] = "qwen25"
