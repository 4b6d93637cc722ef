"""The SDK over several core replicas: targets, round_robin, client-side health checks, retries.

Real cores on loopback (CoreThread, each with its own replica id); only the model is scripted.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator

import pytest
from grpc_channelz.v1 import channelz, channelz_pb2

import chatrpc
from core.catalog import ModelCatalog, ModelSpec
from core.errors import BackendUnavailableError
from core.settings import Settings
from tests.fakes import ScriptedBackend
from tests.servers import CoreThread

REPLICAS = ("replica-a", "replica-b", "replica-c")


def scripted_catalog(ready: bool = True) -> ModelCatalog:
    catalog = ModelCatalog([ModelSpec(name="scripted", backend="scripted", context_window=4096)])
    if ready:
        catalog.attach("scripted", ScriptedBackend(echo=True))
    return catalog


@pytest.fixture
def cores() -> Iterator[list[CoreThread]]:
    started = [
        CoreThread(scripted_catalog(), settings=Settings(replica_id=name)) for name in REPLICAS
    ]
    yield started
    for core in started:
        core.stop()


def static_target(cores: list[CoreThread]) -> str:
    return ",".join(core.target for core in cores)


async def replicas_seen(client: chatrpc.AsyncClient, calls: int) -> Counter[str]:
    replies = [await client.chat("hi", model="scripted") for _ in range(calls)]
    return Counter(reply.replica for reply in replies)


async def until(condition, within: float) -> float:
    """Seconds until `await condition()` is true; fails after `within` seconds."""
    start = time.monotonic()
    while not await condition():
        assert time.monotonic() - start < within, f"not within {within} s"
        await asyncio.sleep(0.05)
    return time.monotonic() - start


@pytest.mark.parametrize(
    ("given", "target"),
    [
        ("127.0.0.1:50051", "127.0.0.1:50051"),
        ("dns:///core.internal:50051", "dns:///core.internal:50051"),
        ("10.0.0.5:50051, 10.0.0.6:50051", "ipv4:10.0.0.5:50051,10.0.0.6:50051"),
        ("[::1]:50051,[::1]:50052", "ipv6:[::1]:50051,[::1]:50052"),
        ("ipv4:127.0.0.1:1,127.0.0.1:2", "ipv4:127.0.0.1:1,127.0.0.1:2"),
    ],
)
def test_replica_target_spells_an_address_list_as_a_static_target(given, target) -> None:
    assert chatrpc.replica_target(given) == target


@pytest.mark.parametrize(
    "given", ["core-a:50051,core-b:50051", "127.0.0.1:50051,[::1]:50051", "10.0.0.5,10.0.0.6"]
)
def test_replica_target_refuses_host_names_mixed_families_and_missing_ports(given) -> None:
    with pytest.raises(ValueError, match=r"IP address with a port|all IPv4 or all IPv6"):
        chatrpc.replica_target(given)


def test_the_service_config_bounds_its_attempts() -> None:
    with pytest.raises(ValueError, match="between 2 and 5"):
        chatrpc.replica_service_config(max_attempts=6)


async def test_round_robin_spreads_calls_over_every_replica(cores) -> None:
    config = chatrpc.replica_service_config()
    async with chatrpc.AsyncClient(static_target(cores), service_config=config) as client:
        await until(lambda: _sees_all(client), within=5)
        seen = await replicas_seen(client, 30)
    assert set(seen) == set(REPLICAS)
    assert min(seen.values()) >= 8, seen


async def test_without_a_service_config_one_replica_serves_everything(cores) -> None:
    async with chatrpc.AsyncClient(static_target(cores)) as client:  # gRPC's pick_first
        seen = await replicas_seen(client, 12)
    assert len(seen) == 1


async def _sees_all(client: chatrpc.AsyncClient) -> bool:
    return set(await replicas_seen(client, 6)) == set(REPLICAS)


async def test_a_dns_target_with_the_service_config_reaches_the_replica(cores) -> None:
    target = f"dns:///localhost:{cores[0].core.port}"
    config = chatrpc.replica_service_config()
    async with chatrpc.AsyncClient(target, service_config=config) as client:
        reply = await client.chat("hi", model="scripted")
    assert (reply.content, reply.replica) == ("echo: hi", "replica-a")


async def test_a_not_serving_replica_leaves_the_rotation_within_2_s_and_returns(cores) -> None:
    config = chatrpc.replica_service_config()
    async with chatrpc.AsyncClient(static_target(cores), service_config=config) as client:
        await until(lambda: _sees_all(client), within=5)
        cores[1].run(cores[1].core.set_serving(False))

        async def avoided() -> bool:
            return "replica-b" not in await replicas_seen(client, 9)

        left = await until(avoided, within=2)
        assert "replica-b" not in await replicas_seen(client, 30)  # and stays out
        assert await client.health() == "SERVING"  # asked of a replica in the rotation
        cores[1].run(cores[1].core.set_serving(True))
        back = await until(lambda: _sees_all(client), within=5)
    print(f"NOT_SERVING replica out of rotation after {left:.2f} s, back after {back:.2f} s")


async def test_the_replica_is_named_in_stream_starts_and_by_the_sync_client(cores) -> None:
    async with chatrpc.AsyncClient(cores[2].target) as client:
        events = [event async for event in client.chat_stream("hi", model="scripted")]
    assert isinstance(events[0], chatrpc.StreamStart) and events[0].replica == "replica-c"
    with chatrpc.Client(cores[2].target) as sync:
        assert sync.chat("hi", model="scripted").replica == "replica-c"
        start = next(iter(sync.chat_stream("hi", model="scripted")))
        assert isinstance(start, chatrpc.StreamStart) and start.replica == "replica-c"


@pytest.fixture
def one_unready() -> Iterator[list[CoreThread]]:
    """Three replicas, the middle one SERVING but answering UNAVAILABLE (model not loaded)."""
    started = [
        CoreThread(scripted_catalog(ready=name != "replica-b"), settings=Settings(replica_id=name))
        for name in REPLICAS
    ]
    yield started
    for core in started:
        core.stop()


async def test_unavailable_before_the_first_message_is_retried_on_another_replica(
    one_unready,
) -> None:
    config = chatrpc.replica_service_config()
    async with chatrpc.AsyncClient(static_target(one_unready), service_config=config) as client:
        await until(lambda: _connected(client, 3), within=5)
        seen = await replicas_seen(client, 12)
        streamed = [[e async for e in client.chat_stream("hi", model="scripted")] for _ in range(6)]
    assert set(seen) == {"replica-a", "replica-c"} and sum(seen.values()) == 12
    assert {events[0].replica for events in streamed} == {"replica-a", "replica-c"}


async def test_without_the_retry_policy_the_unavailable_replica_fails_calls(one_unready) -> None:
    config = chatrpc.replica_service_config()
    del config["methodConfig"]  # round_robin and health checks only: the control
    async with chatrpc.AsyncClient(static_target(one_unready), service_config=config) as client:
        await until(lambda: _connected(client, 3), within=5)
        results = [await _chat_or_error(client) for _ in range(12)]
    assert any(isinstance(result, chatrpc.UnavailableError) for result in results)


async def _connected(client: chatrpc.AsyncClient, calls: int) -> bool:
    """True once `calls` health checks in a row succeed (every subchannel has connected)."""
    try:
        return all([await client.health(timeout=1) == "SERVING" for _ in range(calls)])
    except chatrpc.UnavailableError:
        return False


async def _chat_or_error(client: chatrpc.AsyncClient) -> object:
    try:
        return await client.chat("hi", model="scripted")
    except chatrpc.ChatServiceError as exc:
        return exc


async def test_an_unavailable_upstream_is_not_retried_on_another_replica(cores) -> None:
    """The turn may have run: the core says so (grpc-retry-pushback-ms: -1), gRPC obeys."""
    backends = [core.catalog.backend("scripted") for core in cores]
    for backend in backends:
        assert isinstance(backend, ScriptedBackend)
        backend.enqueue(["partial", "more"], fail_after=1, error=BackendUnavailableError("down"))
    config = chatrpc.replica_service_config()
    async with chatrpc.AsyncClient(static_target(cores), service_config=config) as client:
        with pytest.raises(chatrpc.UnavailableError):
            await client.chat("hi", model="scripted")
    assert sum(len(backend.calls) for backend in backends) == 1  # ScriptedBackend's records


def client_socket_ids(target: str) -> set[int]:
    """The ids of the connections (channelz sockets) this process's channels to `target` hold."""
    top = channelz.ChannelzServicer.GetTopChannels(channelz_pb2.GetTopChannelsRequest(), None)
    ids: set[int] = set()
    for channel in top.channel:
        if channel.data.target == target:
            for ref in channel.subchannel_ref:
                request = channelz_pb2.GetSubchannelRequest(subchannel_id=ref.subchannel_id)
                sub = channelz.ChannelzServicer.GetSubchannel(request, None).subchannel
                ids.update(socket.socket_id for socket in sub.socket_ref)
    return ids


async def test_an_aged_connection_is_replaced_without_failing_a_call() -> None:
    """CHATRPC_MAX_CONNECTION_AGE_SECONDS: GOAWAY, and the client connects (and resolves) anew."""
    settings = Settings(replica_id="aging", max_connection_age_seconds=1)
    core = CoreThread(scripted_catalog(), settings=settings)
    target = f"dns:///localhost:{core.core.port}"
    config = chatrpc.replica_service_config()
    seen: set[int] = set()
    try:
        async with chatrpc.AsyncClient(target, service_config=config) as client:
            deadline = time.monotonic() + 10
            while len(seen) < 2:
                assert time.monotonic() < deadline, "the connection was never replaced"
                reply = await client.chat("hi", model="scripted")  # none of them fails
                assert reply.replica == "aging"
                seen |= client_socket_ids(target)
                await asyncio.sleep(0.05)
    finally:
        core.stop()
