"""The official openai SDK against the gateway (`make run`): sync, streaming, async, errors."""

from __future__ import annotations

import asyncio
import sys

import openai

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://localhost:8000"
# No key is configured locally; the SDK insists on one, any value does.
client = openai.OpenAI(base_url=f"{BASE}/v1", api_key="unused")

print([m.id for m in client.models.list()])

response = client.chat.completions.create(
    model="smollm2-135m-instruct",
    messages=[
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "What is the capital of France?"},
    ],
    temperature=0.7,
    max_tokens=64,
)
print(response.choices[0].message.content, response.usage)

stream = client.chat.completions.create(
    model="smollm2-135m-instruct",
    messages=[{"role": "user", "content": "Tell me about green tea."}],
    max_tokens=64,
    stream=True,
    stream_options={"include_usage": True},
)
for chunk in stream:
    if chunk.choices and chunk.choices[0].delta.content:
        print(chunk.choices[0].delta.content, end="", flush=True)
    if chunk.usage:
        print("\n", chunk.usage)

try:
    client.chat.completions.create(
        model="no-such-model", messages=[{"role": "user", "content": "hi"}]
    )
except openai.NotFoundError as exc:
    print("not found:", exc.code)


async def main() -> None:
    async with openai.AsyncOpenAI(base_url=f"{BASE}/v1", api_key="unused") as aclient:
        stream = await aclient.chat.completions.create(
            model="smollm2-135m-instruct",
            messages=[{"role": "user", "content": "Say hello."}],
            max_tokens=32,
            stream=True,
        )
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                print(chunk.choices[0].delta.content, end="", flush=True)
        print()


asyncio.run(main())
