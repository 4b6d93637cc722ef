"""Connection hygiene (gateway/http/connections.py) on a real uvicorn, over raw sockets."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from dataclasses import replace

import openai
import pytest
from prometheus_client import REGISTRY

from gateway.app import create_app
from gateway.http.connections import uvicorn_options
from gateway.settings import ConnectionLimits, Settings
from tests.servers import CoreThread, GatewayThread

LIMITS = ConnectionLimits(
    idle_timeout=0.5,
    header_timeout=0.8,
    body_timeout=0.8,
    max_header_bytes=8 * 1024,
    max_headers=20,
    max_connections=4,
)
GET = b"GET /health HTTP/1.1\r\nHost: t\r\n\r\n"


def start(core: CoreThread, limits: ConnectionLimits = LIMITS) -> GatewayThread:
    settings = Settings(core_target=core.target, auth="disabled", connections=limits)
    return GatewayThread(create_app(settings), **uvicorn_options(settings))


@pytest.fixture
def guarded(core_server: CoreThread) -> Iterator[GatewayThread]:
    server = start(core_server)
    yield server
    server.stop()


def connect(server: GatewayThread) -> socket.socket:
    port = int(server.url.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    return sock


def read_all(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def response(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


def refused(raw: bytes, status: int, code: str) -> dict[str, str]:
    got, headers, body = response(raw)
    assert got == status, raw[:200]
    error = json.loads(body)["error"]
    assert error["code"] == code and error["message"]
    assert headers["connection"] == "close"
    return headers


def test_idle_new_connection_is_closed_after_the_idle_timeout(guarded: GatewayThread) -> None:
    with connect(guarded) as sock:
        started = time.monotonic()
        assert read_all(sock) == b""
        assert LIMITS.idle_timeout - 0.1 < time.monotonic() - started < LIMITS.idle_timeout + 1


def test_idle_kept_alive_connection_is_closed_after_the_idle_timeout(
    guarded: GatewayThread,
) -> None:
    with connect(guarded) as sock:
        for _ in range(2):  # keep-alive still serves several requests
            sock.sendall(GET)
            assert sock.recv(65536).startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        assert read_all(sock) == b""
        assert time.monotonic() - started < LIMITS.idle_timeout + 1


def test_headers_at_one_byte_a_tick_get_408_within_the_header_timeout(
    guarded: GatewayThread,
) -> None:
    with connect(guarded) as sock:
        started = time.monotonic()
        sock.settimeout(0.1)
        answer = b""
        for byte in GET * 10:  # far more than fits in the timeout at 10 bytes/s
            try:
                sock.send(bytes([byte]))
                answer = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if answer:
                break
        elapsed = time.monotonic() - started
        sock.settimeout(5)
        answer += read_all(sock)
    refused(answer, 408, "request_timeout")
    assert LIMITS.header_timeout - 0.1 < elapsed < LIMITS.header_timeout + 1


def test_a_trickled_body_gets_408_within_the_body_timeout(
    guarded: GatewayThread, caplog: pytest.LogCaptureFixture
) -> None:
    with connect(guarded) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
        )
        started = time.monotonic()
        answer = read_all(sock)
        elapsed = time.monotonic() - started
    refused(answer, 408, "request_timeout")
    assert LIMITS.body_timeout - 0.1 < elapsed < LIMITS.body_timeout + 1
    time.sleep(0.1)  # the route sees the disconnect after the close
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_a_large_head_sent_in_one_write_gets_431(guarded: GatewayThread) -> None:
    with connect(guarded) as sock:
        big = b"X-Big: " + b"a" * 120_000 + b"\r\n"
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n" + big + b"\r\n")
        refused(read_all(sock), 431, "request_header_fields_too_large")


def test_an_unfinished_large_head_gets_431_before_it_ends(guarded: GatewayThread) -> None:
    with connect(guarded) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\nX-Big: ")
        for _ in range(3):  # half the limit each, no end of line: over it after the third
            sock.sendall(b"a" * (LIMITS.max_header_bytes // 2))
            time.sleep(0.1)
        refused(read_all(sock), 431, "request_header_fields_too_large")


def test_too_many_header_fields_get_431(guarded: GatewayThread) -> None:
    fields = b"".join(b"X-%d: v\r\n" % i for i in range(LIMITS.max_headers + 1))
    with connect(guarded) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\n" + fields + b"\r\n")
        refused(read_all(sock), 431, "request_header_fields_too_large")


@pytest.mark.parametrize(
    "head",
    [
        b"GET /health HTTP/1.1\r\nHost: t\r\nX-A: one\nX-B: two\r\n\r\n",  # bare LF in a value
        b"GET /health HTTP/1.1\nHost: t\n\n",  # LF-only lines
        b"GET /health HTTP/1.1\r\nHost: t\r\nX-A: one\rtwo\r\n\r\n",  # bare CR
        b"GET /health HTTP/1.1\r\nHost: t\r\nX-A: one\x00two\r\n\r\n",  # NUL
        b"GET /health HTTP/1.1\r\nHost: t\r\nX-A: one\r\n two\r\n\r\n",  # obs-fold
    ],
)
def test_malformed_heads_get_400(guarded: GatewayThread, head: bytes) -> None:
    with connect(guarded) as sock:
        sock.sendall(head)
        refused(read_all(sock), 400, "invalid_http")


def room_comes_back(server: GatewayThread, held: list[socket.socket]) -> None:
    """Once one of the `held` connections closes, a new one is served."""
    held.pop().close()
    time.sleep(0.1)
    with connect(server) as sock:
        sock.sendall(GET)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200")


def test_connections_over_the_cap_get_503_at_once_and_room_comes_back(
    guarded: GatewayThread,
) -> None:
    held = [connect(guarded) for _ in range(LIMITS.max_connections)]
    try:
        with connect(guarded) as extra:
            started = time.monotonic()
            headers = refused(read_all(extra), 503, "too_many_connections")
            assert headers["retry-after"] == "1" and time.monotonic() - started < 0.5
        room_comes_back(guarded, held)
    finally:
        for sock in held:
            sock.close()


def test_openai_sdk_streams_through_the_guarded_protocol(core_server: CoreThread) -> None:
    server = start(core_server, replace(LIMITS, body_timeout=0.3))
    try:
        with openai.OpenAI(base_url=server.url + "/v1", api_key="k", max_retries=0) as client:
            reply = client.chat.completions.create(
                model="scripted", messages=[{"role": "user", "content": "hi"}]
            )
            chunks = list(
                client.chat.completions.create(
                    model="scripted", messages=[{"role": "user", "content": "hi"}], stream=True
                )
            )
        assert reply.choices[0].message.content == "ok"
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "ok"
    finally:
        server.stop()


def test_connections_over_the_per_client_cap_get_503(core_server: CoreThread) -> None:
    server = start(core_server, replace(LIMITS, max_connections=100, max_connections_per_client=2))
    held = [connect(server) for _ in range(2)]
    try:
        with connect(server) as extra:
            refused(read_all(extra), 503, "too_many_connections")
        room_comes_back(server, held)
    finally:
        for sock in held:
            sock.close()
        server.stop()


def refusals(reason: str) -> float:
    return (
        REGISTRY.get_sample_value("chatrpc_refusals_total", {"face": "http", "reason": reason})
        or 0.0
    )


def test_refused_connections_are_counted_by_reason(guarded: GatewayThread) -> None:
    before = refusals("connection"), refusals("shedding")
    with connect(guarded) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\nX-A: one\nX-B: two\r\n\r\n")
        refused(read_all(sock), 400, "invalid_http")
    with connect(guarded) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 120_000 + b"\r\n\r\n")
        refused(read_all(sock), 431, "request_header_fields_too_large")
    held = [connect(guarded) for _ in range(LIMITS.max_connections)]
    try:
        with connect(guarded) as extra:
            refused(read_all(extra), 503, "too_many_connections")
    finally:
        for sock in held:
            sock.close()
    assert (refusals("connection"), refusals("shedding")) == (before[0] + 2, before[1] + 1)
