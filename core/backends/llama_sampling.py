"""A turn's sampling settings as llama.cpp sampler arguments: the contract's (temperature,
top_p, penalties) by llama-cpp-python's names, and the provider fields a catalog entry may
allow (`extra_params`), each checked here because they reach C code as they are."""

from __future__ import annotations

from core.errors import InvalidArgumentError
from core.types import GenerationParams, JsonObject

# Provider fields llama.cpp's sampler takes (a catalog entry may allow them, `extra_params`):
# name → (type, lowest, highest), checked here because they reach C code as they are.
LLAMA_EXTRAS: dict[str, tuple[type, float, float]] = {
    "top_k": (int, 0, 1_000_000),  # 0: off
    "min_p": (float, 0.0, 1.0),
    "typical_p": (float, 0.0, 1.0),
}


def extra_kwargs(extra: JsonObject) -> dict[str, object]:
    """The caller's allowed provider fields as llama.cpp sampler arguments, each checked."""
    kwargs: dict[str, object] = {}
    for name, value in extra.items():
        field = f"generation_config.extra_params.{name}"
        if name not in LLAMA_EXTRAS:
            raise InvalidArgumentError(
                f"The embedded model has no parameter {name!r}.", field=field
            )
        kind, low, high = LLAMA_EXTRAS[name]
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or (kind is int and value != int(value)) or not low <= value <= high:
            raise InvalidArgumentError(
                f"{name} must be {'an integer' if kind is int else 'a number'} from {low:g} to"
                f" {high:g}.",
                field=field,
            )
        kwargs[name] = kind(value)
    return kwargs


def sampling_kwargs(params: GenerationParams) -> dict[str, float]:
    """Maps validated GenerationParams onto llama.cpp's sampler (temperature 0 is greedy)."""
    kwargs: dict[str, float] = {}
    if params.temperature is not None:
        kwargs["temp"] = params.temperature
    if params.top_p is not None:
        kwargs["top_p"] = params.top_p
    if params.presence_penalty is not None:
        kwargs["presence_penalty"] = params.presence_penalty
    if params.frequency_penalty is not None:
        kwargs["frequency_penalty"] = params.frequency_penalty
    if params.repetition_penalty is not None:
        kwargs["repeat_penalty"] = params.repetition_penalty
    return kwargs
