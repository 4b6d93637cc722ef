"""Optional active probes: a dead deployment opens without a user request, and closes when it
answers its probe again."""

from __future__ import annotations

import time

from tests.upstream_fleet import catalog_toml

TABLES = """
[models."chat".routing]
strategy = "least_busy"
health_check_interval = 0.2
[models."chat".breaker]
failures = 2
cooldown = 30.0
"""


def states(routed) -> dict[str, str]:
    (model,) = [m for m in routed.client.list_models() if m.id == "chat"]
    return {d.name: d.state for d in model.deployments}


def wait_for(routed, deployment: str, state: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if states(routed)[deployment] == state:
            return True
        time.sleep(0.05)
    return False


def test_probes_open_a_dead_deployment_and_close_it_when_it_is_back(fleet3, start_core):
    a = fleet3["a"]
    a.set("refused")
    routed = start_core(catalog_toml(fleet3.members, tables=TABLES))
    assert wait_for(routed, "a", "open", 2.0)  # no user request was needed
    assert states(routed)["b"] == "closed"
    assert routed.client.chat("hi", model="chat").usage.upstream == "b"
    a.set("healthy")
    assert wait_for(routed, "a", "closed", 2.0)  # long before its 30 s cooldown
    assert routed.client.chat("hi", model="chat").usage.upstream == "a"
    probes = [r for r in fleet3["b"].upstream.requests if r.path.endswith("/models")]
    assert probes and all(r.method == "GET" for r in probes)
    assert len(fleet3["b"].requests) == 1  # the user's: probes send no prompt
