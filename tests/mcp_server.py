"""`python -m tests.mcp_server --log PATH [--port P]`: a real MCP server, written with the `mcp`
package's FastMCP, for the MCP tool tests: on stdio, or on streamable HTTP at
http://127.0.0.1:P/mcp. It appends one line per request to PATH ("http POST /mcp", "call
get_weather Paris"), so a test can tell that a server was never contacted.

Tools: `get_weather(city)` answers "Sunny, 21 °C in <city>"; `get_time(zone)` answers
"12:00 in <zone>"; `fail()` always raises.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from mcp.server.fastmcp import FastMCP

WEATHER = "Sunny, 21 °C in {city}"


def build(log: Path, port: int = 0) -> FastMCP:
    server = FastMCP("weather", host="127.0.0.1", port=port or 8000, log_level="WARNING")

    def note(line: str) -> None:
        with log.open("a", encoding="utf-8") as out:
            out.write(line + "\n")

    @server.tool()
    def get_weather(city: str) -> str:
        """The weather in a city now."""
        note(f"call get_weather {city}")
        return WEATHER.format(city=city)

    @server.tool()
    def get_time(zone: str) -> str:
        """The time in a time zone."""
        note(f"call get_time {zone}")
        return f"12:00 in {zone}"

    @server.tool()
    def fail() -> str:
        """Always fails."""
        note("call fail")
        raise RuntimeError("the tool broke")

    return server


def logged(app: Any, log: Path) -> Callable[..., Awaitable[None]]:
    """The ASGI app, noting every HTTP request it receives."""

    async def wrapped(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            with log.open("a", encoding="utf-8") as out:
                out.write(f"http {scope['method']} {scope['path']}\n")
        await app(scope, receive, send)

    return wrapped


ROOT = Path(__file__).resolve().parents[1]


def stdio_command(log: Path) -> tuple[str, list[str], dict[str, str]]:
    """(command, args, env) that start this server on stdio (for a [servers.*] table)."""
    env = {"PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "clients")])}
    return sys.executable, ["-m", "tests.mcp_server", "--log", str(log)], env


@contextmanager
def running_http(log: Path) -> Iterator[str]:
    """This server on streamable HTTP for the block: its URL, once it accepts connections."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "tests.mcp_server", "--log", str(log), "--port", str(port)]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                assert proc.poll() is None, "the MCP server exited"
                assert time.monotonic() < deadline, "the MCP server did not start"
                time.sleep(0.1)
        log.write_text("", encoding="utf-8")  # from here on: the test's requests only
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(10)


def requests_in(log: Path) -> list[str]:
    """The lines the server logged (none if it never ran)."""
    return log.read_text(encoding="utf-8").splitlines() if log.exists() else []


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--port", type=int, default=0, help="streamable HTTP; 0: stdio")
    args = parser.parse_args()
    server = build(args.log, args.port)
    if not args.port:
        server.run("stdio")
        return
    app = logged(server.streamable_http_app(), args.log)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", lifespan="on")


if __name__ == "__main__":
    main()
