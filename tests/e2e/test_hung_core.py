"""A core process that stops answering (SIGSTOP): the gateway fails fast instead of hanging.

gRPC keepalive on the gateway → core channel finds the hung connection; then new requests
get 503 with retry-after, and a stream already under way ends with an SSE error event.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from gateway.app import create_app
from gateway.settings import Settings
from tests.core_process import running_core
from tests.servers import GatewayThread

KEEPALIVE, KEEPALIVE_TIMEOUT = 1.0, 1.0
FAST = KEEPALIVE + KEEPALIVE_TIMEOUT + 3  # "within a few seconds"

pytestmark = pytest.mark.e2e


@pytest.fixture
def core(tmp_path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    database_url = f"sqlite:///{tmp_path}/threads.db"
    with running_core(database_url, tmp_path / "core.log", "--pace", "0.2") as (target, proc):
        try:
            yield target, proc
        finally:
            proc.send_signal(signal.SIGCONT)  # a stopped process cannot take SIGTERM


@pytest.fixture
def gateway(core: tuple[str, subprocess.Popen[bytes]]) -> Iterator[GatewayThread]:
    settings = Settings(
        core_target=core[0],
        auth="disabled",
        core_keepalive=KEEPALIVE,
        core_keepalive_timeout=KEEPALIVE_TIMEOUT,
        sse_heartbeat=0,
    )
    server = GatewayThread(create_app(settings))
    yield server
    server.stop()


def turn(words: int, stream: bool = False) -> dict[str, object]:
    content = " ".join(["w"] * words)
    return {"messages": [{"role": "user", "content": content}], "stream": stream}


def test_a_stopped_core_fails_new_requests_with_503_and_ends_open_streams(
    core: tuple[str, subprocess.Popen[bytes]], gateway: GatewayThread
) -> None:
    url = gateway.url + "/v1/chat/completions"
    assert httpx.post(url, json=turn(1), timeout=10).status_code == 200
    with httpx.Client(timeout=30) as http, http.stream("POST", url, json=turn(100, True)) as open_:
        assert open_.status_code == 200
        lines = open_.iter_lines()
        assert next(line for line in lines if line.startswith("data: "))
        core[1].send_signal(signal.SIGSTOP)
        stopped = time.monotonic()
        with ThreadPoolExecutor(1) as pool:
            new = pool.submit(httpx.post, url, json=turn(1), timeout=30)
            rest = [line for line in lines if line.startswith("data: ")]
            ended = time.monotonic() - stopped
            refused = new.result()
            refused_after = time.monotonic() - stopped
    assert ended < FAST and "data: [DONE]" not in rest
    error = json.loads(rest[-1].removeprefix("data: "))["error"]
    assert error["type"] == "service_unavailable_error"
    assert refused.status_code == 503 and refused_after < FAST
    assert refused.headers["retry-after"] and refused.json()["error"]["code"] == "unavailable"
    assert "grpc" not in refused.text.lower()

    core[1].send_signal(signal.SIGCONT)  # and the gateway recovers on its own
    deadline = time.monotonic() + 15
    while httpx.post(url, json=turn(1), timeout=10).status_code != 200:
        assert time.monotonic() < deadline, "the gateway did not recover"
        time.sleep(0.2)
