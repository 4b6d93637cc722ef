"""Admin routes over HTTP: admin keys only (401/403), keys that work at once, a daily token
budget refused with 429 budget_exceeded, a spend report that adds up, and the OpenAPI
document without the admin routes unless asked."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace

import httpx
import openai
import pytest

from core.auth import KeyRing, digest
from core.settings import Settings as CoreSettings
from gateway.app import create_app
from gateway.settings import Settings
from tests.servers import CoreThread, GatewayThread

ADMIN, ALICE = "sk-admin-0123456789abcdef", "sk-alice-0123456789abcdef"


@pytest.fixture
def admin_gateway(catalog, sqlite_url) -> Iterator[GatewayThread]:
    core = CoreThread(
        catalog,
        database_url=sqlite_url,
        keys=KeyRing({"alice": digest(ALICE)}),
        settings=replace(CoreSettings(), admin_keys=f"ops={ADMIN}"),
    )
    gateway = GatewayThread(create_app(Settings(core_target=core.target, admin_routes=True)))
    yield gateway
    gateway.stop()
    core.stop()


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def test_admin_routes_refuse_callers_without_an_admin_key(admin_gateway):
    url = f"{admin_gateway.url}/v1/admin/keys"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers=bearer("sk-wrong-0123456789")).status_code == 401
    refused = httpx.get(url, headers=bearer(ALICE))
    assert refused.status_code == 403
    assert refused.json()["error"]["type"] == "permission_error"
    assert httpx.get(url, headers=bearer(ADMIN)).json() == {"object": "list", "data": []}


def test_a_budgeted_key_is_refused_with_budget_exceeded_and_its_spend_adds_up(
    admin_gateway, scripted
):
    scripted.echo = True
    created = httpx.post(
        f"{admin_gateway.url}/v1/admin/keys",
        headers=bearer(ADMIN),
        json={"name": "team-a", "tokens_per_day": 500},
    )
    assert created.status_code == 201
    secret = created.json()["secret"]
    client = openai.OpenAI(base_url=f"{admin_gateway.url}/v1", api_key=secret, max_retries=0)
    reported: list[int] = []
    refused = None
    for _ in range(100):
        try:
            reply = client.chat.completions.create(
                model="scripted", messages=[{"role": "user", "content": "count these words " * 8}]
            )
        except openai.RateLimitError as exc:
            refused = exc
            break
        assert reply.usage is not None
        reported.append(reply.usage.total_tokens)
    assert refused is not None
    error = refused.body
    assert isinstance(error, dict)
    assert error["code"] == "budget_exceeded" and "tokens_per_day" in error["message"]
    assert sum(reported[:-1]) < 500 <= sum(reported)
    url = f"{admin_gateway.url}/v1/admin/keys/team-a/spend"
    for _ in range(100):  # each reply's spend is written just after it
        spend = httpx.get(url, headers=bearer(ADMIN)).json()
        if spend["tokens_today"] == sum(reported):
            break
        time.sleep(0.02)
    assert spend["tokens_today"] == sum(reported)
    own = httpx.get(f"{admin_gateway.url}/v1/spend", headers=bearer(secret)).json()
    assert own["tokens_today"] == sum(reported) and own["rows"] == spend["rows"]
    assert sum(r["prompt_tokens"] + r["completion_tokens"] for r in spend["rows"]) == sum(reported)
    revoked = httpx.post(f"{admin_gateway.url}/v1/admin/keys/team-a/revoke", headers=bearer(ADMIN))
    assert revoked.json()["revoked"] > 0
    with pytest.raises(openai.AuthenticationError):
        client.models.list()


def test_admin_routes_are_absent_from_the_openapi_document_unless_enabled():
    def paths(settings: Settings) -> set[str]:
        return set(create_app(settings).openapi()["paths"])

    assert not any(p.startswith("/v1/admin") for p in paths(Settings()))
    assert not any(p.startswith("/v1/admin") for p in paths(Settings(admin_routes=True)))
    listed = paths(Settings(admin_routes=True, admin_in_openapi=True))
    assert "/v1/admin/keys" in listed and "/v1/chat/completions" in listed
