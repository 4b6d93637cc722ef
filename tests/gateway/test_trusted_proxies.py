"""CHATRPC_GATEWAY_TRUSTED_PROXIES: behind a trusted proxy the client is the right-most
X-Forwarded-For entry that is not a trusted proxy, so one client's bad keys throttle that
client only; addresses a client writes on the left never count, and the header from an
untrusted peer is ignored. Real core and gateway on 127.0.0.1; the "proxy" is a client bound
to 127.0.0.2, an attacker without a proxy one bound to 127.0.0.3."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core.auth import digest, load_keyring
from gateway.app import create_app
from gateway.settings import Settings
from tests.servers import CoreThread, GatewayThread

ALICE = "sk-alice-0123456789abcdef"
GUESS = "sk-guess-0123456789abcdef"
BODY = {"model": "scripted", "messages": [{"role": "user", "content": "hi"}]}
PROXY, OUTSIDER = "127.0.0.2", "127.0.0.3"


@pytest.fixture
def gateway_url(catalog, tmp_path: Path) -> Iterator[str]:
    keys = tmp_path / "keys.toml"
    keys.write_text(f'[keys.alice]\nsha256 = "{digest(ALICE)}"\n')
    core = CoreThread(catalog, keys=load_keyring("required", str(keys), ""))
    settings = Settings(
        core_target=core.target, bad_keys_per_minute=20, trusted_proxies=(PROXY, "10.9.0.0/16")
    )
    gateway = GatewayThread(create_app(settings))
    yield gateway.url
    gateway.stop()
    core.stop()


def ask(url: str, peer: str, key: str, forwarded: str | None = None) -> int:
    headers = {"authorization": f"Bearer {key}"}
    if forwarded is not None:
        headers["x-forwarded-for"] = forwarded
    transport = httpx.HTTPTransport(local_address=peer)
    with httpx.Client(transport=transport, timeout=30) as client:
        return client.post(url + "/v1/chat/completions", json=BODY, headers=headers).status_code


def test_behind_a_trusted_proxy_one_clients_bad_keys_throttle_that_client_only(
    gateway_url: str,
) -> None:
    # The attacker writes a new address on the left each time; the proxy appends the real one
    # (203.0.113.9), and a second trusted proxy hop (10.9.0.4, in the trusted CIDR) follows.
    codes = [
        ask(gateway_url, PROXY, GUESS, f"198.18.0.{i}, 203.0.113.9, 10.9.0.4") for i in range(30)
    ]
    assert codes[:20] == [401] * 20
    assert set(codes[20:]) == {429}  # throttled: spoofed left-hand entries did not help
    assert ask(gateway_url, PROXY, ALICE, "203.0.113.9") == 429  # that client, this minute
    assert ask(gateway_url, PROXY, ALICE, "198.51.100.2, 10.9.0.4") == 200  # another client
    assert ask(gateway_url, PROXY, ALICE, "198.51.100.2") == 200


def test_an_untrusted_peer_cannot_pick_its_address(gateway_url: str) -> None:
    codes = [ask(gateway_url, OUTSIDER, GUESS, f"198.18.1.{i}") for i in range(21)]
    assert codes[:20] == [401] * 20 and codes[20] == 429  # keyed on the peer, not the header
    assert ask(gateway_url, PROXY, ALICE, "198.51.100.2") == 200  # clients behind the proxy
