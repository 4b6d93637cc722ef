"""The core over TLS and mutual TLS (certificates from a CA made for the test), called by
the SDK with its TLS arguments or ready channel credentials."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest

import chatrpc
from core.catalog import ModelCatalog
from core.errors import ConfigError
from core.settings import Settings
from tests.certs import Authority, make_authority
from tests.servers import CoreThread


@pytest.fixture(scope="module")
def authority(tmp_path_factory: pytest.TempPathFactory) -> Authority:
    return make_authority(tmp_path_factory.mktemp("ca"))


def tls_core(catalog: ModelCatalog, authority: Authority, *, mutual: bool) -> CoreThread:
    return CoreThread(
        catalog,
        settings=Settings(
            tls_cert_file=str(authority.server.cert),
            tls_key_file=str(authority.server.key),
            tls_client_ca_file=str(authority.ca) if mutual else "",
        ),
    )


@pytest.fixture
def tls(catalog: ModelCatalog, authority: Authority) -> Iterator[CoreThread]:
    server = tls_core(catalog, authority, mutual=False)
    yield server
    server.stop()


@pytest.fixture
def mtls(catalog: ModelCatalog, authority: Authority) -> Iterator[CoreThread]:
    server = tls_core(catalog, authority, mutual=True)
    yield server
    server.stop()


def test_a_tls_core_answers_a_client_that_trusts_its_ca(tls, authority):
    with chatrpc.Client(tls.target, root_certificates=authority.ca.read_bytes()) as client:
        assert client.chat("hi", model="scripted").content == "ok"


def test_a_tls_core_refuses_plaintext_and_an_unknown_ca(tls, tmp_path):
    other = make_authority(tmp_path, "another CA")
    for client in (
        chatrpc.Client(tls.target),
        chatrpc.Client(tls.target, root_certificates=other.ca.read_bytes()),
    ):
        with client, pytest.raises(chatrpc.UnavailableError):
            client.chat("hi", model="scripted", timeout=5)


def test_an_mtls_core_refuses_a_client_without_a_certificate(mtls, authority):
    ca = authority.ca.read_bytes()
    with (
        chatrpc.Client(mtls.target, root_certificates=ca) as client,
        pytest.raises(chatrpc.UnavailableError),
    ):
        client.chat("hi", model="scripted", timeout=5)


def test_an_mtls_core_answers_a_client_with_its_certificate(mtls, authority):
    pem = {
        "root_certificates": authority.ca.read_bytes(),
        "certificate_chain": authority.client.cert.read_bytes(),
        "private_key": authority.client.key.read_bytes(),
    }
    with chatrpc.Client(mtls.target, **pem) as client:
        assert client.chat("hi", model="scripted").content == "ok"


async def test_the_async_client_takes_ready_channel_credentials(mtls, authority):
    credentials = grpc.ssl_channel_credentials(
        authority.ca.read_bytes(),
        authority.client.key.read_bytes(),
        authority.client.cert.read_bytes(),
    )
    async with chatrpc.AsyncClient(mtls.target, credentials=credentials) as client:
        assert (await client.chat("hi", model="scripted")).content == "ok"


def test_a_certificate_without_its_key_is_a_config_error(catalog, authority):
    with pytest.raises(ConfigError, match="CHATRPC_TLS_KEY_FILE"):
        CoreThread(catalog, settings=Settings(tls_cert_file=str(authority.server.cert)))
