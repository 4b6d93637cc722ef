"""LlamaCppBackend over FakeLlama (byte tokens): decoding, stops, limits, seeds, cancellation."""

from __future__ import annotations

import asyncio
import threading
from contextlib import aclosing

import pytest

from core.backends.llama_cpp import LlamaCppBackend
from core.backends.llama_loading import locate_embedded_gguf
from core.errors import BackendUnavailableError, InvalidArgumentError
from core.types import FinishReason, GenerationParams, Message, Prompt, Role
from tests.fakes import FakeLlama, render_plain

PROMPT = Prompt(messages=(Message(Role.USER, "hi"),))
PROMPT_TOKENS = len(render_plain([{"role": "user", "content": "hi"}]).encode())


async def run(llama: FakeLlama, params: GenerationParams | None = None, stop=()):
    backend = LlamaCppBackend(llama, render_plain, stop=stop)
    chunks = [c async for c in backend.stream(PROMPT, params or GenerationParams())]
    await backend.aclose()
    return "".join(c.text for c in chunks), chunks[-1]


async def test_text_then_eos_finishes_with_stop_and_exact_usage():
    text, last = await run(FakeLlama(b"hello"))
    assert text == "hello"
    assert last.finish_reason is FinishReason.STOP
    assert last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (PROMPT_TOKENS, 5)


async def test_max_tokens_finishes_with_length():
    llama = FakeLlama(b"abcdefgh")
    text, last = await run(llama, GenerationParams(max_tokens=3))
    assert (text, last.finish_reason) == ("abc", FinishReason.LENGTH)
    assert last.usage is not None and last.usage.completion_tokens == 3
    assert llama.yielded == 3


async def test_context_window_bounds_generation_without_max_tokens():
    llama = FakeLlama(b"x" * 100, n_ctx=PROMPT_TOKENS + 10)
    text, last = await run(llama)
    assert len(text) == 10 and last.finish_reason is FinishReason.LENGTH


async def test_multibyte_characters_split_across_tokens_decode_whole():
    text, _ = await run(FakeLlama("茶馆 🍵!".encode()))
    assert text == "茶馆 🍵!"


async def test_a_character_cut_by_the_limit_is_dropped_not_replaced():
    text, last = await run(FakeLlama("ab茶".encode()), GenerationParams(max_tokens=4))
    assert text == "ab" and "\ufffd" not in text
    assert last.finish_reason is FinishReason.LENGTH


@pytest.mark.parametrize(
    ("script", "stop", "expected"),
    [
        (b"one END two", ("END",), "one "),
        (b"abcENDdef", ("XYZ", "END"), "abc"),
        (b"aEbENDc", ("END",), "aEb"),
        (b"no stop here", ("END",), "no stop here"),
        (b"ENEND", ("END",), "EN"),
    ],
)
async def test_stop_strings_cut_the_text_even_across_tokens(script, stop, expected):
    text, last = await run(FakeLlama(script, eos=False), GenerationParams(stop=stop, max_tokens=50))
    assert text == expected
    if expected != script.decode():
        assert last.finish_reason is FinishReason.STOP


async def test_template_stop_string_ends_the_reply():
    text, last = await run(FakeLlama(b"answer<|im_end|>junk", eos=False), stop=["<|im_end|>"])
    assert (text, last.finish_reason) == ("answer", FinishReason.STOP)


async def test_sampling_parameters_map_to_llama_cpp_names_and_seed_wraps():
    llama = FakeLlama(b"x")
    params = GenerationParams(
        temperature=0.0, top_p=0.5, presence_penalty=0.1, frequency_penalty=0.2,
        repetition_penalty=1.3, seed=-1,
    )  # fmt: skip
    await run(llama, params)
    assert llama.kwargs[0] == {
        "temp": 0.0, "top_p": 0.5, "presence_penalty": 0.1, "frequency_penalty": 0.2,
        "repeat_penalty": 1.3,
    }  # fmt: skip
    assert llama.seeds == [2**32 - 1]


async def test_unseeded_turns_get_fresh_seeds():
    llama = FakeLlama(b"x")
    await run(llama)
    await run(llama)
    assert len(llama.seeds) == 2


async def test_closing_the_stream_stops_generation_within_one_token():
    llama = FakeLlama(b"y" * 1000, eos=False)
    llama.gate = threading.Event()
    backend = LlamaCppBackend(llama, render_plain)
    async with aclosing(backend.stream(PROMPT, GenerationParams(max_tokens=1000))) as stream:
        llama.gate.set()
        first = await anext(stream)
        assert first.text
        llama.gate.clear()  # the worker blocks before its next token
        at_close = llama.yielded
    llama.gate.set()
    await asyncio.sleep(0.1)
    await backend.aclose()
    assert llama.yielded - at_close <= 1


async def test_turns_queue_on_the_single_llama_context():
    llama = FakeLlama(b"abc")
    backend = LlamaCppBackend(llama, render_plain)

    async def collect():
        return "".join([c.text async for c in backend.stream(PROMPT, GenerationParams())])

    results = await asyncio.gather(*(collect() for _ in range(5)))
    await backend.aclose()
    assert results == ["abc"] * 5


async def test_a_crash_inside_llama_cpp_becomes_backend_unavailable():
    class Broken(FakeLlama):
        def generate(self, tokens, **kwargs):
            yield 65
            raise RuntimeError("llama_decode returned -1")

    backend = LlamaCppBackend(Broken(), render_plain)
    with pytest.raises(BackendUnavailableError):
        async for _ in backend.stream(PROMPT, GenerationParams()):
            pass
    await backend.aclose()


async def test_a_template_error_is_invalid_argument():
    def strict(messages):
        raise ValueError("Conversation roles must alternate user/assistant")

    backend = LlamaCppBackend(FakeLlama(), strict)
    with pytest.raises(InvalidArgumentError, match="alternate"):
        await backend.count_tokens(PROMPT)
    await backend.aclose()


def test_the_embedded_gguf_is_found_in_the_wheel():
    path = locate_embedded_gguf()
    assert path.name.endswith(".gguf") and path.stat().st_size > 50_000_000
