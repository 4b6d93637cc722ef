"""A client that stops reading a stream: the gateway buffers a bounded amount of its reply,
closes the stream once a write has stalled for the write timeout, and cancels the turn (the
model stops, nothing is stored). Real core and gateway on 127.0.0.1; the client is a raw
socket that sends its request and never reads."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from gateway.app import create_app
from gateway.settings import Settings
from tests.servers import CoreThread, GatewayThread

PIECES = 20_000


@pytest.fixture
def slow_setup(catalog, scripted, sqlite_url) -> Iterator[tuple[str, object]]:
    core = CoreThread(catalog, database_url=sqlite_url)
    settings = Settings(
        core_target=core.target,
        auth="disabled",
        stream_write_timeout=1.0,
        stream_buffer_bytes=32 * 1024,
    )
    gateway = GatewayThread(create_app(settings))
    yield gateway.url, scripted
    gateway.stop()
    core.stop()


def send_and_never_read(url: str, body: dict[str, object]) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: a small window
    sock.connect((host, int(port)))
    data = json.dumps(body).encode()
    head = (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    sock.sendall(head.encode() + data)
    return sock


def test_a_client_that_stops_reading_is_cut_off_and_its_turn_cancelled(slow_setup) -> None:
    url, scripted = slow_setup
    # About 48 MB of text: far more than the socket buffers on the way can hold.
    scripted.enqueue(["token " * 400] * PIECES, delay=0.0002)
    body = {
        "model": "scripted",
        "stream": True,
        "thread_id": "slow-1",
        "messages": [{"role": "user", "content": "hi"}],
    }
    sock = send_and_never_read(url, body)
    try:
        deadline = time.monotonic() + 20
        while not (scripted.calls and scripted.calls[-1].closed_at) and time.monotonic() < deadline:
            time.sleep(0.1)
        record = scripted.calls[-1]
        assert record.closed_at is not None, "the turn was not cancelled"
        assert record.produced < PIECES  # the model was stopped mid-reply
    finally:
        sock.close()
    thread = httpx.get(url + "/v1/threads/slow-1", timeout=10)
    assert thread.status_code == 404  # nothing of the cancelled turn was stored
