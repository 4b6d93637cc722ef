"""chatrpc.AsyncClient against a local core (`make run`): stream, multi-message turn, cancel."""

from __future__ import annotations

import asyncio
import sys

import chatrpc

TARGET = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:50051"


async def main() -> None:
    async with chatrpc.AsyncClient(TARGET, timeout=120) as client:
        async for event in client.chat_stream(messages="hello", max_tokens=48):
            if isinstance(event, chatrpc.MessageDelta):
                print(event.content, end="", flush=True)
        print()

        request = chatrpc.ChatRequest(
            messages=[
                chatrpc.Message("system", "Answer in one sentence."),
                chatrpc.Message("user", "Why is the sky blue?"),
            ],
            generation_config=chatrpc.GenerationConfig(max_tokens=64),
        )
        reply = await client.chat(request)
        print(reply.content)

        # Leaving the loop early cancels the call; the server stops generating.
        received = 0
        async for event in client.chat_stream("Write a long story.", max_tokens=400):
            received += isinstance(event, chatrpc.MessageDelta)
            if received == 5:
                break
        print("stopped after", received, "deltas")


asyncio.run(main())
