"""Request ids, server timings and log lines on both faces, over real servers."""

from __future__ import annotations

import io
import json
import re
import sqlite3
import threading
import time

import grpc
import httpx
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import chatrpc
from chatrpc.v1 import chat_service_pb2 as pb, chat_service_pb2_grpc as pb_grpc
from core.settings import Settings
from observability.timing import parse_timing
from tests.fakes import ScriptedBackend
from tests.observability.conftest import (
    CANARY_KEY,
    MODEL,
    Faces,
    moved,
    scrape,
    scripted_catalog,
)
from tests.servers import CoreThread

REQUEST_ID = "req-abc-123"
GENERATED = re.compile(r"[0-9a-f]{32}")


def _lines(logs: io.StringIO) -> list[dict[str, str]]:
    return [json.loads(line) for line in logs.getvalue().splitlines()]


def _chat(faces: Faces, body: dict[str, object], **headers: str) -> httpx.Response:
    return httpx.post(
        faces.gateway.url + "/v1/chat/completions", json=body, headers=headers, timeout=10
    )


def test_request_id_comes_back_is_logged_by_the_core_and_stored_with_the_turn(
    faces: Faces, json_logs: io.StringIO, sqlite_url: str, spans: InMemorySpanExporter
):
    faces.backend.enqueue(["hello"])
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "thread_id": "t7"}
    response = _chat(faces, body, **{"x-request-id": REQUEST_ID})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == REQUEST_ID
    assert set(parse_timing(response.headers["server-timing"])) == {"queue", "ttft", "total"}

    core_lines = [
        line
        for line in _lines(json_logs)
        if line["logger"] == "core.rpc" and line.get("request_id") == REQUEST_ID
    ]
    assert len(core_lines) == 1
    line = core_lines[0]
    assert line["model"] == MODEL and line["thread_id"] == "t7" and line["level"] == "INFO"
    assert line["message"].startswith("Chat OK ")
    assert {"time", "trace_id"} <= set(line)
    gateway_lines = [
        line
        for line in _lines(json_logs)
        if line["logger"] == "gateway.access" and line.get("request_id") == REQUEST_ID
    ]
    assert [line["message"].split()[:3] for line in gateway_lines] == [
        ["POST", "/v1/chat/completions", "200"]
    ]
    assert gateway_lines[0]["trace_id"] == line["trace_id"]

    path = sqlite_url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "SELECT thread_id, model FROM turns WHERE request_id = ?", (REQUEST_ID,)
        ).fetchall()
    assert rows == [("t7", MODEL)]


def test_request_id_comes_back_on_a_400_a_404_and_is_made_when_absent_or_unusable(
    faces: Faces,
):
    refused = _chat(faces, {"messages": [], "bogus": 1}, **{"x-request-id": REQUEST_ID})
    assert refused.status_code == 400
    assert refused.headers["x-request-id"] == REQUEST_ID
    assert "total" in parse_timing(refused.headers["server-timing"])
    missing = httpx.get(faces.gateway.url + "/v1/nowhere", headers={"x-request-id": "r-404"})
    assert missing.status_code == 404 and missing.headers["x-request-id"] == "r-404"
    for presented in ({}, {"x-request-id": "has space"}, {"x-request-id": "x" * 129}):
        made = httpx.get(faces.gateway.url + "/health", headers=presented)
        assert GENERATED.fullmatch(made.headers["x-request-id"]), presented


def test_streamed_response_says_its_time_to_first_token(faces: Faces):
    faces.backend.enqueue(["a", "b"], delay=0.05)
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": True}
    response = _chat(faces, body)
    timing = parse_timing(response.headers["server-timing"])
    assert set(timing) == {"ttft"} and timing["ttft"] >= 50


def _stub(core: CoreThread) -> tuple[grpc.Channel, pb_grpc.ChatServiceStub]:
    channel = grpc.insecure_channel(core.target)
    return channel, pb_grpc.ChatServiceStub(channel)


