"""GET /, /health and /ready (the core's gRPC health through the SDK)."""

from __future__ import annotations

import httpx

from gateway.app import create_app
from gateway.settings import Settings
from tests.servers import GatewayThread


def test_service_info_lists_the_endpoints(gateway):
    info = httpx.get(gateway.url + "/").json()
    assert info["name"] == "chatrpc" and info["version"]
    assert "POST /v1/chat/completions" in info["endpoints"]


def test_liveness_and_readiness_with_a_serving_core(gateway):
    assert httpx.get(gateway.url + "/health").json() == {"status": "ok"}
    ready = httpx.get(gateway.url + "/ready")
    assert ready.status_code == 200 and ready.json()["core"] == "SERVING"


def test_readiness_is_503_while_the_core_is_down():
    server = GatewayThread(create_app(Settings(core_target="127.0.0.1:1", auth="disabled")))
    try:
        assert httpx.get(server.url + "/health").status_code == 200
        ready = httpx.get(server.url + "/ready", timeout=10)
        assert ready.status_code == 503
        assert ready.json()["error"]["type"] == "service_unavailable_error"
        assert ready.headers["retry-after"] == "1"
        chat = httpx.post(
            server.url + "/v1/chat/completions",
            json={"messages": [{"role": "user", "content": "x"}]},
            timeout=10,
        )
        assert chat.status_code == 503
    finally:
        server.stop()
