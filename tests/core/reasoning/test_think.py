"""The `think` reasoning parser: <think>…</think> split off the output, however it is cut."""

from __future__ import annotations

import importlib

import pytest
from hypothesis import given, strategies as st

from core.catalog import load_specs
from core.errors import ConfigError
from core.reasoning import FORMATS, create_reasoning_parser
from core.reasoning.think import ThinkReasoningParser
from core.types import ReasoningDelta, TextDelta


def split(pieces: list[str]) -> tuple[str, str]:
    """(reasoning, answer) of feeding `pieces` one by one, then finish()."""
    parser = ThinkReasoningParser()
    events = [e for piece in pieces for e in parser.feed(piece)] + parser.finish()
    assert all(e.text for e in events)  # never an empty delta
    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    answer = "".join(e.text for e in events if isinstance(e, TextDelta))
    return reasoning, answer


@pytest.mark.parametrize(
    ("text", "reasoning", "answer"),
    [
        ("<think>\nadd 2 and 2\n</think>\n\nIt is 4.", "\nadd 2 and 2\n", "It is 4."),
        ("  <think>x</think>y", "x", "y"),
        ("It is 4.", "", "It is 4."),
        ("", "", ""),
        ("   ", "", "   "),
        ("<thin", "", "<thin"),  # stopped inside what might have been the tag: it was text
        ("<think>cut off by the token limit", "cut off by the token limit", ""),
        ("<think>a</thi", "a</thi", ""),  # a closing tag that never completed is reasoning
        ("The tag <think> later is text", "", "The tag <think> later is text"),
        ("<think>a</think>b</think>c", "a", "b</think>c"),
        ("<think></think>answer", "", "answer"),
    ],
)
def test_splits_reasoning_from_the_answer(text, reasoning, answer):
    assert split([text]) == (reasoning, answer)


@given(st.data())
def test_any_split_of_the_text_gives_the_same_result(data):
    text = data.draw(
        st.sampled_from(
            [
                "<think>\nadd 2 and 2\n</think>\n\nIt is 4.",
                "  <think>x</think>  y",
                "It is <think> 4",
                "<think>never closed </thin",
                "<thi",
            ]
        )
    )
    cuts = sorted(data.draw(st.lists(st.integers(0, len(text)), max_size=8)))
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    assert split(pieces) == split([text])


def test_every_character_fed_alone_still_splits():
    text = "<think>thinking</think>\nanswer"
    assert split(list(text)) == ("thinking", "answer")


def test_reasoning_streams_as_it_comes_holding_back_only_a_possible_tag():
    parser = ThinkReasoningParser()
    assert parser.feed("<think>abc</th") == [ReasoningDelta("abc")]
    assert parser.feed("ink>") == []
    assert parser.feed("\n\nok") == [TextDelta("ok")]


def test_a_long_unclosed_think_never_holds_more_than_a_tag():
    """60 KB of "<" (each might begin </think>) streams on with at most a tag's length held,
    so the work per piece is bounded: linear in the output (reliability S19)."""
    parser = ThinkReasoningParser()
    parser.feed("<think>")
    emitted = 0
    for fed in range(1, 60_001):
        emitted += sum(len(e.text) for e in parser.feed("<"))
        assert fed - emitted < len("</think>")
    assert emitted + sum(len(e.text) for e in parser.finish()) == 60_000


def test_formats_table_key_equals_module_and_kind():
    for kind, target in FORMATS.items():
        module_name, _, class_name = target.partition(":")
        assert module_name == f"core.reasoning.{kind}"
        cls = getattr(importlib.import_module(module_name), class_name)
        assert cls.kind == kind and type(create_reasoning_parser(kind)) is cls


def test_the_catalog_refuses_an_unknown_reasoning_format(tmp_path):
    path = tmp_path / "models.toml"
    path.write_text(
        '[models.m]\nbackend = "scripted"\ncontext_window = 100\nreasoning_format = "nope"\n'
    )
    with pytest.raises(ConfigError, match="unknown reasoning format 'nope'; known: think"):
        load_specs(path)
    path.write_text(
        '[models.m]\nbackend = "scripted"\ncontext_window = 100\nreasoning_format = "think"\n'
    )
    assert load_specs(path)[0].reasoning_format == "think"
