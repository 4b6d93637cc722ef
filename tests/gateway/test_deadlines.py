"""The call's deadline from the client's timeout headers (gateway/http/deadlines.py), capped by
the server's maximum; past it, 504 in OpenAI's envelope (or one error event mid-stream)."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from gateway.app import create_app
from gateway.settings import Settings
from tests.fakes import ScriptedBackend
from tests.servers import CoreThread, GatewayThread

SLOW = ["a", "b", "c", "d", "e", "f"]  # at 0.25 s a piece: 1.5 s


@pytest.fixture
def slow(scripted: ScriptedBackend) -> ScriptedBackend:
    scripted.enqueue(SLOW, delay=0.25)
    return scripted


def post(gateway: GatewayThread, headers: dict[str, str], stream: bool = False) -> httpx.Response:
    body = {"model": "scripted", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    return httpx.post(gateway.url + "/v1/chat/completions", json=body, headers=headers, timeout=30)


def assert_timed_out(response: httpx.Response, openapi, within: float, started: float) -> None:
    assert response.status_code == 504, response.text
    openapi.validate(response.json(), "ErrorResponse")
    assert response.json()["error"]["type"] == "timeout_error"
    assert time.monotonic() - started < within + 1


@pytest.mark.parametrize("header", ["x-request-timeout", "x-stainless-read-timeout"])
def test_a_clients_timeout_is_the_deadline_and_504_follows(gateway, slow, openapi, header):
    started = time.monotonic()
    assert_timed_out(post(gateway, {header: "0.5"}), openapi, 0.5, started)
    assert slow.calls[-1].closed_at is not None and slow.calls[-1].produced < len(SLOW)


def test_a_stream_past_its_request_timeout_ends_with_an_error_event(gateway, slow):
    response = post(gateway, {"x-request-timeout": "0.8"}, stream=True)
    assert response.status_code == 200
    events = [line.removeprefix("data: ") for line in response.text.split("\n\n") if line]
    assert events[-1] != "[DONE]" and json.loads(events[-1])["error"]["type"] == "timeout_error"


def test_the_sdks_read_timeout_does_not_cut_a_stream_that_keeps_sending(gateway, slow):
    response = post(gateway, {"x-stainless-read-timeout": "0.5"}, stream=True)
    assert response.status_code == 200 and response.text.endswith("data: [DONE]\n\n")


def test_a_longer_timeout_is_capped_by_the_servers_maximum(core_server: CoreThread, slow, openapi):
    settings = Settings(core_target=core_server.target, auth="disabled", call_timeout=0.5)
    server = GatewayThread(create_app(settings))
    try:
        started = time.monotonic()
        assert_timed_out(post(server, {"x-request-timeout": "1e9"}), openapi, 0.5, started)
    finally:
        server.stop()


@pytest.mark.parametrize("value", ["soon", "0", "-1", "inf", "nan"])
def test_a_bad_request_timeout_is_400_naming_the_header(gateway, openapi, value):
    response = post(gateway, {"x-request-timeout": value})
    assert response.status_code == 400
    openapi.validate(response.json(), "ErrorResponse")
    assert response.json()["error"]["param"] == "x-request-timeout"
