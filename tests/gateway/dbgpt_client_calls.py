"""Run by tests/gateway/test_dbgpt.py under .venv-dbgpt: DB-GPT's own client against the gateway.

Usage: python dbgpt_client_calls.py <api_base> <api_key> <model>; prints one JSON line.
"""

import asyncio
import json
import sys

from dbgpt_client import Client


async def main(api_base: str, api_key: str, model: str) -> None:
    client = Client(api_base=api_base, api_key=api_key)
    response = await client.chat(model=model, messages="hello")
    streamed = []
    async for data in client.chat_stream(model=model, messages="hello"):
        streamed.append(data.choices[0].delta.content if data.choices else None)
    print(json.dumps({"chat": response.choices[0].message.content, "stream": streamed}))


asyncio.run(main(*sys.argv[1:4]))
