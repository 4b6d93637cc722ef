"""ToolParserContract: the behaviour every text tool-call parser shares (STYLE §11).

Each ``test_<format>.py`` subclasses the mixin, sets ``kind`` and implements ``render()``; the
contract checks plain text, one and parallel calls, text around calls, malformed and unclosed
output, any split of the output into ``feed()`` pieces, the OpenAI delta shape and linear time.
"""

from __future__ import annotations

import functools
import itertools
import json
import random
import re
import string
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from hypothesis import given, settings, strategies as st

from core.tools import create_parser
from core.tools.base import ParseEvent, ToolCallParser
from core.types import TextDelta, ToolCallDelta, ToolSpec

TOOLS = (
    ToolSpec(
        "get_weather",
        "Current weather in a city",
        {"type": "object", "properties": {"city": {"type": "string"}}},
    ),
    ToolSpec("search_web", "Search the web"),
    ToolSpec("add", "Add two numbers"),
)
TOOL_NAMES = tuple(tool.name for tool in TOOLS)
CALL_ID = re.compile(r"call_[A-Za-z0-9]{24}")
Call = tuple[str, Any]  # (name, arguments); arguments may be any JSON value in malformed cases

# Fragments of every format's syntax, so generated noise keeps hitting partial markers.
NOISE_FRAGMENTS = (
    "<tool_call>",
    "</tool_call>",
    "<tool_",
    "</tool",
    "[TOOL_CALLS]",
    "[TOOL_",
    "[ARGS]",
    "[AR",
    "<|python_tag|>",
    "<|py",
    "{",
    "}",
    "[",
    "]",
    '"',
    "\\",
    "\n",
    ";",
    " ",
    *TOOL_NAMES,
    '{"name": "add", "arguments": {}}',
    '{"name": "add", "parameters": {"x": 1}}',
    '{"x": 1}',
)
# Text that cannot start any format's call (no "<", "[", "{"), but may hold tool names.
PLAIN_ALPHABET = string.ascii_letters + string.digits + " .,!?:;'_\n中文"

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)
arguments_objects = st.dictionaries(st.text(max_size=8), json_values, max_size=4)
call_lists = st.lists(
    st.tuples(st.sampled_from(TOOL_NAMES), arguments_objects), min_size=1, max_size=3
)
noise = st.lists(st.sampled_from(NOISE_FRAGMENTS) | st.text(max_size=3), max_size=8).map("".join)
plain_text = st.text(alphabet=PLAIN_ALPHABET, max_size=20)


@dataclass(frozen=True)
class Folded:
    """A parse folded as the pipeline folds it: all text, and the calls in index order."""

    text: str
    calls: tuple[tuple[str, str], ...]  # (name, arguments JSON text)


def canonical(arguments: Any) -> str:
    """The one form parsers re-serialise arguments in (see core.tools.calls)."""
    return json.dumps(arguments, ensure_ascii=False, separators=(",", ":"))


def fold(events: Sequence[ParseEvent]) -> Folded:
    text: list[str] = []
    names: dict[int, str] = {}
    arguments: dict[int, str] = {}
    for event in events:
        if isinstance(event, TextDelta):
            text.append(event.text)
        else:
            names.setdefault(event.index, event.name)
            arguments[event.index] = arguments.get(event.index, "") + event.arguments
    calls = tuple((names[i], arguments[i]) for i in sorted(names))
    return Folded("".join(text), calls)


def parse_whole(kind: str, output: str, tools: tuple[ToolSpec, ...] = TOOLS) -> Folded:
    """`output` fed whole to a new parser of format `kind`, then finished, folded."""
    parser = create_parser(kind, tools)
    return fold(parser.feed(output) + parser.finish())


def check_delta_shape(events: Sequence[ParseEvent]) -> None:
    """OpenAI's streamed tool-call shape: indexes 0, 1, 2… in order, each contiguous; id and
    name on the first delta of an index only; ids ``call_`` + 24 alphanumerics; no empty text.
    """
    current = -1
    for event in events:
        if isinstance(event, TextDelta):
            assert event.text, "empty TextDelta"
            continue
        assert isinstance(event, ToolCallDelta)
        if event.index == current + 1:
            current = event.index
            assert CALL_ID.fullmatch(event.id), event
            assert event.name, event
        else:
            assert event.index == current, f"index {event.index} out of order after {current}"
            assert (event.id, event.name) == ("", ""), event


