"""thread_affinity: a thread's turns stay on one deployment, with bounded load."""

from __future__ import annotations

from collections import Counter

from tests.upstream_fleet import catalog_toml

TABLES = """
[models."chat".routing]
strategy = "thread_affinity"
[models."chat".breaker]
failures = 1
cooldown = 30.0
"""


def test_thirty_threads_stay_on_their_deployments_with_bounded_load(fleet3, start_core, sqlite_url):
    routed = start_core(catalog_toml(fleet3.members, tables=TABLES), database_url=sqlite_url)
    homes: dict[str, Counter[str]] = {f"thread-{i}": Counter() for i in range(30)}
    for _ in range(5):
        for thread, seen in homes.items():
            seen[routed.client.chat("hi", model="chat", thread_id=thread).usage.upstream] += 1
    on_home = sum(seen.most_common(1)[0][1] for seen in homes.values())
    assert on_home >= 0.95 * 150
    load = fleet3.counts()
    assert max(load.values()) <= 1.25 * 150 / 3, load

    owner = fleet3["a"]
    owner.set("500")
    moved = [t for t, seen in homes.items() if seen.most_common(1)[0][0] == "a"]
    assert moved
    for thread in moved:
        reply = routed.client.chat("hi", model="chat", thread_id=thread)  # nothing fails
        assert reply.usage.upstream in ("b", "c")
