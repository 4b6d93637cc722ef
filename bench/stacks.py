"""The three stacks under test, each a front (HTTP) and a back (gRPC core or upstream) process.

- chatrpc: `python -m bench.synthetic_core` (the real core on the SyntheticBackend) behind
  `python -m gateway`, configured by CHATRPC_GATEWAY_HOST/PORT and CHATRPC_CORE_TARGET.
- bare: `python -m bench.bare_chain server` behind `python -m bench.bare_chain gateway`;
  its unary-RPC route is also measured for non-stream requests, as "bare-unary".
- litellm: `python -m bench.mock_upstream` behind the LiteLLM proxy (its own venv).
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from bench.bare_chain import UNARY_PREFIX
from bench.litellm_proxy import (
    ensure_litellm,
    litellm_command,
    litellm_env,
    new_master_key,
    write_config,
)
from bench.processes import ROOT, Service, free_port, python_env
from bench.synthetic import BENCH_MODEL, expected_text

STACKS = ("bare", "chatrpc", "litellm")
CHAT_PATH = "/v1/chat/completions"


class StackUnavailable(Exception):
    """The stack cannot run on this checkout (say, the gateway package is missing)."""


@dataclass
class Stack:
    """A started-or-not stack: its services in start order, the front's URL and API key."""

    name: str
    services: list[Service]
    api_key: str = "bench"
    # Further non-stream routes measured as stacks of their own: result name → URL path.
    unary_variants: dict[str, str] = field(default_factory=dict)

    @property
    def front(self) -> Service:
        return next(s for s in self.services if s.role == "front")

    @property
    def url(self) -> str:
        return self.url_of(CHAT_PATH)

    def url_of(self, path: str) -> str:
        return f"http://127.0.0.1:{self.front.port}{path}"

    def start(self, tokens: int, timeout: float = 90.0) -> None:
        """Starts every service in order, then waits for one complete reply through the front."""
        for service in self.services:
            service.start()
            service.wait_listening(timeout)
        self._wait_ready(tokens, timeout)

    def stop(self) -> None:
        for service in reversed(self.services):
            service.stop()

    def cpu_seconds(self) -> dict[str, float]:
        return {service.role: service.cpu_seconds() for service in self.services}

    def _wait_ready(self, tokens: int, timeout: float) -> None:
        body = json.dumps(
            {"model": BENCH_MODEL, "messages": [{"role": "user", "content": "ready?"}]}
        ).encode()
        headers = {"content-type": "application/json", "authorization": f"Bearer {self.api_key}"}
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            for service in self.services:
                service.check_alive()
            request = urllib.request.Request(self.url, data=body, headers=headers)
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    reply = json.load(response)
                if reply["choices"][0]["message"]["content"] == expected_text(tokens):
                    return
                last = f"unexpected reply {reply!r:.200}"
            except (OSError, urllib.error.URLError, ValueError, KeyError) as exc:
                last = f"{type(exc).__name__}: {exc}"
            time.sleep(0.5)
        raise TimeoutError(f"{self.name} never answered a complete reply: {last}")


def build_stack(name: str, tokens: int, log_dir: Path) -> Stack:
    """The stack `name` on fresh loopback ports, not started yet."""
    builders = {"bare": _bare, "chatrpc": _chatrpc, "litellm": _litellm}
    return builders[name](tokens, log_dir)


def _py(*args: str) -> list[str]:
    return [sys.executable, "-m", *args]


def _bare(tokens: int, log_dir: Path) -> Stack:
    back, front = free_port(), free_port()
    env = python_env()
    return Stack(
        "bare",
        [
            Service(
                "bare rpc server",
                "back",
                _py("bench.bare_chain", "server", "--port", str(back), "--tokens", str(tokens)),
                back,
                env,
                log_dir / "bare-server.log",
            ),
            Service(
                "bare FastAPI route",
                "front",
                _py(
                    "bench.bare_chain",
                    "gateway",
                    "--port",
                    str(front),
                    "--target",
                    f"127.0.0.1:{back}",
                ),
                front,
                env,
                log_dir / "bare-gateway.log",
            ),
        ],
        unary_variants={"bare-unary": UNARY_PREFIX + CHAT_PATH},
    )


def _chatrpc(tokens: int, log_dir: Path) -> Stack:
    if importlib.util.find_spec("gateway") is None and not (ROOT / "gateway").is_dir():
        raise StackUnavailable("the gateway package (python -m gateway) is not in this checkout")
    back, front = free_port(), free_port()
    gateway_env = python_env(
        {
            "CHATRPC_GATEWAY_HOST": "127.0.0.1",
            "CHATRPC_GATEWAY_PORT": str(front),
            "CHATRPC_CORE_TARGET": f"127.0.0.1:{back}",
            "CHATRPC_AUTH": "disabled",
        }
    )
    return Stack(
        "chatrpc",
        [
            Service(
                "chatrpc core (synthetic backend)",
                "back",
                _py("bench.synthetic_core", "--port", str(back), "--tokens", str(tokens)),
                back,
                python_env(),
                log_dir / "chatrpc-core.log",
            ),
            Service(
                "chatrpc gateway",
                "front",
                _py("gateway"),
                front,
                gateway_env,
                log_dir / "chatrpc-gateway.log",
            ),
        ],
    )


def _litellm(tokens: int, log_dir: Path) -> Stack:
    executable = ensure_litellm()
    back, front = free_port(), free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    config = write_config(log_dir / "litellm.yaml", f"http://127.0.0.1:{back}/v1")
    key = new_master_key()
    return Stack(
        "litellm",
        [
            Service(
                "mock OpenAI upstream",
                "back",
                _py("bench.mock_upstream", "--port", str(back), "--tokens", str(tokens)),
                back,
                python_env(),
                log_dir / "mock-upstream.log",
            ),
            Service(
                "LiteLLM proxy",
                "front",
                litellm_command(executable, config, front),
                front,
                litellm_env(key),
                log_dir / "litellm.log",
            ),
        ],
        api_key=key,
    )
