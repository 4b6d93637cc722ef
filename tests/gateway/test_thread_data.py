"""Thread data over HTTP: search with a count, metadata updates, JSON-lines export, erasure."""

from __future__ import annotations

import json

import httpx


def ask(openai_client, content: str, thread_id: str, user: str = "", metadata=None) -> None:
    openai_client.chat.completions.create(
        model="scripted",
        messages=[{"role": "user", "content": content}],
        user=user or None,
        metadata=metadata,
        extra_body={"thread_id": thread_id},
    )


def test_search_filters_pages_and_counts(openai_client, scripted, gateway):
    scripted.echo = True
    for i in range(3):
        ask(openai_client, f"q{i}", f"h-{i}", user="u1", metadata={"app": "tea"})
    ask(openai_client, "other", "h-x", user="u2", metadata={"app": "coffee"})

    first = httpx.post(f"{gateway.url}/v1/threads/search", json={"user": "u1", "limit": 2})
    body = first.json()
    rest = httpx.post(
        f"{gateway.url}/v1/threads/search",
        json={"user": "u1", "limit": 2, "after": body["next_page_token"]},
    ).json()
    coffee = httpx.post(
        f"{gateway.url}/v1/threads/search", json={"metadata": {"app": "coffee"}}
    ).json()

    assert first.status_code == 200 and body["total_count"] == 3 and body["has_more"]
    assert [t["id"] for t in body["data"] + rest["data"]] == ["h-2", "h-1", "h-0"]
    assert body["data"][0]["metadata"] == {"app": "tea"} and body["data"][0]["user"] == "u1"
    assert [t["id"] for t in coffee["data"]] == ["h-x"] and not rest["has_more"]
    bad = httpx.post(f"{gateway.url}/v1/threads/search", json={"owner": "someone-else"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "owner"


def test_update_thread_metadata_and_its_refusals(openai_client, scripted, gateway):
    scripted.echo = True
    ask(openai_client, "q", "m-1")
    updated = httpx.post(f"{gateway.url}/v1/threads/m-1", json={"metadata": {"keep_latest": "5"}})
    assert updated.status_code == 200
    assert updated.json()["metadata"] == {"keep_latest": "5"}
    bad = httpx.post(f"{gateway.url}/v1/threads/m-1", json={"metadata": {"ttl_seconds": "soon"}})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "metadata.ttl_seconds"
    missing = httpx.post(f"{gateway.url}/v1/threads/nope", json={"metadata": {}})
    assert missing.status_code == 404


def test_export_streams_json_lines_and_an_unknown_thread_is_404(openai_client, scripted, gateway):
    scripted.echo = True
    for i in range(12):
        ask(openai_client, f"hello {i}", f"x-{i:02}")

    with httpx.stream("GET", f"{gateway.url}/v1/data/export") as response:
        assert response.headers["content-type"] == "application/x-ndjson"
        lines = [json.loads(line) for line in response.iter_lines() if line]
    one = httpx.get(f"{gateway.url}/v1/threads/x-03/export")

    assert [x["thread_id"] for x in lines if x["object"] == "thread"] == [
        f"x-{i:02}" for i in range(12)
    ]
    contents = [x["content"] for x in lines if x["object"] == "message"]
    assert contents == [c for i in range(12) for c in (f"hello {i}", f"echo: hello {i}")]
    assert [json.loads(x)["object"] for x in one.text.splitlines()] == [
        "thread",
        "turn",
        "message",
        "message",
    ]
    missing = httpx.get(f"{gateway.url}/v1/threads/nope/export")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "thread_not_found"


def test_erase_by_user_then_everything(openai_client, scripted, gateway):
    scripted.echo = True
    ask(openai_client, "a", "r-1", user="u1")
    ask(openai_client, "b", "r-2", user="u2")

    by_user = httpx.post(f"{gateway.url}/v1/data/erase", json={"scope": "user", "user": "u1"})
    everything = httpx.post(f"{gateway.url}/v1/data/erase", json={"scope": "owner"})
    again = httpx.post(f"{gateway.url}/v1/data/erase", json={"scope": "owner"})

    assert by_user.status_code == 200 and by_user.json()["deleted"]["threads"] == 1
    assert everything.json()["object"] == "erasure"
    assert everything.json()["deleted"]["threads"] == 1
    assert set(again.json()["deleted"].values()) == {0}
    assert httpx.get(f"{gateway.url}/v1/threads").json()["data"] == []
    bad = httpx.post(f"{gateway.url}/v1/data/erase", json={"scope": "everyone"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "scope"
