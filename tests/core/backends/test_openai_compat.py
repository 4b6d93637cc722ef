"""OpenAICompatBackend over the real openai.AsyncOpenAI + httpx, against real upstream servers.

The fake upstream (tests/upstream.py) scripts streams and failures and records every request;
the `model` tests run llama-cpp-python's own OpenAI-compatible server on the embedded GGUF.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import socket
import subprocess
import sys
import time
from contextlib import aclosing

import httpx
import pytest

from core.backends import create_backend
from core.backends.llama_loading import locate_embedded_gguf
from core.backends.openai_compat import OpenAICompatBackend, retry_after_seconds
from core.catalog import ModelCatalog, ModelSpec
from core.chat_shapes import message_to_openai
from core.deadlines import deadline_at
from core.errors import (
    BackendError,
    BackendTimeoutError,
    BackendUnavailableError,
    ChatError,
    ConfigError,
    InvalidArgumentError,
    ResourceExhaustedError,
)
from core.pipeline.aggregate import fold
from core.pipeline.chat import ChatPipeline
from core.types import (
    BackendChunk,
    FinishReason,
    GenerationParams,
    Message,
    Prompt,
    ResponseFormat,
    ResponseFormatType,
    Role,
    ToolCall,
    ToolCallDelta,
    ToolChoice,
    ToolChoiceMode,
    ToolSpec,
    Turn,
)
from tests.upstream import (
    CANARY,
    INTERNAL_URL,
    FakeUpstream,
    Scenario,
    finish_chunk,
    reset_each_test,
    text_chunk,
    tool_chunk,
)

KEY = "sk-upstream-key-A"
OTHER_KEY = "sk-upstream-key-B"
UPSTREAM_MODEL = "up-model"  # the one model the fake upstream serves (output cap 4096)
PROMPT = Prompt(messages=(Message(Role.USER, "hi"),))
WEATHER = ToolSpec(
    name="get_weather",
    description="Current weather",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}},
)


@pytest.fixture(scope="module")
def fake_server():
    server = FakeUpstream(keys={KEY}, models={UPSTREAM_MODEL: 4096})
    yield server
    server.stop()


upstream = reset_each_test("fake_server")


def options(upstream: FakeUpstream, **extra: object) -> dict[str, object]:
    return {
        "base_url": upstream.url,
        "api_key": KEY,
        "upstream_model": UPSTREAM_MODEL,
        "timeout": 5,
        **extra,
    }


@pytest.fixture
async def backend(upstream):
    backend = OpenAICompatBackend.from_options(options(upstream))
    yield backend
    await backend.aclose()


async def collect(
    backend: OpenAICompatBackend, prompt: Prompt = PROMPT, params: GenerationParams | None = None
) -> list[BackendChunk]:
    return [c async for c in backend.stream(prompt, params or GenerationParams())]


def leaks(text: str) -> list[str]:
    return [s for s in (CANARY, INTERNAL_URL, "10.1.2.3", "/srv/app", KEY) if s in text]


# --- streams ----------------------------------------------------------------------------------


async def test_text_deltas_then_one_final_chunk_with_finish_and_upstream_usage(backend, upstream):
    chunks = await collect(backend)
    # The fake writes the whole reply at once: deltas that arrive together travel as one.
    assert [c.text for c in chunks] == ["Hello, world", ""]
    last = chunks[-1]
    assert last.finish_reason is FinishReason.STOP and last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (11, 2)
    assert all(c.finish_reason is None for c in chunks[:-1])
    assert len(upstream.chat_requests) == 1


async def test_without_upstream_usage_the_prompt_is_estimated_and_deltas_counted(backend, upstream):
    upstream.reset(Scenario(usage=None, chunks=(text_chunk("a"), text_chunk("b", "length"))))
    chunks = await collect(backend)
    assert chunks[-1].finish_reason is FinishReason.LENGTH
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens == await backend.count_tokens(PROMPT)
    assert chunks[-1].usage.completion_tokens == 2


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("stop", FinishReason.STOP),
        ("length", FinishReason.LENGTH),
        ("content_filter", FinishReason.CONTENT_FILTER),
        ("something_new", FinishReason.STOP),
    ],
)
async def test_finish_reasons_map_to_domain_values(backend, upstream, reason, expected):
    upstream.reset(Scenario(chunks=(text_chunk("x"), finish_chunk(reason))))
    assert (await collect(backend))[-1].finish_reason is expected


async def test_request_carries_only_allowlisted_fields_in_openai_shape(backend, upstream):
    prompt = Prompt(
        messages=(
            Message(Role.SYSTEM, "be brief"),
            Message(Role.USER, "weather?", name="ann"),
            Message(
                Role.ASSISTANT, tool_calls=(ToolCall("call_1", "get_weather", '{"city":"x"}'),)
            ),
            Message(Role.TOOL, "sunny", tool_call_id="call_1"),
        ),
        tools=(WEATHER,),
        tool_choice=ToolChoice(ToolChoiceMode.FUNCTION, "get_weather"),
        parallel_tool_calls=False,
        response_format=ResponseFormat(ResponseFormatType.JSON_SCHEMA, "w", {"type": "object"}),
    )
    params = GenerationParams(
        temperature=0.5, top_p=0.9, max_tokens=7, stop=("END",), seed=3,
        presence_penalty=0.1, frequency_penalty=-0.1, repetition_penalty=1.1,
    )  # fmt: skip
    await collect(backend, prompt, params)
    (request,) = upstream.chat_requests
    assert request.body == {
        "model": UPSTREAM_MODEL,
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "weather?", "name": "ann"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"x"}'},
                    }
                ],
            },
            {"role": "tool", "content": "sunny", "tool_call_id": "call_1"},
        ],
        "temperature": 0.5, "top_p": 0.9, "max_tokens": 7, "seed": 3, "stop": ["END"],
        "presence_penalty": 0.1, "frequency_penalty": -0.1,
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "Current weather",
                    "parameters": WEATHER.parameters,
                },
            }
        ],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "parallel_tool_calls": False,
        "response_format": {
            "type": "json_schema", "json_schema": {"name": "w", "schema": {"type": "object"}},
        },
        "stream": True,
        "stream_options": {"include_usage": True},
    }  # fmt: skip
    assert request.headers["authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        (ToolChoice(ToolChoiceMode.AUTO), None),
        (ToolChoice(ToolChoiceMode.NONE), "none"),
        (ToolChoice(ToolChoiceMode.REQUIRED), "required"),
    ],
)
async def test_tool_choice_modes_and_json_object(backend, upstream, choice, expected):
    prompt = Prompt(
        messages=PROMPT.messages,
        tools=(WEATHER,),
        tool_choice=choice,
        response_format=ResponseFormat(ResponseFormatType.JSON_OBJECT),
    )
    await collect(backend, prompt)
    body = upstream.chat_requests[0].body
    assert body.get("tool_choice") == expected
    assert "parallel_tool_calls" not in body  # true is the default everywhere
    assert body["response_format"] == {"type": "json_object"}


async def test_repetition_penalty_and_extra_reach_only_upstreams_configured_for_them(upstream):
    params = GenerationParams(repetition_penalty=1.2)
    plain = OpenAICompatBackend.from_options(options(upstream))
    vllm = OpenAICompatBackend.from_options(
        options(upstream, repetition_penalty=True, extra={"top_k": 5})
    )
    await collect(plain, params=params)
    await collect(vllm, params=params)
    await plain.aclose()
    await vllm.aclose()
    first, second = (r.body for r in upstream.chat_requests)
    assert "repetition_penalty" not in first and "top_k" not in first
    assert (second["repetition_penalty"], second["top_k"]) == (1.2, 5)


async def test_a_backend_without_native_tools_sends_none_and_says_so(upstream):
    backend = OpenAICompatBackend.from_options(options(upstream, supports_tools="false"))
    assert backend.supports_tools is False and OpenAICompatBackend.supports_tools is True
    prompt = Prompt(messages=PROMPT.messages, tools=(WEATHER,))
    await collect(backend, prompt)
    await backend.aclose()
    assert not {"tools", "tool_choice"} & set(upstream.chat_requests[0].body)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        (GenerationParams(temperature=float("nan")), "generation_config.temperature"),
        (GenerationParams(top_p=0.0), "generation_config.top_p"),
        (GenerationParams(max_tokens=0), "generation_config.max_tokens"),
        (GenerationParams(seed=2**64), "generation_config.seed"),
        (GenerationParams(presence_penalty=3.0), "generation_config.presence_penalty"),
        (GenerationParams(stop=("",)), "generation_config.stop"),
    ],
)
async def test_out_of_range_params_are_refused_before_any_upstream_call(
    backend, upstream, params, field
):
    """The pipeline validates every value once, before the backend builds a request."""
    catalog = ModelCatalog([ModelSpec("up", "openai_compat", context_window=4096)])
    catalog.attach("up", backend)
    turn = Turn(messages=PROMPT.messages, params=params)
    with pytest.raises(InvalidArgumentError) as caught:
        await fold(ChatPipeline(catalog).run(turn))
    assert caught.value.field == field
    assert upstream.requests == []


# --- tool calls -------------------------------------------------------------------------------


async def test_parallel_native_tool_calls_stream_with_stable_index_and_id_name_first(
    backend, upstream
):
    upstream.reset(
        Scenario(
            chunks=(
                tool_chunk(0, id="call_a", name="get_weather", arguments=""),
                tool_chunk(0, arguments='{"city": '),
                tool_chunk(1, id="call_b", name="get_time", arguments='{"tz"'),
                tool_chunk(0, name="get_weather", arguments='"Paris"}'),  # a repeated name
                tool_chunk(1, arguments=': "UTC"}'),
                finish_chunk("tool_calls"),
            )
        )
    )
    chunks = await collect(backend)
    deltas = [d for c in chunks for d in c.tool_calls]
    assert deltas == [
        ToolCallDelta(0, "call_a", "get_weather", ""),
        ToolCallDelta(0, "", "", '{"city": '),
        ToolCallDelta(1, "call_b", "get_time", '{"tz"'),
        ToolCallDelta(0, "", "", '"Paris"}'),
        ToolCallDelta(1, "", "", ': "UTC"}'),
    ]
    assert chunks[-1].finish_reason is FinishReason.TOOL_CALLS


async def test_a_call_without_id_gets_one_and_stop_after_calls_means_tool_calls(backend, upstream):
    upstream.reset(
        Scenario(chunks=(tool_chunk(0, name="get_weather", arguments="{}"), finish_chunk("stop")))
    )
    chunks = await collect(backend)
    (delta,) = chunks[0].tool_calls
    assert delta.id.startswith("call_") and len(delta.id) == 29 and delta.name == "get_weather"
    assert chunks[-1].finish_reason is FinishReason.TOOL_CALLS


# --- what a hosted upstream refuses (the fake enforces it like DashScope and OpenAI) ----------


async def test_a_model_the_upstream_does_not_serve_is_a_backend_error_naming_the_code(upstream):
    backend = OpenAICompatBackend.from_options(options(upstream, upstream_model="gpt-nope"))
    with pytest.raises(BackendError, match=r"\(HTTP 404: model_not_found\)"):
        await collect(backend)
    await backend.aclose()
    assert [r.status for r in upstream.chat_requests] == [404]


async def test_a_wrong_key_is_unavailable_never_an_authentication_error(upstream):
    backend = OpenAICompatBackend.from_options({**options(upstream), "api_key": "sk-wrong-key-99"})
    with pytest.raises(BackendUnavailableError, match="credentials") as caught:
        await collect(backend)
    await backend.aclose()
    assert caught.value.metadata["upstream_status"] == "401"
    assert "sk-wrong-key-99" not in caught.value.message + repr(caught.value.metadata)


async def test_max_tokens_above_the_upstream_cap_is_refused_upstream(backend, upstream):
    with pytest.raises(BackendError, match=r"HTTP 400"):
        await collect(backend, params=GenerationParams(max_tokens=4097))
    await collect(backend, params=GenerationParams(max_tokens=4096))
    assert [(r.body["max_tokens"], r.status) for r in upstream.chat_requests] == [
        (4097, 400),
        (4096, 200),
    ]


# --- errors before the first token ------------------------------------------------------------

HTTP_DATE = "in 30 s"  # rendered when the test runs: collection may happen long before


@pytest.mark.parametrize(
    ("status", "headers", "error", "retry_after"),
    [
        (429, {"retry-after": "2"}, ResourceExhaustedError, 2.0),
        (429, {"retry-after-ms": "1500", "retry-after": "9"}, ResourceExhaustedError, 1.5),
        (429, {}, ResourceExhaustedError, None),
        (500, {}, BackendUnavailableError, None),
        (503, {"retry-after": "1"}, BackendUnavailableError, None),
        (401, {}, BackendUnavailableError, None),
        (403, {}, BackendUnavailableError, None),
        (400, {}, BackendError, None),
        (404, {}, BackendError, None),
        (422, {}, BackendError, None),
        (408, {}, BackendTimeoutError, None),
    ],
)
async def test_upstream_statuses_map_once_without_retries_or_leaks(
    backend, upstream, caplog, status, headers, error, retry_after
):
    body = {"error": {"message": f"Incorrect API key provided: {KEY}; {CANARY} {INTERNAL_URL}"}}
    upstream.reset(Scenario(mode="status", status=status, headers=headers, body=body))
    with caplog.at_level(logging.WARNING), pytest.raises(ChatError) as caught:
        await collect(backend)
    assert type(caught.value) is error
    assert len(upstream.chat_requests) == 1  # no retries: the caller decides on them
    shown = caught.value.message + repr(caught.value.metadata)
    assert leaks(shown) == []
    assert caught.value.metadata["upstream_status"] == str(status)
    assert KEY not in caplog.text and "[redacted]" in caplog.text
    if isinstance(caught.value, ResourceExhaustedError):
        assert caught.value.retry_after == retry_after
    if status in (401, 403):
        assert "credentials" in caught.value.message


async def test_a_rejected_request_says_why_in_generic_words(backend, upstream):
    upstream.reset(Scenario(mode="status", status=400))  # ERROR_BODY: canary in message and code
    with pytest.raises(BackendError) as caught:
        await collect(backend)
    assert (
        caught.value.message
        == "The upstream model rejected the request (HTTP 400: invalid request)."
    )
    upstream.reset(
        Scenario(mode="status", status=400, body={"error": {"code": "context_length_exceeded"}})
    )
    with pytest.raises(BackendError, match=r"\(HTTP 400: context_length_exceeded\)"):
        await collect(backend)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after": HTTP_DATE}, pytest.approx(30, abs=2)),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "-4"}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after": "99999999"}, 3600.0),
        ({}, None),
    ],
)
def test_retry_after_reads_seconds_milliseconds_and_http_dates(value, expected):
    if value.get("retry-after") == HTTP_DATE:
        value = {"retry-after": email.utils.formatdate(time.time() + 30, usegmt=True)}
    assert retry_after_seconds(httpx.Headers(value)) == expected


async def test_connection_refused_is_unavailable():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    backend = OpenAICompatBackend.from_options(
        {"base_url": f"http://127.0.0.1:{port}/v1", "api_key": KEY, "upstream_model": "m"}
    )
    with pytest.raises(BackendUnavailableError, match="cannot be reached"):
        await collect(backend)
    await backend.aclose()


async def test_a_stalled_upstream_times_out(upstream):
    upstream.reset(Scenario(mode="endless", interval=5))
    backend = OpenAICompatBackend.from_options(options(upstream, timeout=0.3))
    with pytest.raises(BackendTimeoutError):
        await collect(backend)
    await backend.aclose()


async def test_the_calls_remaining_time_bounds_the_whole_upstream_request(backend, upstream):
    upstream.reset(Scenario(mode="endless", interval=0.01))  # never idle: read timeouts hold
    started = time.monotonic()
    with deadline_at(asyncio.get_running_loop().time() + 0.5), pytest.raises(BackendTimeoutError):
        await collect(backend)
    assert 0.4 < time.monotonic() - started < 2
    assert await asyncio.to_thread(upstream.disconnected.wait, 5)


# --- errors inside the stream -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "texts", "says"),
    [
        ("garbage", ["Hel"], "invalid stream"),
        ("error_event", ["Hel", "lo"], "failed while generating"),
        ("drop", ["Hel", "lo"], "broke mid-reply"),
        ("no_done", ["Hel", "lo"], "ended before the reply finished"),
    ],
)
async def test_failures_inside_the_stream_are_unavailable_after_the_chunks_before(
    backend, upstream, mode, texts, says
):
    upstream.reset(Scenario(mode=mode))
    received: list[str] = []

    async def drain() -> None:
        async for chunk in backend.stream(PROMPT, GenerationParams()):
            received.append(chunk.text)

    with pytest.raises(BackendUnavailableError) as caught:
        await drain()
    assert "".join(received) == "".join(texts) and says in caught.value.message
    assert leaks(caught.value.message + repr(caught.value.metadata)) == []
    assert len(upstream.chat_requests) == 1


@pytest.mark.parametrize(
    "bad",
    [
        {"choices": ["not a choice"]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": 7}]}}]},
        {"choices": [], "usage": "lots"},
        '["a list, not a chunk"]',  # sent as written
    ],
)
async def test_json_chunks_of_the_wrong_shape_are_an_invalid_stream(backend, upstream, bad):
    upstream.reset(Scenario(chunks=(text_chunk("Hel"), bad, finish_chunk("stop"))))
    with pytest.raises(BackendUnavailableError, match="invalid stream"):
        await collect(backend)


# --- cancellation -----------------------------------------------------------------------------


async def test_closing_the_stream_closes_the_upstream_connection_promptly(backend, upstream):
    upstream.reset(Scenario(mode="endless", interval=0.01))
    async with aclosing(backend.stream(PROMPT, GenerationParams())) as stream:
        for _ in range(3):
            await anext(stream)
        closed_at = time.monotonic()
    assert await asyncio.to_thread(upstream.disconnected.wait, 5)
    lag = upstream.disconnects[0] - closed_at
    assert lag < 0.5, f"upstream saw the disconnect {lag * 1000:.0f} ms after aclose"


async def test_cancelling_the_consumer_task_closes_the_upstream_connection(backend, upstream):
    upstream.reset(Scenario(mode="endless", interval=0.01))
    started = asyncio.Event()

    async def consume() -> None:
        async for _ in backend.stream(PROMPT, GenerationParams()):
            started.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(started.wait(), 5)
    task.cancel()
    cancelled_at = time.monotonic()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await asyncio.to_thread(upstream.disconnected.wait, 5)
    assert upstream.disconnects[0] - cancelled_at < 0.5


# --- configuration and isolation --------------------------------------------------------------


async def test_each_upstream_sees_only_its_own_key_and_no_ambient_openai_settings(
    upstream, monkeypatch
):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-openai")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-env")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-env")
    monkeypatch.setenv("OPENAI_CUSTOM_HEADERS", "Authorization: Bearer sk-env-custom\nX-Env: 1")
    other = FakeUpstream(keys={OTHER_KEY}, models={UPSTREAM_MODEL: 4096})
    try:
        first = OpenAICompatBackend.from_options(options(upstream))
        second = OpenAICompatBackend.from_options({**options(other), "api_key": OTHER_KEY})
        keyless = OpenAICompatBackend.from_options({**options(upstream), "api_key": None})
        for backend in (first, second):
            await collect(backend)
            await backend.aclose()
        with pytest.raises(BackendUnavailableError, match="credentials"):
            await collect(keyless)  # "EMPTY" is no key a hosted upstream takes: 401
        await keyless.aclose()
        seen_a = [r.headers for r in upstream.requests]
        seen_b = [r.headers for r in other.requests]
    finally:
        other.stop()
    assert [h["authorization"] for h in seen_a] == [f"Bearer {KEY}", "Bearer EMPTY"]
    assert [h["authorization"] for h in seen_b] == [f"Bearer {OTHER_KEY}"]
    everything = repr(seen_a + seen_b)
    for leaked in ("sk-env", "org-env", "proj-env", "x-env", "openai-organization"):
        assert leaked not in everything.lower()
    assert KEY not in repr(seen_b) and "key-B" not in repr(seen_a)


async def test_the_registry_builds_it_from_catalog_options(upstream):
    backend = create_backend("openai_compat", {"base_url": upstream.url, "upstream_model": "m"})
    assert isinstance(backend, OpenAICompatBackend) and backend.supports_tools is True
    await backend.aclose()


@pytest.mark.parametrize(
    ("opts", "match"),
    [
        ({"upstream_model": "m"}, "base_url"),
        ({"base_url": "http://h/v1"}, "upstream_model"),
        ({"base_url": "http://h/v1", "upstream_model": "m", "api_base": "x"}, "api_base"),
        ({"base_url": "http://h/v1", "upstream_model": "m", "timeout": "soon"}, "timeout"),
        ({"base_url": "http://h/v1", "upstream_model": "m", "timeout": 0}, "timeout"),
        ({"base_url": "http://h/v1", "upstream_model": "m", "supports_tools": "yes"}, "tools"),
        ({"base_url": "http://h/v1", "upstream_model": "m", "extra": {"model": "x"}}, "model"),
        ({"base_url": "http://h/v1", "upstream_model": "m", "http_client": 1}, "http_client"),
    ],
)
def test_bad_options_are_config_errors(opts, match):
    with pytest.raises(ConfigError, match=match):
        OpenAICompatBackend.from_options(opts)


async def test_count_tokens_is_a_generous_estimate_for_ascii_and_cjk(backend):
    english = Prompt(messages=(Message(Role.USER, "The quick brown fox jumps over the lazy dog"),))
    chinese = Prompt(messages=(Message(Role.USER, "半盏青年茶馆今天营业吗"),))
    assert await backend.count_tokens(english) == 3 + 4 + 15
    assert await backend.count_tokens(chinese) == 3 + 4 + 11
    with_tools = Prompt(messages=english.messages, tools=(WEATHER,))
    assert await backend.count_tokens(with_tools) > await backend.count_tokens(english)


def test_message_shapes_follow_openai():
    assert message_to_openai(Message(Role.TOOL, "ok", name="n", tool_call_id="c")) == {
        "role": "tool", "content": "ok", "tool_call_id": "c",
    }  # fmt: skip
    call = ToolCall("c", "f", "{}")
    assert message_to_openai(Message(Role.ASSISTANT, "thinking", tool_calls=(call,)))[
        "content"
    ] == ("thinking")


# --- a real third-party upstream: llama-cpp-python's OpenAI-compatible server --------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    port = _free_port()
    log = (tmp_path_factory.mktemp("llama_server") / "server.log").open("w")
    command = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(locate_embedded_gguf()),
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048",
        "--interrupt_requests", "False",
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/models", timeout=1).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"llama_cpp.server did not start (log: {log.name})")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture
async def llama_backend(llama_server):
    backend = OpenAICompatBackend.from_options(
        {
            "base_url": llama_server,
            "upstream_model": "smollm2",
            "timeout": 30,
        }
    )
    yield backend
    await backend.aclose()


QUESTION = Prompt(messages=(Message(Role.USER, "What is the capital of France?"),))


@pytest.mark.model
async def test_real_upstream_reply_folds_to_text_finish_and_usage(llama_backend):
    chunks = await collect(llama_backend, QUESTION, GenerationParams(max_tokens=24, seed=1))
    text = "".join(c.text for c in chunks)
    last = chunks[-1]
    assert text.strip() and last.finish_reason in (FinishReason.STOP, FinishReason.LENGTH)
    assert last.usage is not None
    # llama-cpp-python's server sends no usage chunk: the estimate and one token per delta.
    assert last.usage.prompt_tokens == await llama_backend.count_tokens(QUESTION)
    assert 0 < last.usage.completion_tokens == len(chunks) - 1 <= 24


@pytest.mark.model
async def test_real_upstream_stops_at_max_tokens(llama_backend):
    chunks = await collect(llama_backend, QUESTION, GenerationParams(max_tokens=3, seed=1))
    assert chunks[-1].finish_reason is FinishReason.LENGTH
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 3


@pytest.mark.model
async def test_real_upstream_stops_generating_when_the_stream_is_closed(llama_server):
    """The server runs one request at a time: the next one waits until the first has stopped."""
    long_run = OpenAICompatBackend.from_options(
        {
            "base_url": llama_server,
            "upstream_model": "smollm2",
            # llama-cpp-python's server extension: no end of sequence before this many tokens,
            # so about 40 s of generation if nothing stops it.
            "extra": {"min_tokens": 1500},
        }
    )
    params = GenerationParams(max_tokens=1500, temperature=0.0)
    async with aclosing(long_run.stream(QUESTION, params)) as stream:
        for _ in range(3):
            await anext(stream)
        closed_at = time.monotonic()
    follow_up = OpenAICompatBackend.from_options(
        {"base_url": llama_server, "upstream_model": "smollm2"}
    )
    chunks = await collect(follow_up, QUESTION, GenerationParams(max_tokens=2))
    waited = time.monotonic() - closed_at
    await follow_up.aclose()
    await long_run.aclose()  # only now: closing the client would close its connections anyway
    assert chunks[-1].finish_reason is FinishReason.LENGTH
    assert waited < 5, f"the next request waited {waited:.1f} s: the first one kept generating"
