"""The load generator: `python -m bench.loadgen --url URL --mode unary|stream -c C -n R`.

Runs in its own process (so its CPU is not the servers'), drives C concurrent keep-alive
connections with httpx, checks every response complete against the fixed reply of N tokens,
and writes one JSON object to stdout. A warm-up round (one request per connection, not
counted) opens the connections first. Workers stop starting requests after R requests or
`--time-cap` seconds, whichever comes first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

from bench.synthetic import BENCH_MODEL, DEFAULT_TOKENS, expected_text

PROMPT = "Say something."


@dataclass
class Outcome:
    """What one level measured; latencies and TTFCs in seconds, of complete responses only."""

    mode: str
    concurrency: int
    sent: int = 0
    complete: int = 0
    incomplete: int = 0
    errors: int = 0
    missing_usage: int = 0
    events: int = 0
    elapsed: float = 0.0
    client_cpu: float = 0.0
    latencies: list[float] = field(default_factory=list)
    ttfcs: list[float] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)

    def fail(self, what: str) -> None:
        if len(self.error_samples) < 5:
            self.error_samples.append(what)


class Checker:
    """Sends one request and checks its response against the expected reply."""

    def __init__(self, client: httpx.AsyncClient, url: str, tokens: int, stream: bool) -> None:
        self.client, self.url, self.tokens, self.stream = client, url, tokens, stream
        self.expected = expected_text(tokens)
        payload: dict[str, Any] = {
            "model": BENCH_MODEL,
            "messages": [{"role": "user", "content": PROMPT}],
            "stream": stream,
        }
        if stream:
            payload["stream_options"] = {"include_usage": True}
        self.body = json.dumps(payload).encode()

    async def once(self, out: Outcome | None) -> None:
        """One request; `out` None is a warm-up whose result is not recorded."""
        start = time.perf_counter()
        try:
            if self.stream:
                ok, usage, ttfc, events, why = await self._stream(start)
            else:
                ok, usage, ttfc, events, why = await self._unary()
        except (httpx.HTTPError, ValueError, KeyError, TypeError, IndexError) as exc:
            if out is not None:
                out.errors += 1
                out.fail(f"{type(exc).__name__}: {exc}"[:300])
            return
        if out is None:
            return
        out.events += events
        out.missing_usage += not usage
        if ok:
            out.complete += 1
            out.latencies.append(time.perf_counter() - start)
            if ttfc is not None:
                out.ttfcs.append(ttfc)
        else:
            out.incomplete += 1
            out.fail(why)

    async def _unary(self) -> tuple[bool, bool, float | None, int, str]:
        response = await self.client.post(self.url, content=self.body)
        if response.status_code != 200:
            return False, False, None, 0, f"HTTP {response.status_code}: {response.text[:200]}"
        reply = response.json()
        content = reply["choices"][0]["message"]["content"]
        usage = (reply.get("usage") or {}).get("completion_tokens") == self.tokens
        ok = content == self.expected and usage
        return ok, usage, None, 1, "" if ok else f"content/usage mismatch: {content[:80]!r}"

    async def _stream(self, start: float) -> tuple[bool, bool, float | None, int, str]:
        parts: list[str] = []
        ttfc: float | None = None
        done = usage = False
        events = 0
        async with self.client.stream("POST", self.url, content=self.body) as response:
            if response.status_code != 200:
                await response.aread()
                return False, False, None, 0, f"HTTP {response.status_code}: {response.text[:200]}"
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    done = True
                    continue
                events += 1
                chunk = json.loads(data)
                for choice in chunk.get("choices") or ():
                    text = (choice.get("delta") or {}).get("content")
                    if text:
                        if ttfc is None:
                            ttfc = time.perf_counter() - start
                        parts.append(text)
                if (chunk.get("usage") or {}).get("completion_tokens") == self.tokens:
                    usage = True
        text = "".join(parts)
        ok = done and text == self.expected
        why = "" if ok else f"done={done} text={len(text)}/{len(self.expected)} chars"
        return ok, usage, ttfc, events, why


async def run_level(
    url: str,
    mode: str,
    concurrency: int,
    requests: int,
    time_cap: float,
    tokens: int,
    api_key: str,
    handshake: bool = False,
) -> Outcome:
    # Idle connections are dropped after 2 s, before uvicorn's 5 s keep-alive timeout closes
    # them under the client (a slow warm-up at high concurrency leaves some idle that long).
    limits = httpx.Limits(
        max_connections=concurrency, max_keepalive_connections=concurrency, keepalive_expiry=2.0
    )
    headers = {"content-type": "application/json", "authorization": f"Bearer {api_key}"}
    timeout = httpx.Timeout(60.0)
    async with httpx.AsyncClient(limits=limits, headers=headers, timeout=timeout) as client:
        checker = Checker(client, url, tokens, stream=mode == "stream")
        await asyncio.gather(*(checker.once(None) for _ in range(concurrency)))
        if handshake:
            # Lets the runner read the servers' CPU counters after the warm-up.
            sys.stdout.write("warm\n")
            sys.stdout.flush()
            await asyncio.to_thread(sys.stdin.readline)
        out = Outcome(mode=mode, concurrency=concurrency)
        tickets = iter(range(requests))
        cpu0 = _cpu()
        start = time.perf_counter()
        deadline = start + time_cap

        async def worker() -> None:
            for _ in tickets:
                if time.perf_counter() > deadline:
                    return
                out.sent += 1
                await checker.once(out)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        out.elapsed = time.perf_counter() - start
        out.client_cpu = _cpu() - cpu0
    return out


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="One load level against one stack.")
    parser.add_argument("--url", required=True, help="…/v1/chat/completions")
    parser.add_argument("--mode", choices=("unary", "stream"), required=True)
    parser.add_argument("-c", "--concurrency", type=int, required=True)
    parser.add_argument("-n", "--requests", type=int, required=True)
    parser.add_argument("--time-cap", type=float, default=10.0, help="seconds")
    parser.add_argument("--tokens", type=int, default=DEFAULT_TOKENS)
    parser.add_argument("--api-key", default="bench")
    parser.add_argument(
        "--handshake",
        action="store_true",
        help='after the warm-up, print "warm" and wait for a line on stdin before measuring',
    )
    args = parser.parse_args(argv)
    outcome = asyncio.run(
        run_level(
            args.url,
            args.mode,
            args.concurrency,
            args.requests,
            args.time_cap,
            args.tokens,
            args.api_key,
            args.handshake,
        )
    )
    sys.stdout.write(json.dumps(asdict(outcome)) + "\n")


if __name__ == "__main__":
    main()