def test_grpc_request_id_is_initial_metadata_and_timings_are_trailers(faces: Faces):
    channel, stub = _stub(faces.core)
    request = pb.ChatRequest(model=MODEL, messages=[pb.Message(role=pb.ROLE_USER, content="hi")])
    with channel:
        _, call = stub.Chat.with_call(request, metadata=(("x-request-id", REQUEST_ID),))
        assert dict(call.initial_metadata())["x-request-id"] == REQUEST_ID
        timing = parse_timing(dict(call.trailing_metadata())["server-timing"])
        assert set(timing) == {"queue", "ttft", "total"}
        assert 0 <= timing["queue"] <= timing["ttft"] <= timing["total"]

        request.generation_config.temperature = 5
        with pytest.raises(grpc.RpcError) as failed:
            stub.Chat(request)
        error = failed.value
        assert isinstance(error, grpc.Call)
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
        trailers = dict(error.trailing_metadata())  # a refused call has no initial metadata
        assert GENERATED.fullmatch(trailers["x-request-id"])
        assert "total" in parse_timing(trailers["server-timing"])


def test_no_key_or_prompt_reaches_any_log_at_info(keyed_faces: Faces, json_logs: io.StringIO):
    prompt = "canary-prompt-5e61b0 my secret question"
    wrong_key = "sk-canary-wrong-77aa10"
    url = keyed_faces.gateway.url + "/v1/chat/completions"
    body = {"model": MODEL, "messages": [{"role": "user", "content": prompt}]}
    auth = {"authorization": f"Bearer {CANARY_KEY}"}
    http_before, grpc_before = keyed_faces.scrape()
    keyed_faces.backend.enqueue([prompt])  # the reply repeats the prompt
    assert httpx.post(url, json=body, headers=auth, timeout=10).status_code == 200
    keyed_faces.backend.enqueue([prompt])
    streamed = httpx.post(url, json={**body, "stream": True}, headers=auth, timeout=10)
    assert prompt in streamed.text
    assert httpx.post(url, json={**body, "temperature": 9}, headers=auth).status_code == 400
    wrong = {"authorization": f"Bearer {wrong_key}"}
    assert httpx.post(url, json=body, headers=wrong, timeout=10).status_code == 401
    assert httpx.post(url, json=body, timeout=10).status_code == 401
    http_after, grpc_after = keyed_faces.scrape()

    text = json_logs.getvalue()
    assert len(_lines(json_logs)) >= 8  # a line per request on each face: the logs are there
    for canary in (CANARY_KEY, wrong_key, "canary-prompt-5e61b0"):
        assert canary not in text
    assert moved(http_before, http_after, "chatrpc_refusals_total", face="http", reason="auth") == 1
    assert moved(grpc_before, grpc_after, "chatrpc_refusals_total", face="grpc", reason="auth") == 1


def test_the_guards_in_flight_limit_sheds_and_counts(sqlite_url: str):
    backend = ScriptedBackend()
    core = CoreThread(
        scripted_catalog(backend),
        database_url=sqlite_url,
        metrics=True,
        settings=Settings(max_concurrent_rpcs=1),
    )
    try:
        before = scrape(core.metrics_url)
        backend.enqueue(["slow", "reply"], delay=0.5)
        with chatrpc.Client(core.target) as client:
            first = threading.Thread(target=client.chat, args=("hi",), kwargs={"model": MODEL})
            first.start()
            deadline = time.monotonic() + 5
            while not backend.calls and time.monotonic() < deadline:
                time.sleep(0.01)
            with pytest.raises(chatrpc.RateLimitError):
                client.chat("hi", model=MODEL)
            assert client.health() == "SERVING"  # health is never refused
            first.join(10)
        after = scrape(core.metrics_url)
    finally:
        core.stop()
    assert moved(before, after, "chatrpc_refusals_total", face="grpc", reason="shedding") == 1
    codes = {"face": "grpc", "route": "Chat", "model": ""}
    assert moved(before, after, "chatrpc_requests_total", code="RESOURCE_EXHAUSTED", **codes) == 1
