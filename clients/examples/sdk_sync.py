"""chatrpc.Client against a local core (`make run`): one reply, one stream, one error."""

from __future__ import annotations

import sys

import chatrpc

TARGET = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:50051"

with chatrpc.Client(TARGET, timeout=120) as client:
    print("models:", [m.id for m in client.list_models()])

    reply = client.chat("What is the capital of France?", max_tokens=48, temperature=0)
    print(reply.content)
    print(reply.finish_reason, reply.usage)

    for event in client.chat_stream("Tell me about green tea.", max_tokens=64):
        if isinstance(event, chatrpc.MessageDelta):
            print(event.content, end="", flush=True)
        elif isinstance(event, chatrpc.Usage):
            print("\n", event)

    try:
        client.chat("hello", temperature=5)
    except chatrpc.InvalidRequestError as exc:
        print("rejected:", exc.reason, exc.metadata["field"], "-", exc.message)
