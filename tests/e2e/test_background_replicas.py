"""Background responses across core processes on one PostgreSQL database, each behind a gateway
of its own: a stream dropped on one resumes on the other, and a replica killed mid-turn leaves
its response failed once its lease expires, never in progress."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import openai
import pytest

from gateway.app import create_app
from gateway.settings import Settings
from tests.core_process import running_core
from tests.gateway.conftest import OpenAPISchemas
from tests.gateway.test_responses import EVENT_SCHEMAS
from tests.servers import GatewayThread

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

LEASE = 2.0  # seconds: CHATRPC_BACKGROUND_LEASE_SECONDS of both replicas
TEXT = " ".join(f"w{i}" for i in range(40))  # echoed a word per --pace seconds


@pytest.fixture
def replicas(
    clean_postgres_url: str, tmp_path: Path
) -> Iterator[list[tuple[openai.OpenAI, object]]]:
    """Two core processes and two gateways, gateway i on core i: (openai client, process)."""
    env = {"CHATRPC_BACKGROUND_LEASE_SECONDS": str(LEASE)}
    with ExitStack() as stack:
        pairs = []
        for i in range(2):
            target, proc = stack.enter_context(
                running_core(
                    clean_postgres_url, tmp_path / f"core-{i}.log", "--pace", "0.05", env=env
                )
            )
            gateway = GatewayThread(create_app(Settings(core_target=target, auth="disabled")))
            stack.callback(gateway.stop)
            client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="x", max_retries=0)
            stack.callback(client.close)
            pairs.append((client, proc))
        yield pairs


@pytest.fixture(scope="module")
def openapi() -> OpenAPISchemas:
    return OpenAPISchemas()


def checked(events, openapi) -> list[dict]:
    out = []
    for event in events:
        data = event.model_dump(mode="json", exclude_unset=True)
        openapi.validate(data, EVENT_SCHEMAS[data["type"]])
        out.append(data)
    return out


def test_a_stream_dropped_on_one_replica_resumes_on_the_other(replicas, openapi):
    (first, _), (second, _) = replicas
    stream = first.responses.create(model="scripted", input=TEXT, background=True, stream=True)
    seen = []
    for event in stream:
        seen.append(event)
        if len(seen) == 5:
            break
    stream.close()
    head = checked(seen, openapi)
    response_id, last = head[0]["response"]["id"], head[-1]["sequence_number"]
    rest = checked(
        second.responses.retrieve(response_id, stream=True, starting_after=last), openapi
    )
    numbers = [e["sequence_number"] for e in head + rest]
    assert numbers == list(range(len(numbers)))  # every later event exactly once
    assert rest[-1]["type"] == "response.completed"
    final = rest[-1]["response"]
    assert final["output"][0]["content"][0]["text"] == f"echo: {TEXT}"
    assert final == first.responses.retrieve(response_id).model_dump(
        mode="json", exclude_unset=True
    )
    assert final == second.responses.retrieve(response_id).model_dump(
        mode="json", exclude_unset=True
    )


def test_a_killed_replicas_background_response_fails_within_the_lease(replicas):
    (first, proc), (second, _) = replicas
    created = first.responses.create(model="scripted", input=TEXT, background=True)
    time.sleep(0.3)
    assert second.responses.retrieve(created.id).status == "in_progress"
    os.kill(proc.pid, signal.SIGKILL)
    killed = time.monotonic()
    while (status := second.responses.retrieve(created.id).status) == "in_progress":
        assert time.monotonic() - killed < LEASE + 1.0, "still in progress after the lease"
        time.sleep(0.1)
    assert status == "failed"
    failed = second.responses.retrieve(created.id)
    assert failed.error is not None and failed.error.code == "server_error"
    with pytest.raises(openai.NotFoundError):  # nothing of it was stored as a turn
        second.responses.input_items.list(created.id)
