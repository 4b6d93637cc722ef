"""TLS at both ends of the gateway: HTTPS toward clients (uvicorn's ssl options) and mutual
TLS toward the core, with certificates from a CA made for the test."""

from __future__ import annotations

import ssl

import httpx
import openai
import pytest

from core.settings import Settings as CoreSettings
from gateway.app import create_app
from gateway.http.connections import uvicorn_options
from gateway.settings import CoreTls, Settings
from tests.certs import Authority, make_authority
from tests.servers import CoreThread, GatewayThread


def mtls_core(catalog, ca: Authority) -> CoreThread:
    """A core that requires client certificates signed by `ca`."""
    return CoreThread(
        catalog,
        settings=CoreSettings(
            tls_cert_file=str(ca.server.cert),
            tls_key_file=str(ca.server.key),
            tls_client_ca_file=str(ca.ca),
        ),
    )


def test_the_openai_sdk_talks_https_to_a_gateway_on_mtls_to_the_core(catalog, tmp_path):
    ca = make_authority(tmp_path)
    core = mtls_core(catalog, ca)
    settings = Settings(
        core_target=core.target,
        auth="disabled",
        core_tls=CoreTls(
            enabled=True,
            ca_file=str(ca.ca),
            cert_file=str(ca.client.cert),
            key_file=str(ca.client.key),
        ),
        ssl_certfile=str(ca.server.cert),
        ssl_keyfile=str(ca.server.key),
    )
    gateway = GatewayThread(create_app(settings), **uvicorn_options(settings))
    try:
        assert gateway.url.startswith("https://")
        with (
            httpx.Client(verify=ssl.create_default_context(cafile=ca.ca)) as http,
            openai.OpenAI(base_url=gateway.url + "/v1", api_key="k", http_client=http) as client,
        ):
            reply = client.chat.completions.create(
                model="scripted", messages=[{"role": "user", "content": "hi"}]
            )
        assert reply.choices[0].message.content == "ok"
        with pytest.raises(httpx.ConnectError):  # a client that does not trust the CA
            httpx.get(gateway.url + "/health")
    finally:
        gateway.stop()
        core.stop()


def test_a_gateway_without_the_client_certificate_gets_503_from_an_mtls_core(catalog, tmp_path):
    ca = make_authority(tmp_path)
    core = mtls_core(catalog, ca)
    settings = Settings(
        core_target=core.target, auth="disabled", core_tls=CoreTls(enabled=True, ca_file=str(ca.ca))
    )
    gateway = GatewayThread(create_app(settings))
    try:
        body = {"model": "scripted", "messages": [{"role": "user", "content": "hi"}]}
        response = httpx.post(gateway.url + "/v1/chat/completions", json=body, timeout=30)
    finally:
        gateway.stop()
        core.stop()
    assert response.status_code == 503
    assert response.json()["error"]["type"] == "service_unavailable_error"
