"""chatrpc.AsyncClient against a local core (`make run`): stream, multi-message turn, cancel."""

from __future__ import annotations

import asyncio
import sys

import chatrpc

TARGET = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:50051"


async def main() -> None:
    async with chatrpc.AsyncClient(TARGET, timeout=120) as client:
        async for chunk in client.chat_stream(messages="hello", max_tokens=48):
            print(chunk.content, end="", flush=True)
        print()

        reply = await client.chat(
            [
                {"role": "system", "content": "Answer in one sentence."},
                {"role": "user", "content": "Why is the sky blue?"},
            ],
            max_tokens=64,
        )
        print(reply.content)

        # Leaving the loop early cancels the call; the server stops generating.
        received = 0
        async for chunk in client.chat_stream("Write a long story.", max_tokens=400):
            received += chunk.event == "delta"
            if received == 5:
                break
        print("stopped after", received, "deltas")


asyncio.run(main())
