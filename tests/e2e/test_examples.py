"""The runnable examples in clients/examples/ (docs/getting-started.md points at them) run as
written against a real core and gateway."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.app import create_app
from gateway.settings import Settings
from tests.servers import GatewayThread

EXAMPLES = Path(__file__).resolve().parents[2] / "clients" / "examples"

pytestmark = pytest.mark.e2e


def run(script: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        capture_output=True,
        text=True,
        # A bound on a hang, not a speed check: the embedded model's examples take about 10 s
        # on an idle 2-core machine and several times that on a loaded one.
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_the_sync_sdk_example(core_server, scripted):
    for text in ("Paris.", "Green tea is…"):
        scripted.enqueue([text])
    out = run("sdk_sync.py", core_server.target)
    assert "Paris." in out and "Green tea is…" in out
    assert "rejected: INVALID_ARGUMENT generation_config.temperature" in out


def test_the_async_sdk_example(core_server, scripted):
    scripted.enqueue(["hi", " there"])
    scripted.enqueue(["Because of Rayleigh scattering."])
    scripted.enqueue([f"{i} " for i in range(50)], delay=0.01)
    out = run("sdk_async.py", core_server.target)
    assert "hi there" in out and "Rayleigh" in out and "stopped after 5 deltas" in out


@pytest.mark.model
def test_the_openai_sdk_example(core_server):
    gateway = GatewayThread(create_app(Settings(core_target=core_server.target, auth="disabled")))
    try:
        out = run("openai_sdk.py", gateway.url)
    finally:
        gateway.stop()
    assert "smollm2-135m-instruct" in out


def test_the_openai_responses_example(core_server, scripted):
    for text in ("Hello, Lin.", "Your name is Lin."):
        scripted.enqueue([text])
    scripted.enqueue(["Green", " tea", " is…"])
    gateway = GatewayThread(create_app(Settings(core_target=core_server.target, auth="disabled")))
    try:
        out = run("openai_responses.py", gateway.url, "scripted")
    finally:
        gateway.stop()
    assert "Hello, Lin." in out and "Your name is Lin." in out and "Green tea is…" in out
    assert "response.completed" in out
    assert "input of the second turn: ['What is my name?']" in out
    assert "continues the first: True" in out and "its thread: conv_" in out


@pytest.mark.model
def test_the_embeddings_example(core_server):
    gateway = GatewayThread(create_app(Settings(core_target=core_server.target, auth="disabled")))
    try:
        out = run("embeddings.py", gateway.url, core_server.target)
    finally:
        gateway.stop()
    assert "dimensions: 576" in out
    similar, unrelated = (float(part.split()[1]) for part in out.split("tea~")[1:3])
    assert similar > unrelated
    assert "base64 round trip: 1.0000" in out
    assert "rejected: dimensions" in out
    assert "grpc: smollm2-135m-instruct 2 vectors" in out
