"""The bench harness itself, started for real: the mock upstream (with the OpenAI SDK as its
client), the load generator's HTTP/SSE parsing and completeness checks, the bare chain, the
chatrpc stacks as the runner builds them, and the report's ratio table."""

from __future__ import annotations

import asyncio
import json
import time

import openai
import pytest

from bench import loadgen, report, stacks
from bench.mock_upstream import running_upstream
from bench.reply import BENCH_MODEL, PACED_MODEL, expected_text, reply_tokens
from bench.synthetic import SyntheticBackend
from core.types import FinishReason, GenerationParams, Message, Prompt, Role

PROMPT = Prompt(messages=(Message(role=Role.USER, content="say something"),))
MESSAGES = [{"role": "user", "content": "say something"}]


async def test_synthetic_backend_streams_n_tokens_then_finish_and_usage():
    chunks = [c async for c in SyntheticBackend(tokens=8).stream(PROMPT, GenerationParams())]

    assert [c.text for c in chunks[:-1]] == reply_tokens(8)
    assert chunks[-1].finish_reason is FinishReason.STOP
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 8


def _client(base_url: str, key: str, http_client: openai.AsyncClient) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        base_url=base_url, api_key=key, http_client=http_client, max_retries=0
    )


async def test_mock_upstream_answers_the_openai_sdk_like_a_hosted_upstream():
    async with (
        running_upstream(tokens=8, api_key="sk-right") as base_url,
        openai.DefaultAsyncHttpxClient(trust_env=False) as http_client,
    ):
        client = _client(base_url, "sk-right", http_client)
        stream = await client.chat.completions.create(
            model=BENCH_MODEL,
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
        whole = await client.chat.completions.create(model=BENCH_MODEL, messages=MESSAGES)
        cut = await client.chat.completions.create(
            model=BENCH_MODEL, messages=MESSAGES, max_tokens=3
        )
        with pytest.raises(openai.AuthenticationError) as wrong_key:
            await _client(base_url, "sk-wrong", http_client).models.list()
        with pytest.raises(openai.NotFoundError):
            await client.chat.completions.create(model="no-such-model", messages=MESSAGES)

    assert chunks[0].choices[0].delta.role == "assistant"
    content = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert [c.choices[0].delta.content for c in content] == reply_tokens(8)
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 8
    assert whole.choices[0].message.content == expected_text(8)
    assert whole.usage.completion_tokens == 8
    assert cut.choices[0].message.content == expected_text(3)
    assert cut.choices[0].finish_reason == "length"
    assert wrong_key.value.code == "invalid_api_key"


async def test_paced_mock_streams_one_token_per_tick():
    pace = 0.02
    async with (
        running_upstream(tokens=5, api_key="k", pace=pace) as base_url,
        openai.DefaultAsyncHttpxClient(trust_env=False) as http_client,
    ):
        stream = await _client(base_url, "k", http_client).chat.completions.create(
            model=PACED_MODEL, messages=MESSAGES, stream=True
        )
        start, arrivals = time.perf_counter(), []
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                arrivals.append(time.perf_counter() - start)

    assert len(arrivals) == 5
    assert arrivals[0] < 2.5 * pace  # the next tick, not after the whole reply
    assert arrivals[-1] - arrivals[0] >= 3.5 * pace  # four ticks between first and last


async def _level(url: str, *extra: str) -> dict:
    args = ["--url", url, "--api-key", "k", "--loop", "asyncio", *extra]
    return await loadgen.run_level(loadgen.parser().parse_args(args))


async def test_loadgen_counts_complete_and_incomplete_responses():
    async with running_upstream(tokens=8, api_key="k") as base_url:
        url = base_url + "/chat/completions"
        common = ["-c", "4", "--duration", "0.2", "--tokens", "8"]
        stream = await _level(url, "--mode", "stream", *common)
        unary = await _level(url, "--mode", "unary", *common)
        # The mock's reply has 8 tokens: expecting 9 makes every response incomplete.
        wrong = await _level(url, "--mode", "stream", "-c", "2", "-n", "6", "--tokens", "9")
        paced = await _level(url, "--mode", "stream", "--model", PACED_MODEL, *common)

    for outcome in (stream, unary, paced):
        assert outcome["complete"] > 0
        assert outcome["complete"] == outcome["sent"]
        assert outcome["incomplete"] == outcome["errors"] == 0
    assert stream["events"] == stream["complete"] * 11  # role, 8 tokens, finish, usage
    assert stream["ttfc"]["p50_ms"] is not None
    assert paced["ttfc"]["p50_ms"] >= 1.0  # the first token waits for a 10 ms tick
    # 4 paced streams at 100 tokens/s for 0.2 s: about 80 tokens delivered in the window.
    assert 40 <= paced["window_chunks"] <= 84
    assert stream["window_chunks"] <= stream["complete"] * 8
    assert wrong["sent"] == wrong["incomplete"] == 6 and wrong["complete"] == 0
    assert wrong["error_samples"][0] == "content 23/26 chars; no usage"


class _Transport:
    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def get_extra_info(self, name: str) -> None:
        return None

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


def _sse_response(crlf: bool) -> bytes:
    end = "\r\n" if crlf else "\n"
    events = [{"choices": [{"delta": {"role": "assistant", "content": ""}}]}]
    events += [{"choices": [{"delta": {"content": p}}]} for p in reply_tokens(3)]
    events += [{"choices": [{"delta": {}, "finish_reason": "stop"}]}]
    events += [{"choices": [], "usage": {"completion_tokens": 3}}]
    text = f": ping{end}{end}" + "".join(f"data: {json.dumps(e)}{end}{end}" for e in events)
    text += f"data: [DONE]{end}{end}"
    body = b"".join(
        b"%x;ext=1\r\n%s\r\n" % (len(p), p) for p in (text[:50].encode(), text[50:].encode())
    )
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    return head + body + b"0\r\n\r\n"


@pytest.mark.parametrize("crlf", [False, True])
async def test_loadgen_parses_chunked_sse_split_at_every_byte(crlf):
    response = _sse_response(crlf)
    for size in (1, 7, len(response)):
        conn = loadgen.Connection(stream=True, tokens=3, expected=expected_text(3))
        conn.connection_made(_Transport())
        waiter = conn.send(b"POST / HTTP/1.1\r\n\r\n", timeout=5)
        for i in range(0, len(response), size):
            conn.data_received(response[i : i + size])
        reply = await waiter

        assert reply.complete, reply.why
        assert reply.events == 6 and reply.tokens == 3 and reply.ttfc is not None


def _environment(tmp_path, tokens: int = 8) -> stacks.Environment:
    return stacks.Environment(tokens, 5.0, tmp_path, stacks.Placement(None, None))


async def _measure(target: stacks.Target, mode: str, model: str = BENCH_MODEL) -> dict:
    args = ["--mode", mode, "-c", "3", "--duration", "0.3", "--tokens", "8", "--model", model]
    args = ["--url", target.url, "--api-key", target.api_key, "--loop", "asyncio", *args]
    return await loadgen.run_level(loadgen.parser().parse_args(args))


async def test_the_runner_stacks_start_and_answer_complete_replies(tmp_path):
    """The mock as a process, chatrpc's gateway → core → openai_compat → mock with the
    generated catalog and key, the synthetic core, and both bare chain variants."""
    env = _environment(tmp_path)
    env.mock = stacks.mock_stack(env)
    started = [env.mock]
    try:
        await asyncio.to_thread(env.mock.start, 60, 1)
        specs = [
            ("direct", None),
            ("chatrpc-upstream", stacks.ROOT),
            ("chatrpc-synthetic", stacks.ROOT),
            ("bare-1", None),
            ("bare-8", None),
        ]
        targets = stacks.build_targets(env, specs)
        fresh = list({id(t.stack): t.stack for t in targets if not t.stack.started}.values())
        started += fresh
        await asyncio.gather(*(asyncio.to_thread(stack.start, 60, 1) for stack in fresh))
        outcomes = {}
        for target in targets:
            for mode in sorted(target.modes - {"paced"}):
                outcomes[target.label, mode] = await _measure(target, mode)
            if "paced" in target.modes:
                outcomes[target.label, "paced"] = await _measure(target, "stream", PACED_MODEL)
    finally:
        stacks.stop_all(started)

    assert len(outcomes) == 13
    for key, outcome in outcomes.items():
        assert outcome["complete"] > 0, (key, outcome["error_samples"])
        assert outcome["incomplete"] == outcome["errors"] == 0, (key, outcome["error_samples"])
    packed = outcomes["bare-8", "stream"]
    assert packed["events"] == packed["complete"] * 4  # role, 8 tokens in one, finish, usage
    catalog = (tmp_path / "chatrpc-upstream-models.toml").read_text()
    assert env.upstream_key not in catalog and 'api_key_env = ["BENCH_UPSTREAM_KEY"]' in catalog


def _results() -> dict:
    def level(**median):
        return {"runs": [median], "median": median, "bad": median.get("bad", 0)}

    def http(kind, unary64, chunks64, chunks256, paced, ttfc, c1, ttfc1, root=None):
        return {
            "kind": kind,
            "root": root,
            "levels": {
                "unary-c1": level(requests_per_s=1.0, latency_p50_ms=c1, bad=0),
                "unary-c64": level(requests_per_s=unary64, bad=0),
                "stream-c1": level(chunks_per_s=1.0, ttfc_p50_ms=ttfc1, bad=0),
                "stream-c64": level(chunks_per_s=chunks64, bad=0),
                "stream-c256": level(chunks_per_s=chunks256, bad=0),
                "paced-c64": level(delivered_chunks_per_s=paced, ttfc_p50_ms=ttfc, bad=0),
                "paced-c256": level(delivered_chunks_per_s=paced * 4, ttfc_p50_ms=ttfc, bad=1),
            },
        }

    return {
        "targets": {
            "direct": http("direct", 9000, 90000, 90000, 6000, 9.0, 0.1, 0.2),
            "chatrpc-upstream": http("chatrpc-upstream", 400, 30000, 40000, 5400, 39.0, 1.1, 1.7),
            "bare-1": http("bare-1", 500, 7000, 8000, 5000, 20.0, 0.8, 1.0),
            "bare-8": http("bare-8", 0, 30000, 20000, 5000, 25.0, 0.9, 1.1),
            "litellm": http("litellm", 20, 1000, 800, 1000, 2000.0, 15.0, 16.0),
            "chatrpc-embedded": {
                "kind": "chatrpc-embedded",
                "root": None,
                "levels": {"embedded": level(tokens_per_s=38.0, ttft_ms=12.0)},
            },
            "llama-inprocess": {
                "kind": "llama-inprocess",
                "root": None,
                "levels": {"embedded": level(tokens_per_s=40.0, ttft_ms=10.0)},
            },
        }
    }


def test_the_ratio_table_is_filled_from_the_medians():
    ratios = report.compare(_results())
    values = {row["key"]: row["values"]["chatrpc-upstream"] for row in ratios["rows"]}

    assert ratios["columns"] == ["chatrpc-upstream"]
    assert None not in values.values()
    assert values["nonstream_c64_vs_bare"] == 0.8
    assert values["nonstream_c64_vs_litellm"] == 20
    assert values["stream_c64_vs_bare8"] == 1.0 and values["stream_c256_vs_bare8"] == 2.0
    assert values["paced_c256_vs_direct"] == 0.9
    assert values["paced_c256_ttfc_added_ms"] == 30.0
    assert values["c1_nonstream_added_ms"] == 1.0 and values["c1_ttfc_added_ms"] == 1.5
    assert values["bad_responses"] == 1
    assert values["embedded_tokens_per_s_ratio"] == 0.95
    assert values["embedded_ttft_added_ms"] == 2.0
    table = report.ratio_table(ratios, markdown=True)
    assert "None" not in table and "0.80 ✓" in table and "1 ✗" in table


def test_a_missing_baseline_reads_as_a_dash_and_is_named():
    results = _results()
    del results["targets"]["litellm"]
    table = report.ratio_table(report.compare(results), markdown=True)

    assert "None" not in table
    assert "(litellm missing)" in table


def test_percentile_is_nearest_rank():
    values = [float(v) for v in range(1, 101)]

    assert report.percentile(values, 0.5) == 50.0
    assert report.percentile(values, 0.99) == 99.0
    assert report.percentile([], 0.5) is None
