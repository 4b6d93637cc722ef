"""The embedded model's bounded queue: one turn runs, the next ones are told their position at
once (gRPC initial metadata, then an HTTP header), the one beyond the bound is refused at once
with a retry delay from the measured decode rate. The llama context is FakeLlama, held by its
gate; the core, gateway and clients are real."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import grpc
import httpx
import pytest

from chatrpc.v1 import chat_service_pb2 as pb, chat_service_pb2_grpc as pb_grpc
from core.backends.admission import Admission
from core.backends.llama_cpp import LlamaCppBackend
from core.catalog import ModelCatalog, ModelSpec
from core.errors import ConfigError
from gateway.app import create_app
from gateway.settings import Settings
from tests.fakes import FakeLlama, render_plain
from tests.servers import CoreThread, GatewayThread

MODEL = "fake-llama"
QUEUED = "x-chatrpc-queue-position"


@pytest.fixture
def held() -> Iterator[FakeLlama]:
    llama = FakeLlama(b"ok")
    llama.gate = threading.Event()  # every token waits for it
    yield llama
    llama.gate.set()


@pytest.fixture
def servers(held) -> Iterator[tuple[CoreThread, GatewayThread]]:
    catalog = ModelCatalog([ModelSpec(name=MODEL, backend="llama_cpp", context_window=512)])
    catalog.attach(MODEL, LlamaCppBackend(held, render_plain, max_queue=3))
    core = CoreThread(catalog)
    gateway = GatewayThread(create_app(Settings(core_target=core.target, auth="disabled")))
    yield core, gateway
    gateway.stop()
    core.stop()


def stream_request(text: str) -> pb.StreamChatRequest:
    return pb.StreamChatRequest(model=MODEL, messages=[pb.Message(role=pb.ROLE_USER, content=text)])


async def wait_until(condition, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_queued_turns_are_told_their_position_and_the_one_beyond_gets_429_at_once(
    servers, held
):
    core, gateway = servers
    async with grpc.aio.insecure_channel(core.target) as channel:
        stub = pb_grpc.ChatServiceStub(channel)
        running = stub.StreamChat(stream_request("one"))
        await wait_until(lambda: len(held.kwargs) == 1)  # the context is busy with it
        queued = []
        for n in (1, 2, 3):  # the 2nd, 3rd and 4th concurrent turns
            call = stub.StreamChat(stream_request(f"queued {n}"))
            metadata = await asyncio.wait_for(call.initial_metadata(), 5)  # before any token
            assert dict(metadata)[QUEUED] == str(n)
            queued.append(call)
        started = time.perf_counter()
        async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as http:
            body = {"model": MODEL, "messages": [{"role": "user", "content": "fifth"}]}
            refused = await http.post("/v1/chat/completions", json=body)
        assert time.perf_counter() - started < 1.0  # at once, not after the queue
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        error = refused.json()["error"]
        assert error["code"] == "overloaded" and "busy" in error["message"]
        held.gate.set()
        for call in (running, *queued):
            texts = [r.delta.content async for r in call if r.HasField("delta")]
            assert "".join(texts) == "ok"
    assert len(held.kwargs) == 4  # the refused turn never reached the model


async def test_the_gateway_passes_the_queue_position_as_a_header(servers, held):
    core, gateway = servers
    async with grpc.aio.insecure_channel(core.target) as channel:
        running = pb_grpc.ChatServiceStub(channel).StreamChat(stream_request("one"))
        await wait_until(lambda: len(held.kwargs) == 1)
        async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as http:
            body = {"model": MODEL, "messages": [{"role": "user", "content": "two"}]}
            second = asyncio.ensure_future(http.post("/v1/chat/completions", json=body))
            await asyncio.sleep(0.5)  # the second turn enters the queue behind the first
            held.gate.set()
            response = await second
            assert response.status_code == 200
            assert response.headers[QUEUED] == "1"
            assert [r async for r in running]
            unqueued = await http.post("/v1/chat/completions", json=body)
            assert QUEUED not in unqueued.headers  # it ran at once


def test_the_retry_delay_follows_the_measured_decode_rate():
    admission = Admission(max_queue=2)
    assert admission.estimate(3) == 3.0  # one second a turn until a turn is measured
    admission.record(tokens=100, seconds=2.0)  # 50 tokens/s, 100 tokens a turn
    assert admission.estimate(3) == pytest.approx(6.0)
    admission.record(tokens=100, seconds=1.0)  # faster: the average moves toward 100/s
    assert admission.estimate(3) < 6.0


def test_a_negative_queue_bound_is_a_config_error():
    with pytest.raises(ConfigError):
        Admission(max_queue=-1)
