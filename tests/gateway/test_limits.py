"""Per-key limits and the core's overload answer over HTTP: 429 in OpenAI's envelope with
`retry-after` and OpenAI's x-ratelimit-* headers, counted in this process or in Redis (two
core replicas sharing it). Real cores and gateways on 127.0.0.1; the openai SDK as client."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

import httpx
import openai
import pytest

from core.auth import digest, load_keyring
from core.catalog import EmbeddingSpec
from core.settings import Settings as CoreSettings
from gateway.app import create_app
from gateway.settings import Settings
from tests.servers import CoreThread, GatewayThread, with_models

ALICE, BOB = "sk-alice-0123456789abcdef", "sk-bob-0123456789abcdef"
HI = [{"role": "user", "content": "hi"}]
RATE_HEADERS = ("limit", "remaining", "reset")


def key_file(tmp_path: Path, alice: str, **limits: int) -> str:
    """A key file: alice (named `alice`, with `limits`) and bob (unlimited)."""
    settings = "".join(f"{name} = {value}\n" for name, value in limits.items())
    path = tmp_path / "keys.toml"
    path.write_text(
        f'[keys."{alice}"]\nsha256 = "{digest(ALICE)}"\n{settings}'
        f'[keys.bob]\nsha256 = "{digest(BOB)}"\n'
    )
    return str(path)


class Stack:
    """Cores (one per gateway) sharing a key file and settings, each behind its gateway."""

    def __init__(self, catalog, keys_file: str, settings: CoreSettings, replicas: int) -> None:
        self._exit = ExitStack()
        keys = load_keyring("required", keys_file, "")
        self.urls: list[str] = []
        for _ in range(replicas):
            core = CoreThread(catalog, keys=keys, settings=settings)
            self._exit.callback(core.stop)
            gateway = GatewayThread(create_app(Settings(core_target=core.target)))
            self._exit.callback(gateway.stop)
            self.urls.append(gateway.url)

    def client(self, key: str, replica: int = 0) -> openai.OpenAI:
        client = openai.OpenAI(base_url=self.urls[replica] + "/v1", api_key=key, max_retries=0)
        self._exit.callback(client.close)
        return client

    def close(self) -> None:
        self._exit.close()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def limited(request, catalog, tmp_path) -> Iterator[Stack]:
    """Alice may make 2 requests a minute; with Redis, her turns alternate between two
    replicas, which share her window."""
    alice = f"alice-{uuid.uuid4().hex[:8]}"  # a fresh window in a shared Redis
    keys = key_file(tmp_path, alice, requests_per_minute=2)
    if request.param == "redis":
        settings = CoreSettings(redis_url=request.getfixturevalue("redis_url"))
        stack = Stack(catalog, keys, settings, replicas=2)
    else:
        stack = Stack(catalog, keys, CoreSettings(), replicas=1)
    yield stack
    stack.close()


def test_a_key_over_its_request_rate_gets_429_with_the_headers_and_others_are_unaffected(
    limited,
):
    replicas = len(limited.urls)
    alice = [limited.client(ALICE, i % replicas) for i in range(3)]
    for n, client in enumerate(alice[:2]):
        raw = client.chat.completions.with_raw_response.create(model="scripted", messages=HI)
        assert raw.headers["x-ratelimit-limit-requests"] == "2"
        assert raw.headers["x-ratelimit-remaining-requests"] == str(1 - n)
        assert raw.headers["x-ratelimit-reset-requests"].endswith("s")
        assert raw.parse().choices[0].message.content == "ok"
    with pytest.raises(openai.RateLimitError) as refused:
        alice[2].chat.completions.create(model="scripted", messages=HI)
    response = refused.value.response
    assert 1 <= int(response.headers["retry-after"]) <= 60
    assert response.headers["x-ratelimit-remaining-requests"] == "0"
    assert response.headers["x-ratelimit-limit-requests"] == "2"
    error = response.json()["error"]
    assert error["type"] == "rate_limit_error" and error["code"] == "rate_limited"
    assert "requests per minute" in error["message"]
    assert "grpc" not in response.text.lower() and "metadata" not in response.text.lower()
    bob = limited.client(BOB, replicas - 1)
    for _ in range(3):
        raw = bob.chat.completions.with_raw_response.create(model="scripted", messages=HI)
        assert raw.status_code == 200
        assert "x-ratelimit-limit-requests" not in raw.headers  # bob has no limits


def test_a_key_over_its_token_budget_is_refused_until_the_window_resets(catalog, tmp_path):
    stack = Stack(catalog, key_file(tmp_path, "alice", tokens_per_minute=5), CoreSettings(), 1)
    try:
        client = stack.client(ALICE)
        raw = client.chat.completions.with_raw_response.create(model="scripted", messages=HI)
        assert raw.headers["x-ratelimit-remaining-tokens"] == "5"  # before this turn's use
        used = raw.parse().usage.total_tokens
        assert used >= 5
        with pytest.raises(openai.RateLimitError) as refused:
            client.chat.completions.create(model="scripted", messages=HI)
        headers = refused.value.response.headers
        assert headers["x-ratelimit-limit-tokens"] == "5"
        assert headers["x-ratelimit-remaining-tokens"] == "0"
        assert "retry-after" in headers
        assert "tokens per minute" in refused.value.response.json()["error"]["message"]
    finally:
        stack.close()


async def test_a_key_beyond_its_concurrent_streams_is_refused_while_one_runs(
    catalog, scripted, tmp_path
):
    stack = Stack(catalog, key_file(tmp_path, "alice", concurrent_streams=1), CoreSettings(), 1)
    scripted.enqueue(["a"] * 10, delay=0.1)
    headers = {"authorization": f"Bearer {ALICE}"}
    body = {"model": "scripted", "messages": HI, "stream": True}
    try:
        async with httpx.AsyncClient(base_url=stack.urls[0], timeout=10) as http:
            async with http.stream(
                "POST", "/v1/chat/completions", json=body, headers=headers
            ) as first:
                assert first.status_code == 200
                second = await http.post("/v1/chat/completions", json=body, headers=headers)
                assert second.status_code == 429
                assert second.headers["retry-after"] == "1"
                assert second.json()["error"]["code"] == "rate_limited"
                await first.aread()
            third = await http.post("/v1/chat/completions", json=body, headers=headers)
            assert third.status_code == 200  # the slot was given back
    finally:
        stack.close()


async def test_the_cores_shedding_is_429_with_retry_after_and_no_grpc_text(catalog, scripted):
    core = CoreThread(catalog, settings=CoreSettings(max_concurrent_rpcs=1))
    gateway = GatewayThread(create_app(Settings(core_target=core.target, auth="disabled")))
    scripted.enqueue(["a"] * 10, delay=0.1)
    body = {"model": "scripted", "messages": HI}
    try:
        async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as http:
            held = asyncio.ensure_future(http.post("/v1/chat/completions", json=body))
            for _ in range(500):  # until the first turn holds the one slot
                if scripted.calls:
                    break
                await asyncio.sleep(0.01)
            shed = await http.post("/v1/chat/completions", json=body)
            assert shed.status_code == 429
            assert shed.headers["retry-after"] == "1"
            error = shed.json()["error"]
            assert error == {
                "message": "The server is at capacity; retry shortly.",
                "type": "rate_limit_error",
                "param": None,
                "code": "overloaded",
            }
            assert (await held).status_code == 200
            assert (await http.post("/v1/chat/completions", json=body)).status_code == 200
    finally:
        gateway.stop()
        core.stop()


def test_an_http_client_that_sends_bad_keys_is_throttled_and_others_are_not(catalog, tmp_path):
    core = CoreThread(catalog, keys=load_keyring("required", key_file(tmp_path, "alice"), ""))
    settings = Settings(core_target=core.target, bad_keys_per_minute=3)
    gateway = GatewayThread(create_app(settings))

    def ask(key: str, client: str) -> httpx.Response:
        # uvicorn takes X-Forwarded-For from 127.0.0.1 (a proxy) as the client's address.
        headers = {"authorization": f"Bearer {key}", "x-forwarded-for": client}
        body = {"model": "scripted", "messages": HI}
        return httpx.post(gateway.url + "/v1/chat/completions", json=body, headers=headers)

    try:
        for _ in range(3):
            assert ask("sk-guess-0123456789abcdef", "203.0.113.7").status_code == 401
        throttled = ask("sk-guess-0123456789abcdef", "203.0.113.7")
        assert throttled.status_code == 429
        assert 1 <= int(throttled.headers["retry-after"]) <= 60
        assert throttled.json()["error"]["type"] == "rate_limit_error"
        assert ask(ALICE, "203.0.113.7").status_code == 429  # no more tries this minute
        assert ask(ALICE, "198.51.100.2").status_code == 200  # another client is served
        assert ask("sk-guess-0123456789abcdef", "198.51.100.2").status_code == 401
    finally:
        gateway.stop()
        core.stop()


def test_embeddings_count_against_the_keys_request_rate(catalog, scripted, tmp_path):
    """Embed runs a model too: alice's 2 requests a minute are spent by an embedding and a
    turn, and her next embedding is refused, before the backend sees it."""
    spec = replace(catalog.get("scripted"), name="scripted-embed")
    embeds = with_models(catalog, (replace(spec, embeddings=EmbeddingSpec(dimensions=3)), scripted))
    stack = Stack(embeds, key_file(tmp_path, "alice", requests_per_minute=2), CoreSettings(), 1)
    try:
        alice = stack.client(ALICE)
        raw = alice.embeddings.with_raw_response.create(model="scripted-embed", input="hi there")
        assert raw.status_code == 200 and raw.headers["x-ratelimit-remaining-requests"] == "1"
        assert raw.headers["x-chatrpc-replica"]  # the replica that embedded, as for turns
        alice.chat.completions.create(model="scripted", messages=HI)
        with pytest.raises(openai.RateLimitError) as refused:
            alice.embeddings.create(model="scripted-embed", input="once more")
        assert refused.value.response.headers["x-ratelimit-remaining-requests"] == "0"
        assert scripted.embed_calls == [(("hi there",), None)]
    finally:
        stack.close()
