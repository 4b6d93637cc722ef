"""compose.yaml: `docker compose config` accepts it (when docker with compose is here), and it
wires what docs/operations/scaling.md says: cores on PostgreSQL, the gateway on dns:///core."""

from __future__ import annotations

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
    checked = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE), "config", "--quiet"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stderr


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
