"""Run by tests/gateway/test_seed_dbgpt_client.py under .venv-dbgpt05 (DB-GPT's own `dbgpt`
package, 0.5.x): seed 002's three Python snippets as written, against the gateway.

The seed's `Client(api_key=...)` names no api_base: the client then reads DBGPT_API_BASE
(else http://localhost:5670/api/v2), so the test points it at the gateway that way and the
snippets stay verbatim. What each snippet prints is captured; one JSON line goes to stdout.
"""

import asyncio
import contextlib
import io
import json

from dbgpt.client import Client

# --- seed 002, 流式对话 (chat.py) ---------------------------------------------------------------

DBGPT_API_KEY = "dbgpt"
client = Client(api_key=DBGPT_API_KEY)


async def chat():
    async for data in client.chat_stream(
        model="proxyllm",
        messages="hello",
    ):
        print(data.choices[0].delta.content)


# --- seed 002, the notebook variant -------------------------------------------------------------


async def notebook():
    from dbgpt.client import Client

    DBGPT_API_KEY = "dbgpt"
    client = Client(api_key=DBGPT_API_KEY)
    async for data in client.chat_stream(model="proxyllm", messages="hello"):
        print(data.choices)


# --- seed 002, 非流式对话 ---------------------------------------------------------------------


async def non_stream():
    from dbgpt.client import Client

    DBGPT_API_KEY = "dbgpt"
    client = Client(api_key=DBGPT_API_KEY)
    response = await client.chat(model="proxyllm", messages="hello")
    return response


def printed(coro):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = asyncio.run(coro)
    return out.getvalue().splitlines(), result


if __name__ == "__main__":
    stream_lines, _ = printed(chat())
    notebook_lines, _ = printed(notebook())
    _, response = printed(non_stream())
    # On an HTTP error the 0.5 client returns the error body as a dict instead of raising.
    reply = response.model_dump() if hasattr(response, "model_dump") else response
    result = {
        "api_url": client._api_url,
        "stream_printed": stream_lines,
        "notebook_printed": notebook_lines,
        "chat_type": type(response).__name__,
        "chat": reply,
    }
    print(json.dumps(result, ensure_ascii=False))
