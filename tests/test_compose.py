"""compose.yaml: `docker compose config` accepts it (when docker with compose is here), and it
wires what docs/operations/scaling.md says: cores on PostgreSQL, the gateway on dns:///core."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "compose.yaml"


def compose_available() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    found = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
    return found.returncode == 0


@pytest.mark.skipif(not compose_available(), reason="docker with the compose plugin is not here")
def test_docker_compose_validates_the_file() -> None:
    checked = docker_compose_config({"CHATRPC_API_KEYS": "alice=sk-alice-0123456789abcdef"})
    assert checked.returncode == 0, checked.stderr


@pytest.mark.skipif(not compose_available(), reason="docker with the compose plugin is not here")
def test_docker_compose_refuses_to_start_without_keys() -> None:
    checked = docker_compose_config({})
    assert checked.returncode != 0
    assert "CHATRPC_API_KEYS" in checked.stderr and ".env" in checked.stderr


def docker_compose_config(extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CHATRPC_API_KEYS"} | extra
    return subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE), "config", "--quiet"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env=env,
        cwd="/",  # no .env of the checkout's own
    )


def test_auth_is_required_with_keys_the_user_provides_and_no_default() -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    for name in ("core", "gateway"):
        assert services[name]["environment"]["CHATRPC_AUTH"] == "required", name
    keys = services["core"]["environment"]["CHATRPC_API_KEYS"]
    # ${VAR:?message}: compose refuses to start, with the message, when the variable is unset.
    assert keys.startswith("${CHATRPC_API_KEYS:?") and ".env" in keys


def test_published_ports_are_bound_to_loopback() -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    for name, service in services.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), (name, port)


def test_the_gateway_balances_over_core_replicas_that_share_postgres() -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    assert {"postgres", "redis", "core", "gateway"} <= set(services)
    core, gateway = services["core"], services["gateway"]
    assert core["deploy"]["replicas"] >= 2
    database = urlsplit(core["environment"]["CHATRPC_DATABASE_URL"])
    assert (database.scheme, database.hostname) == ("postgresql", "postgres")
    target = gateway["environment"]["CHATRPC_CORE_TARGET"]
    assert target == f"dns:///core:{core['environment']['CHATRPC_PORT']}"
    assert "CHATRPC_REPLICA_ID" not in core["environment"]  # each replica: its host name
    gateway_ip = gateway["networks"]["default"]["ipv4_address"]
    assert gateway_ip in core["environment"]["CHATRPC_TRUSTED_PROXIES"].split(",")
    assert urlsplit(core["environment"]["CHATRPC_REDIS_URL"]).hostname == "redis"
    assert (ROOT / core["build"] / "Dockerfile").is_file()
