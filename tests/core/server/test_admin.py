"""Virtual keys through AdminService, on two core replicas sharing one PostgreSQL database:
seen everywhere within 2 s, rotated with a grace period, revoked everywhere, never stored in
clear; budgets refuse with BUDGET_EXCEEDED and spend adds up to the usage turns reported."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import replace

import grpc
import pytest

import chatrpc
from chatrpc.v1 import admin_service_pb2 as apb, admin_service_pb2_grpc as apb_grpc
from core.auth import KeyRing
from core.catalog import ModelCatalog
from core.settings import Settings
from tests import pg
from tests.servers import CoreThread

pytestmark = pytest.mark.postgres

ADMIN = "sk-admin-0123456789abcdef"
SETTINGS = replace(Settings(), admin_keys=f"ops={ADMIN}", key_refresh_seconds=0.5)


@pytest.fixture
def replicas(catalog: ModelCatalog, clean_postgres_url: str) -> Iterator[list[CoreThread]]:
    cores = [
        CoreThread(
            catalog,
            database_url=clean_postgres_url,
            keys=KeyRing({}, required=True),
            settings=SETTINGS,
        )
        for _ in range(2)
    ]
    yield cores
    for core in cores:
        core.stop()


def admin(core: CoreThread, key: str = ADMIN) -> tuple[apb_grpc.AdminServiceStub, tuple]:
    channel = grpc.insecure_channel(core.target)
    return apb_grpc.AdminServiceStub(channel), (("authorization", f"Bearer {key}"),)


def within(seconds: float, check: Callable[[], bool]) -> float:
    """How long `check` took to hold (polled), failing after `seconds`."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < seconds, "not within the time allowed"
        time.sleep(0.05)
    return time.monotonic() - started


def works(core: CoreThread, secret: str) -> bool:
    try:
        with chatrpc.Client(core.target, api_key=secret) as client:
            client.chat("hi", model="scripted")
        return True
    except chatrpc.AuthenticationError:
        return False


def test_a_key_is_seen_rotated_and_revoked_on_every_replica_within_two_seconds(
    replicas, scripted, clean_postgres_url
):
    scripted.echo = True
    a, b = replicas
    stub, auth = admin(a)
    created = stub.CreateKey(
        apb.CreateKeyRequest(key=apb.VirtualKey(name="team-a", requests_per_minute=100)),
        metadata=auth,
    )
    assert created.secret.startswith("sk-cr-") and created.key.owner == "team-a"
    assert works(a, created.secret)  # at once on the replica that made it
    assert within(2.0, lambda: works(b, created.secret)) < 2.0

    rotated = stub.RotateKey(apb.RotateKeyRequest(name="team-a", grace_seconds=3), metadata=auth)
    within(2.0, lambda: works(b, rotated.secret))
    assert works(a, created.secret) and works(b, created.secret)  # both during the grace
    within(5.0, lambda: not works(b, created.secret))
    assert works(a, rotated.secret) and not works(a, created.secret)  # only the new after

    stub.RevokeKey(apb.RevokeKeyRequest(name="team-a"), metadata=auth)
    assert not works(a, rotated.secret)
    assert within(2.0, lambda: not works(b, rotated.secret)) < 2.0
    listed = stub.ListKeys(apb.ListKeysRequest(), metadata=auth).keys
    assert [k.name for k in listed] == ["team-a"] and listed[0].HasField("revoke_time")

    dump = subprocess.run(
        [pg.tool("pg_dump"), "--data-only", clean_postgres_url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "team-a" in dump  # the dump is the keys table's
    for secret in (created.secret, rotated.secret):
        assert secret not in dump and secret.removeprefix("sk-cr-") not in dump


def test_admin_calls_refuse_missing_and_non_admin_keys(replicas, scripted):
    a, _ = replicas
    stub, auth = admin(a)
    user = stub.CreateKey(apb.CreateKeyRequest(key=apb.VirtualKey(name="u")), metadata=auth)
    for key, code in (
        ("sk-nobody-0123456789", grpc.StatusCode.UNAUTHENTICATED),
        (user.secret, grpc.StatusCode.PERMISSION_DENIED),
    ):
        bad_stub, bad_auth = admin(a, key)
        with pytest.raises(grpc.RpcError) as caught:
            bad_stub.ListKeys(apb.ListKeysRequest(), metadata=bad_auth)
        assert caught.value.code() == code
    with pytest.raises(grpc.RpcError) as caught:
        stub.ListKeys(apb.ListKeysRequest())
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_a_daily_token_budget_refuses_once_spent_and_spend_adds_up(replicas, scripted):
    scripted.echo = True
    a, b = replicas
    stub, auth = admin(a)
    key = apb.VirtualKey(name="budgeted", tokens_per_day=500, models=["scripted"])
    secret = stub.CreateKey(apb.CreateKeyRequest(key=key), metadata=auth).secret
    reported: list[int] = []

    def probe() -> bool:  # b's first accepted turn counts against the budget like the rest
        try:
            with chatrpc.Client(b.target, api_key=secret) as client:
                reported.append(client.chat("hi", model="scripted").usage.total_tokens)
            return True
        except chatrpc.AuthenticationError:
            return False

    within(2.0, probe)
    refused = None
    for i in range(200):
        client = chatrpc.Client((a if i % 2 else b).target, api_key=secret)
        try:
            if i % 3:
                reply = client.chat("a few words to count " * 5, model="scripted")
                reported.append(reply.usage.total_tokens)
            else:
                events = list(client.chat_stream("streamed words " * 5, model="scripted"))
                reported.append(events[-1].total_tokens)
        except chatrpc.RateLimitError as exc:
            refused = exc
            break
        finally:
            client.close()
    assert refused is not None and refused.reason == "BUDGET_EXCEEDED"
    assert refused.metadata["budget"] == "tokens_per_day" and refused.metadata["resets_at"]
    # Spend is written just after each reply: the other replica may admit one more turn
    # before it sees the last one (this replica counts its own pending writes).
    assert sum(reported[:-2]) < 500 <= sum(reported)

    def report() -> apb.GetSpendResponse:
        return stub.GetSpend(apb.GetSpendRequest(name="budgeted"), metadata=auth)

    within(2.0, lambda: report().tokens_today == sum(reported))
    spend = report()
    assert sum(r.prompt_tokens + r.completion_tokens for r in spend.rows) == sum(reported)
    assert {r.model for r in spend.rows} == {"scripted"}
    with (
        chatrpc.Client(a.target, api_key=secret) as client,
        pytest.raises(chatrpc.PermissionDeniedError),
    ):
        client.chat("hi", model="embedded")  # not in the key's models
