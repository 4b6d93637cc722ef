"""chunk_text and title_of: pure functions, checked by example and by hypothesis."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings, strategies as st

from core.knowledge.chunking import chunk_spans, chunk_text, title_of
from tests.core.knowledge.contract import TEA_MD


def _is_subsequence(needle: str, haystack: str) -> bool:
    chars = iter(haystack)
    return all(char in chars for char in needle)


def _visible(text: str) -> str:
    return "".join(text.split())


# Text built from the pieces chunking cares about: words, Chinese, punctuation, headings,
# blank lines, code fences and long unbroken runs.
_fragments = st.one_of(
    st.text(min_size=1, max_size=12),
    st.sampled_from(
        [" ", "\n", "\n\n", "# ", "## ", "\n# Title\n", "```\n", ". ", "! ", "。", "？", "；"]
    ),
    st.text(alphabet="半盏青年茶馆每天开门营业", min_size=1, max_size=40),
    st.text(alphabet="abcdefghij", min_size=20, max_size=120),
)
_texts = st.lists(_fragments, max_size=40).map("".join)


@settings(max_examples=300, deadline=None)
@given(text=_texts, max_chars=st.integers(1, 120), data=st.data())
def test_chunks_fit_and_cover_every_visible_character_in_order(
    text: str, max_chars: int, data: st.DataObject
) -> None:
    overlap = data.draw(st.integers(0, max_chars - 1), label="overlap")

    chunks = chunk_text(text, max_chars=max_chars, overlap=overlap)
    spans = chunk_spans(text, max_chars, overlap)

    assert all(0 < len(chunk) <= max_chars for chunk in chunks)
    assert all(chunk == chunk.strip() for chunk in chunks)
    assert chunks == [text[start:end] for start, end in spans]
    assert _is_subsequence(_visible(text), _visible("".join(chunks)))
    # Every non-whitespace character lies in some chunk, and chunks move forward.
    covered = {i for start, end in spans for i in range(start, end)}
    assert all(i in covered for i, char in enumerate(text) if not char.isspace())
    assert all(a[0] < b[0] and a[1] < b[1] for a, b in itertools.pairwise(spans))


def test_each_markdown_section_is_its_own_chunk() -> None:
    chunks = chunk_text(TEA_MD)
    assert [c.splitlines()[0] for c in chunks] == [
        "# 半盏青年茶馆",
        "## 营业时间",
        "## 茶单",
        "## 地址",
    ]


def test_a_heading_inside_a_code_fence_does_not_split() -> None:
    text = "# Guide\n\nRun this:\n\n```sh\n# not a heading\necho hi\n```\n\nDone."
    assert chunk_text(text) == [text]


def test_long_paragraphs_split_at_sentences_with_overlap() -> None:
    sentences = [f"Sentence number {i} talks about tea." for i in range(40)]
    chunks = chunk_text(" ".join(sentences), max_chars=200, overlap=60)

    assert len(chunks) > 1
    for chunk in chunks:
        assert chunk.startswith("Sentence number") and chunk.endswith("tea.")
    for before, after in itertools.pairwise(chunks):
        first_sentence = after[: after.index(".") + 1]
        assert first_sentence in before  # the next chunk repeats the previous one's tail


def test_chinese_splits_after_full_width_sentence_ends() -> None:
    text = "茶馆每天上午十点开门。" * 30
    chunks = chunk_text(text, max_chars=50, overlap=0)
    assert all(chunk.endswith("。") for chunk in chunks)
    assert "".join(chunks) == text


def test_an_unbroken_run_is_cut_hard() -> None:
    assert chunk_text("x" * 25, max_chars=10, overlap=3) == ["x" * 10, "x" * 10, "x" * 5]


@pytest.mark.parametrize("text", ["", " ", "\n\n\t \n"])
def test_blank_text_has_no_chunks(text: str) -> None:
    assert chunk_text(text) == []


@pytest.mark.parametrize(("max_chars", "overlap"), [(0, 0), (10, 10), (10, -1)])
def test_bad_sizes_are_value_errors(max_chars: int, overlap: int) -> None:
    with pytest.raises(ValueError, match="max_chars"):
        chunk_text("text", max_chars=max_chars, overlap=overlap)


@pytest.mark.parametrize(
    ("text", "source", "title"),
    [
        (TEA_MD, "docs/tea.md", "半盏青年茶馆"),
        ("intro\n\n## Second level first ##\n# Later", "a.md", "Second level first"),
        ("#hashtag is not a heading\nplain", "dir/notes.txt", "notes.txt"),
        ("```\n# in a fence\n```\n", "C:\\docs\\fence.md", "fence.md"),
        ("#\n\n# Real", "x.md", "Real"),
        ("", "https://example.com/kb/page.md", "page.md"),
    ],
)
def test_title_is_the_first_heading_else_the_file_name(text: str, source: str, title: str) -> None:
    assert title_of(text, source) == title
