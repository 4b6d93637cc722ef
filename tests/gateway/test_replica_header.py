"""`x-chatrpc-replica`: every turn's HTTP response names the core replica that served it."""

from __future__ import annotations

import socket

HELLO = [{"role": "user", "content": "hello"}]


def test_json_and_sse_replies_name_the_replica(openai_client) -> None:
    """The core fixture keeps the default replica id, its host name."""
    raw = openai_client.chat.completions.with_raw_response.create(model="scripted", messages=HELLO)
    assert raw.headers["x-chatrpc-replica"] == socket.gethostname()
    with openai_client.chat.completions.with_streaming_response.create(
        model="scripted", messages=HELLO, stream=True
    ) as streamed:
        assert streamed.headers["x-chatrpc-replica"] == socket.gethostname()
        assert list(streamed.iter_lines())  # the body streams as usual


def test_responses_name_the_replica_too(openai_client) -> None:
    raw = openai_client.responses.with_raw_response.create(model="scripted", input="hello")
    assert raw.headers["x-chatrpc-replica"] == socket.gethostname()
    with openai_client.responses.with_streaming_response.create(
        model="scripted", input="hello", stream=True
    ) as streamed:
        assert streamed.headers["x-chatrpc-replica"] == socket.gethostname()
        assert list(streamed.iter_lines())
