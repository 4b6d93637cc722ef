"""The bench harness itself: the synthetic backend's reply and the mock upstream's stream."""

from __future__ import annotations

import openai

from bench.mock_upstream import running_upstream
from bench.report import percentile
from bench.synthetic import BENCH_MODEL, SyntheticBackend, expected_text, reply_tokens
from core.types import FinishReason, GenerationParams, Message, Prompt, Role

PROMPT = Prompt(messages=(Message(role=Role.USER, content="say something"),))


async def test_synthetic_backend_streams_n_tokens_then_finish_and_usage():
    chunks = [c async for c in SyntheticBackend(tokens=8).stream(PROMPT, GenerationParams())]

    assert [c.text for c in chunks[:-1]] == reply_tokens(8)
    assert chunks[-1].finish_reason is FinishReason.STOP
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 8
    assert "".join(c.text for c in chunks) == expected_text(8)


async def test_synthetic_backend_stops_at_max_tokens_with_length():
    params = GenerationParams(max_tokens=3)
    chunks = [c async for c in SyntheticBackend(tokens=8).stream(PROMPT, params)]

    assert [c.text for c in chunks[:-1]] == reply_tokens(3)
    assert chunks[-1].finish_reason is FinishReason.LENGTH


async def test_mock_upstream_streams_the_reply_to_the_openai_sdk():
    async with (
        running_upstream(tokens=8) as base_url,
        openai.DefaultAsyncHttpxClient(trust_env=False) as http_client,
    ):
        client = openai.AsyncOpenAI(base_url=base_url, api_key="bench", http_client=http_client)
        stream = await client.chat.completions.create(
            model=BENCH_MODEL,
            messages=[{"role": "user", "content": "say something"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == expected_text(8)
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 8
    assert chunks[-2].choices[0].finish_reason == "stop"


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 101)]

    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([7.0], 0.99) == 7.0
    assert percentile([], 0.5) is None


def test_synthetic_core_process_serves_the_bench_model(tmp_path):
    """The bench's chatrpc back end starts and answers (it broke once, silently, when
    create_server gained an argument: the bench is only run by hand)."""
    import subprocess
    import sys
    import time
    from pathlib import Path

    import chatrpc
    from tests.e2e.test_core_process import free_port

    port = free_port()
    log = (tmp_path / "core.log").open("wb")
    command = [sys.executable, "-m", "bench.synthetic_core", "--port", str(port), "--tokens", "4"]
    proc = subprocess.Popen(
        command, cwd=Path(__file__).resolve().parents[2], stdout=log, stderr=log
    )
    try:
        with chatrpc.Client(f"127.0.0.1:{port}", timeout=5) as client:
            deadline = time.monotonic() + 20
            while True:
                try:
                    if client.health(timeout=1) == "SERVING":
                        break
                except chatrpc.UnavailableError:
                    pass
                assert proc.poll() is None, (tmp_path / "core.log").read_text()
                assert time.monotonic() < deadline
                time.sleep(0.05)
            assert client.chat("hi", model=BENCH_MODEL).content == expected_text(4)
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()