def split_at(text: str, cuts: Sequence[int]) -> list[str]:
    bounds = [0, *sorted(cuts), len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


def fastest_run(run: Callable[[], object], repeat: int = 3) -> float:
    """Least CPU time of ``repeat`` runs (CPU, not wall: other processes do not count)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        run()
        best = min(best, time.process_time() - start)
    return best


# A ReDoS guard on growth, not on speed: four times the input may cost at most this many
# times the CPU (linear work: ~4; a parser that re-scans its buffer on every feed(): ~16),
# plus a small constant so that inputs parsed in a millisecond do not fail on clock ticks.
GROWTH_LIMIT = 8.0
GROWTH_SLACK = 0.01


class ToolParserContract:
    """Mixin of the tests every parser must pass; subclasses are named ``Test<Format>``."""

    kind: ClassVar[str]
    text_before_calls: ClassVar[bool] = True  # may text precede the first call?
    malformed: ClassVar[tuple[str, ...]] = ()  # format-specific outputs that are no call

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # The hypothesis properties: Hypothesis ties a @given test to the one class that runs
        # it (HealthCheck.differing_executors), so each format class gets its own copy.
        for name, test in _properties().items():
            setattr(cls, name, test)

    def render(self, calls: Sequence[Call]) -> str:
        """The output of a model calling ``calls`` in this format, with no text between calls."""
        raise NotImplementedError

    def new_parser(self) -> ToolCallParser:
        return create_parser(self.kind, TOOLS)

    def parse(self, pieces: Sequence[str]) -> list[ParseEvent]:
        parser = self.new_parser()
        events = [event for piece in pieces for event in parser.feed(piece)]
        return events + parser.finish()

    def parse_folded(self, text: str) -> Folded:
        events = self.parse([text])
        check_delta_shape(events)
        return fold(events)

    def assert_is_text(self, text: str) -> None:
        assert self.parse_folded(text) == Folded(text, ())
        assert fold(self.parse(list(text))) == Folded(text, ())

    def test_plain_text_passes_through(self) -> None:
        for text in ["", "Hello, world!", "多行\n文本\n", "a < b and [c] > {d}", "x = {1; 2}"]:
            self.assert_is_text(text)

    def test_plain_text_is_emitted_before_finish(self) -> None:
        parser = self.new_parser()
        assert parser.feed("Sure, here") == [TextDelta("Sure, here")]
        assert parser.feed(" it is.") == [TextDelta(" it is.")]
        assert parser.finish() == []

    def test_one_call(self) -> None:
        arguments = {"city": "北京", "days": 3, "units": ["C"], "hourly": None}
        folded = self.parse_folded(self.render([("get_weather", arguments)]))
        assert folded == Folded("", (("get_weather", canonical(arguments)),))

    def test_parallel_calls(self) -> None:
        calls: list[Call] = [
            ("get_weather", {"city": "Paris"}),
            ("search_web", {"query": 'say "hi" {not a brace}', "filters": {"lang": ["en"]}}),
            ("add", {}),
        ]
        folded = self.parse_folded(self.render(calls))
        assert folded == Folded("", tuple((name, canonical(args)) for name, args in calls))

    def test_text_around_calls(self) -> None:
        prefix = "Let me check that for you. " if self.text_before_calls else ""
        suffix = "\nI have asked for the weather."
        calls: list[Call] = [("get_weather", {"city": "Oslo"}), ("add", {"a": 1, "b": 2})]
        folded = self.parse_folded(prefix + self.render(calls) + suffix)
        assert folded == Folded(prefix + suffix, tuple((n, canonical(a)) for n, a in calls))

    def test_call_ids_come_from_new_call_id(self) -> None:
        ids = iter(["call_" + str(n).zfill(24) for n in range(10)])
        parser = create_parser(self.kind, TOOLS, lambda: next(ids))
        calls: list[Call] = [("add", {"a": 1}), ("add", {"a": 2})]
        events = parser.feed(self.render(calls)) + parser.finish()
        firsts = [e for e in events if isinstance(e, ToolCallDelta) and e.id]
        assert [(e.index, e.id) for e in firsts] == [
            (0, "call_" + "0" * 24),
            (1, "call_" + "0" * 23 + "1"),
        ]

    def test_malformed_output_is_exact_text(self) -> None:
        generic = [
            self.render([("get_weather", ["not", "an", "object"])]),
            self.render([("get_weather", "city=Paris")]),
            self.render([("", {"city": "Paris"})]),
        ]
        for output in [*self.malformed, *generic]:
            self.assert_is_text(output)
            if self.text_before_calls:
                self.assert_is_text(f"Before {output} after")

    def test_unclosed_call_at_finish_is_exact_text(self) -> None:
        output = self.render([("get_weather", {"city": "Rome", "days": [1, 2]})])
        for end in range(1, len(output)):
            assert self.parse_folded(output[:end]) == Folded(output[:end], ()), output[:end]

    def test_adversarial_inputs_parse_in_linear_time(self) -> None:
        # `head` opens a call and stops inside an argument string; nothing ever closes it.
        head, _, _ = self.render([("search_web", {"query": "\x00"})]).partition("\\u0000")

        def cases(scale: int) -> dict[str, list[str]]:
            unclosed = head + "x" * 15_000 * scale
            brackets = head + '"{[\\' * 3_750 * scale  # quotes, brackets and escapes
            valid = self.render([("add", {"a": n, "note": "x" * 40}) for n in range(30 * scale)])
            valid += "Ok. " * 875 * scale
            return {
                "'arg=val,' fragments in an open call": [head] + ["arg=val,"] * 2_500 * scale,
                "an open call, whole": [unclosed],
                "an open call, in 6-character pieces": _chunks(unclosed, 6),
                "brackets in an open call": [brackets],
                "a valid reply in 1-3 character pieces": split_at(
                    valid, _small_cuts(random.Random(0), len(valid))
                ),
            }

        small, large = cases(1), cases(4)
        assert len(large["a valid reply in 1-3 character pieces"]) >= 10**4
        for label, pieces in large.items():
            folded = fold(self.parse(pieces))
            assert folded == fold(self.parse(["".join(pieces)])), label
            if "open call" in label:
                assert folded == Folded("".join(pieces), ()), label
            base = fastest_run(functools.partial(self.parse, small[label]))
            grown = fastest_run(functools.partial(self.parse, pieces))
            assert grown < GROWTH_LIMIT * base + GROWTH_SLACK, (
                f"{label}: {grown:.4f} s for 4x the input that took {base:.4f} s"
            )


def _any_split_folds_like_the_whole(
    contract: ToolParserContract, before: str, calls: list[Call], after: str, data: st.DataObject
) -> None:
    output = before + contract.render(calls) + after
    cuts = data.draw(st.lists(st.integers(0, len(output)), max_size=12), label="cuts")
    whole = contract.parse([output])
    pieces = contract.parse(split_at(output, cuts))
    chars = contract.parse(list(output))
    for events in (whole, pieces, chars):
        check_delta_shape(events)
    assert fold(pieces) == fold(whole)
    assert fold(chars) == fold(whole)


def _rendered_calls_are_recovered_from_any_split(
    contract: ToolParserContract, before: str, calls: list[Call], after: str, data: st.DataObject
) -> None:
    if not contract.text_before_calls:
        before = ""
    output = before + contract.render(calls) + after
    cuts = data.draw(st.lists(st.integers(0, len(output)), max_size=12), label="cuts")
    events = contract.parse(split_at(output, cuts))
    check_delta_shape(events)
    assert fold(events) == Folded(before + after, tuple((n, canonical(a)) for n, a in calls))


def _properties() -> dict[str, Callable[..., None]]:
    """The hypothesis properties, freshly wrapped (one copy per contract subclass)."""
    run = settings(max_examples=150, deadline=None)
    return {
        "test_any_split_folds_like_the_whole": run(
            given(before=noise, calls=call_lists, after=noise, data=st.data())(
                _any_split_folds_like_the_whole
            )
        ),
        "test_rendered_calls_are_recovered_from_any_split": run(
            given(before=plain_text, calls=call_lists, after=plain_text, data=st.data())(
                _rendered_calls_are_recovered_from_any_split
            )
        ),
    }


def _small_cuts(rng: random.Random, length: int) -> list[int]:
    cuts, pos = [], 0
    while pos < length:
        pos += rng.randint(1, 3)
        cuts.append(min(pos, length))
    return cuts


def _chunks(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]
