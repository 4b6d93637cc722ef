"""One gateway over three core processes on one PostgreSQL; one replica is SIGKILLed mid-load.

Traffic is the official openai SDK's, every other turn streamed, through the gateway's
round_robin channel (a static list of the three addresses, health-checked, retrying UNAVAILABLE
before the first reply message). Every turn carries an Idempotency-Key; a 503, or a stream
that ends in an error event, is retried by the client with the same key. Whether calls still
reach the dead replica is read from channelz (calls started on its subchannel). The figures
the test prints are the ones docs/operations/scaling.md quotes.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import openai
import pytest
from grpc_channelz.v1 import channelz, channelz_pb2

import chatrpc
from gateway.app import create_app
from gateway.settings import Settings
from tests.core_process import wait_serving
from tests.e2e.test_core_process import free_port
from tests.servers import GatewayThread

ROOT = Path(__file__).resolve().parents[2]
THREADS, TURNS = 30, 10  # the balanced phase: 300 turns
IN_FLIGHT = 12
DELAY = 0.02  # seconds the scripted model takes per reply, so that turns are in flight
SLOW = 1.5  # seconds it takes for a message that starts with "slow"
HEADER = "x-chatrpc-replica"

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]


@dataclass
class Replica:
    """A core child process (tests/core_process.py) that can be killed and started again."""

    name: str
    port: int
    database_url: str
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", "tests.core_process", "--port", str(self.port)]
        command += ["--database-url", self.database_url, "--replica-id", self.name]
        command += ["--delay", str(DELAY), "--slow-delay", str(SLOW)]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                command, cwd=ROOT, env=os.environ.copy(), stdout=log, stderr=subprocess.STDOUT
            )

    def wait_serving(self, timeout: float = 30) -> None:
        wait_serving(f"127.0.0.1:{self.port}", timeout, self.name)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture
def replicas(clean_postgres_url: str, tmp_path) -> Iterator[list[Replica]]:
    started = [
        Replica(f"replica-{i}", free_port(), clean_postgres_url, tmp_path / f"replica-{i}.log")
        for i in range(3)
    ]
    try:
        for replica in started:
            replica.start()
        for replica in started:
            replica.wait_serving()
        yield started
    finally:
        for replica in started:
            replica.stop()


def gateway_target(replicas: list[Replica]) -> str:
    return chatrpc.replica_target(",".join(f"127.0.0.1:{r.port}" for r in replicas))


@pytest.fixture
def gateway(replicas: list[Replica]) -> Iterator[GatewayThread]:
    settings = Settings(core_target=gateway_target(replicas), auth="disabled")
    server = GatewayThread(create_app(settings))
    yield server
    server.stop()


@dataclass
class Load:
    """Turns sent through the gateway: who served each, and every 503 a client retried."""

    client: openai.AsyncOpenAI
    prefix: str
    slots: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(IN_FLIGHT))
    turns: dict[int, int] = field(default_factory=Counter)  # thread -> turns completed
    texts: dict[int, list[str]] = field(default_factory=dict)  # thread -> its turns' messages
    served: list[tuple[float, str]] = field(default_factory=list)  # (sent at, replica)
    failed: list[float] = field(default_factory=list)  # when each 503 or broken stream was sent
    retried_ok: int = 0

    async def turn(self, thread: int, slow: bool = False) -> str:
        """One turn (streamed if `slow` or odd), retried on a clean failure with its key."""
        k = self.turns[thread]
        text, key = f"{'slow ' if slow else ''}t{thread}-k{k}", f"{self.prefix}-{thread}-{k}"
        headers = {"x-thread-id": f"{self.prefix}-{thread}", "idempotency-key": key}
        async with self.slots:
            for attempt in range(5):
                sent = time.monotonic()
                try:
                    content, replica = await self._send(text, headers, slow or k % 2 == 1)
                except openai.APIError as exc:
                    check_clean_failure(exc)
                    self.failed.append(sent)
                    await asyncio.sleep(0.05)  # then the client's retry, with the same key
                    continue
                assert content == f"echo: {text}"
                self.retried_ok += attempt > 0
                self.served.append((sent, replica))
                self.turns[thread] += 1
                self.texts.setdefault(thread, []).append(text)
                return replica
        raise AssertionError(f"turn {key} failed five times")

    async def _send(self, text: str, headers: dict[str, str], stream: bool) -> tuple[str, str]:
        raw = await self.client.chat.completions.with_raw_response.create(
            model="scripted",
            messages=[{"role": "user", "content": text}],
            extra_headers=headers,
            stream=stream,
        )
        if not stream:
            return raw.parse().choices[0].message.content or "", raw.headers[HEADER]
        parts = [c.choices[0].delta.content or "" async for c in raw.parse() if c.choices]
        return "".join(parts), raw.headers[HEADER]

    async def threads(self, turns: int) -> None:
        async def run(thread: int) -> None:
            for _ in range(turns):
                await self.turn(thread)

        await asyncio.gather(*(run(t) for t in range(THREADS)))

    async def until(self, stop: float) -> None:
        """Every thread keeps taking turns until monotonic time `stop`."""

        async def run(thread: int) -> None:
            while time.monotonic() < stop:
                await self.turn(thread)

        await asyncio.gather(*(run(t) for t in range(THREADS)))


def check_clean_failure(error: openai.APIError) -> None:
    """A 503 with retry-after, or (after the first token) an in-stream unavailable error."""
    if isinstance(error, openai.APIStatusError):
        assert error.status_code == 503, error
        assert error.response.headers.get("retry-after") == "1"
    else:
        assert isinstance(error.body, dict), error
        assert error.body.get("type") == "service_unavailable_error", error.body


def calls_started(channel_target: str, address: str) -> int:
    """Calls started on the subchannels to `address` of this process's channel to
    `channel_target` (the gateway's), from channelz."""
    top = channelz.ChannelzServicer.GetTopChannels(channelz_pb2.GetTopChannelsRequest(), None)
    total = 0
    for channel in top.channel:
        if channel.data.target != channel_target:
            continue
        for ref in channel.subchannel_ref:
            request = channelz_pb2.GetSubchannelRequest(subchannel_id=ref.subchannel_id)
            sub = channelz.ChannelzServicer.GetSubchannel(request, None).subchannel
            if sub.data.target.endswith(address):
                total += sub.data.calls_started
    return total


async def last_call_started(channel_target: str, address: str, stop: float) -> float:
    """Polls channelz until `stop`; returns when the calls on `address` last went up."""
    seen, changed = calls_started(channel_target, address), time.monotonic()
    while time.monotonic() < stop:
        await asyncio.sleep(0.02)
        now = calls_started(channel_target, address)
        if now != seen:
            seen, changed = now, time.monotonic()
    return changed


async def ledger(load: Load, target: str) -> tuple[int, int, int]:
    """(lost, duplicated, out of order) over every thread's stored messages."""
    lost = duplicated = out_of_order = 0
    async with chatrpc.AsyncClient(target) as client:
        for t, texts in load.texts.items():
            thread = await client.get_thread(f"{load.prefix}-{t}")
            got = [m.message.content for m in thread.messages]
            want = [part for text in texts for part in (text, f"echo: {text}")]
            lost += len(set(want) - set(got))
            duplicated += len(got) - len(set(got))
            out_of_order += int(got != want and set(got) == set(want))
            assert [m.seq for m in thread.messages] == list(range(len(got)))
    return lost, duplicated, out_of_order


async def test_a_replica_killed_mid_load_loses_no_turn_and_rejoins(replicas, gateway) -> None:
    async with openai.AsyncOpenAI(
        base_url=gateway.url + "/v1", api_key="unused", max_retries=0, timeout=30
    ) as client:
        load = Load(client, f"failover-{time.time_ns()}")

        # 1. 300 turns over 30 threads, spread over the three replicas.
        started = time.monotonic()
        await load.threads(TURNS)
        balanced = Counter(replica for _, replica in load.served)
        took = time.monotonic() - started
        assert sum(balanced.values()) == THREADS * TURNS
        assert set(balanced) == {r.name for r in replicas}
        assert min(balanced.values()) >= 0.2 * THREADS * TURNS, balanced

        # 2. Six slow streamed turns, two per replica (round_robin, nothing else is sent), are
        # generating when the load resumes and replica-1 is SIGKILLed; 3 s later it stops.
        victim = replicas[1]
        channel_target, address = gateway_target(replicas), f"127.0.0.1:{victim.port}"
        assert calls_started(channel_target, address) >= balanced[victim.name]
        slow = []
        for t in range(THREADS, THREADS + 6):
            slow.append(asyncio.create_task(load.turn(t, slow=True)))
            await asyncio.sleep(0.03)
        kill_at = time.monotonic() + 0.5
        running = asyncio.create_task(load.until(kill_at + 3.0))
        watch = asyncio.create_task(last_call_started(channel_target, address, kill_at + 3.0))
        await asyncio.sleep(max(0.0, kill_at - time.monotonic()))
        served_before = len(load.served)
        victim.kill()
        killed = time.monotonic()
        await running
        await asyncio.gather(*slow)
        cut = len([sent for sent in load.failed if sent < killed])
        assert cut >= 2, load.failed  # the victim's slow turns, at least: 503, then retried
        assert load.retried_ok >= cut
        reached = await watch - killed  # the last call sent to the dead replica, after the kill
        assert reached < 2.0
        after = load.served[served_before:]
        assert victim.name not in {replica for sent, replica in after if sent > killed}
        errors = [sent - killed for sent in load.failed]
        assert all(delay < 2.0 for delay in errors), errors  # none sent 2 s after the kill
        late = [replica for sent, replica in after if sent > killed + 2.0]
        assert late and set(late) == {replicas[0].name, replicas[2].name}

        # 3. Restarted, the replica is back in rotation.
        victim.start()
        victim.wait_serving()
        restarted = time.monotonic()
        while victim.name not in {replica for sent, replica in load.served if sent > restarted}:
            assert time.monotonic() - restarted < 10, "the restarted replica got no turn"
            await load.turn(0)
        rejoined = time.monotonic() - restarted
        await load.threads(1)

    assert await ledger(load, f"127.0.0.1:{replicas[0].port}") == (0, 0, 0)
    print(
        f"\n300 turns in {took:.1f} s, {dict(balanced)}; kill: {len(after)} turns in the 3 s"
        f" after, {len(errors)} failed (503 or broken stream; {load.retried_ok} completed on"
        f" the client's retry; {cut} of them in flight at the kill), last failure sent"
        f" {max(errors, default=0.0):.2f} s after the kill, last call started on the dead"
        f" replica {max(reached, 0.0):.2f} s after it; the restarted replica served again"
        f" {rejoined:.2f} s after it reported SERVING"
    )
