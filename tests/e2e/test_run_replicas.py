"""`make run-replicas` (scripts/run_replicas.py): real `python -m core` replicas and a gateway.

Two replicas of the embedded model on the test's PostgreSQL database; turns through the
gateway reach both (their ids in `x-chatrpc-replica`); SIGINT stops every process.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest

from tests.e2e.test_core_process import ROOT, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.model, pytest.mark.postgres]


def test_run_replicas_serves_turns_from_every_replica(clean_postgres_url: str, tmp_path) -> None:
    core_port, gateway_port = free_port(), free_port()
    while gateway_port in (core_port, core_port + 1):
        gateway_port = free_port()
    command = [sys.executable, "-m", "scripts.run_replicas", "--replicas", "2"]
    command += ["--core-port", str(core_port), "--gateway-port", str(gateway_port)]
    env = {
        **os.environ,
        "CHATRPC_DATABASE_URL": clean_postgres_url,
        "CHATRPC_AUTH": "disabled",
        # Metrics off: never a fixed port another run may hold, nor a free one that takes the
        # second core's port before it binds.
        "CHATRPC_METRICS_PORT": "off",
        "CHATRPC_GATEWAY_METRICS_PORT": "off",
    }
    log = (tmp_path / "run_replicas.log").open("wb")
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{gateway_port}"
    try:
        with httpx.Client(base_url=url, timeout=30) as http:
            seen: set[str] = set()
            deadline = time.monotonic() + 90
            while seen != {f"127.0.0.1:{core_port}", f"127.0.0.1:{core_port + 1}"}:
                assert time.monotonic() < deadline, (seen, (tmp_path / "run_replicas.log"))
                assert proc.poll() is None, (tmp_path / "run_replicas.log").read_text()
                try:
                    response = http.post(
                        "/v1/chat/completions",
                        json={"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1},
                    )
                except httpx.TransportError:  # the gateway is still starting
                    time.sleep(0.2)
                    continue
                if response.status_code == 200:
                    seen.add(response.headers["x-chatrpc-replica"])
                else:  # 503 while the models load
                    assert response.status_code == 503, response.text
                    time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(60)
        log.close()
    assert code == 0, (tmp_path / "run_replicas.log").read_text()
    for port in (core_port, core_port + 1, gateway_port):  # every child has gone
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0
