"""How far one chat request travels in the gateway before it reaches the SDK: the gateway files
its call stack enters, how often, and how often it comes back, from the first gateway frame
after the request observer (the key check) to the SDK's chat/chat_stream call.

Run from the repository root: `.venv/bin/python bench/request_path.py [--stream]`. The gateway
app runs in this process under httpx's ASGI transport, with an SDK client to an address where
nothing listens (the trace ends where the SDK is entered, so no core is needed). A profile hook
sees every Python call and return: a call from a frame in one gateway file into another is an
*entry*, a return into a different gateway file a *return* (the request observer, which wraps
every request whatever its route, is not counted).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from types import FrameType
from typing import Any

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

import chatrpc

ROOT = Path(__file__).resolve().parent.parent
GATEWAY = str(ROOT / "gateway") + "/"
SDK = str(ROOT / "clients" / "chatrpc") + "/"
OUTSIDE = ("observability.py", "/app.py")  # every request's wrappers, not its route


def _gateway_file(frame: FrameType | None) -> str | None:
    while frame is not None:
        name = frame.f_code.co_filename
        if name.startswith(GATEWAY) and not name.endswith(OUTSIDE):
            return name.removeprefix(str(ROOT) + "/")
        frame = frame.f_back
    return None


class PathTrace:
    """The profile hook: counts entries and returns between gateway files until the SDK."""

    def __init__(self) -> None:
        self.entries: list[str] = []
        self.returns = 0
        self.done = False

    def __call__(self, frame: FrameType, event: str, arg: Any) -> None:
        if self.done or event not in ("call", "return"):
            return
        name = frame.f_code.co_filename
        if (
            event == "call"
            and name.startswith(SDK)
            and frame.f_code.co_name
            in (
                "chat",
                "chat_stream",
            )
        ):
            self.done = True
            return
        here = _gateway_file(frame) if name.startswith(GATEWAY) else None
        if here is None:
            return
        other = _gateway_file(frame.f_back)
        if event == "call" and other is not None and other != here:
            self.entries.append(here)
        elif event == "return" and other is not None and other != here:
            self.returns += 1


async def follow(stream: bool) -> PathTrace:
    from gateway.app import create_app
    from gateway.settings import Settings

    client = chatrpc.AsyncClient("127.0.0.1:9", timeout=0.5)
    app = create_app(Settings(auth="required"), client=client)
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    trace = PathTrace()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
            headers = {"authorization": "Bearer k", "x-request-timeout": "5"}
            await http.post("/v1/chat/completions", json=body, headers=headers)  # warm
            sys.setprofile(trace)
            try:
                await http.post("/v1/chat/completions", json=body, headers=headers)
            finally:
                sys.setprofile(None)
    await client.close()
    return trace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stream", action="store_true", help="a streamed request")
    trace = asyncio.run(follow(parser.parse_args().stream))
    files = sorted(set(trace.entries))
    print(f"files entered: {len(files)}; entries: {len(trace.entries)}; returns: {trace.returns}")
    for name in files:
        print(f"  {trace.entries.count(name):2d}  {name}")


if __name__ == "__main__":
    main()
