"""SSE on a real uvicorn: incremental delivery, disconnect cancels generation."""

from __future__ import annotations

import json
import socket
import time

import httpx

HELLO = [{"role": "user", "content": "hello"}]


def test_chunks_arrive_while_the_model_is_still_generating(gateway, scripted):
    scripted.enqueue([f"t{i} " for i in range(20)], delay=0.05)
    arrivals = []
    body = {"model": "scripted", "messages": HELLO, "stream": True}
    with httpx.stream("POST", gateway.url + "/v1/chat/completions", json=body) as response:
        for line in response.iter_lines():
            if line.startswith("data: {"):
                arrivals.append(time.monotonic())
    record = scripted.calls[0]
    # The first content chunk reached us long before the backend produced its last token.
    assert arrivals[1] < record.produced_at[-1] - 0.5
    assert len(arrivals) == 1 + 20 + 1


def raw_stream_request(url: str, body: dict) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    payload = json.dumps(body).encode()
    sock = socket.create_connection((host, int(port)))
    sock.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(payload)}\r\n\r\n".encode()
        + payload
    )
    return sock


def wait_closed(record, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while record.closed_at is None and time.monotonic() < deadline:
        time.sleep(0.01)


def test_client_disconnect_mid_stream_stops_generation(gateway, scripted):
    scripted.enqueue([f"t{i} " for i in range(400)], delay=0.02)
    sock = raw_stream_request(gateway.url, {"model": "scripted", "messages": HELLO, "stream": True})
    received = b""
    while received.count(b"data: ") < 5:
        received += sock.recv(65536)
    record = scripted.calls[0]
    produced_at_close = record.produced
    closed_at = time.monotonic()
    sock.close()
    wait_closed(record)
    assert record.closed_at is not None, "the core kept generating after the client left"
    assert record.closed_at - closed_at < 0.5
    assert record.produced - produced_at_close <= 2
    assert record.produced < 400


def test_disconnect_while_the_model_is_silent_still_cancels(gateway, scripted):
    """No write happens while the model thinks; the disconnect must still be noticed."""
    scripted.enqueue(["first", "second"], delay=1.5)
    sock = raw_stream_request(gateway.url, {"model": "scripted", "messages": HELLO, "stream": True})
    deadline = time.monotonic() + 5
    while not scripted.calls and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)
    sock.close()
    record = scripted.calls[0]
    wait_closed(record)
    assert record.closed_at is not None
    assert record.produced == 0
