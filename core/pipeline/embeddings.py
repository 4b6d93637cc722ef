"""Embedder.run(request): one Embed call, checked against its model's catalog entry first.

The checks are the core's own (the gRPC API trusts no caller): a model whose entry embeds,
1 to `max_embed_inputs` texts, none empty, bounded sizes, and `dimensions` only where the
catalog allows shortening, within the model's length. Each failure is an InvalidArgumentError
naming the field, raised before the backend is asked for anything.
"""

from __future__ import annotations

from typing import NoReturn

from core.catalog import ModelCatalog, ModelSpec
from core.errors import InvalidArgumentError
from core.settings import Limits
from core.types import Embeddings, EmbedRequest


class Embedder:
    """Serves EmbedRequests with the catalog's embedding models."""

    def __init__(self, catalog: ModelCatalog, limits: Limits | None = None) -> None:
        self._catalog = catalog
        self._limits = limits or Limits()

    async def run(self, request: EmbedRequest) -> Embeddings:
        """The vectors of `request.inputs`; raises ChatError (InvalidArgumentError first)."""
        spec = self._catalog.get(request.model)
        validate_embed(request, spec, self._limits)
        backend = self._catalog.backend(spec.name)
        batch = await backend.embed(request.token_inputs or request.inputs, request.dimensions)
        return Embeddings(model=spec.name, batch=batch)


def validate_embed(request: EmbedRequest, spec: ModelSpec, limits: Limits) -> None:
    """Raises InvalidArgumentError for the first problem found in `request`."""
    if spec.embeddings is None:
        _fail(f"The model {spec.name!r} does not compute embeddings.", "model")
    if request.token_inputs:
        _check_token_inputs(request, limits)
    else:
        _check_inputs(request.inputs, limits)
    dimensions = request.dimensions
    if dimensions is not None:
        if not spec.embeddings.shortening:
            _fail(f"The model {spec.name!r} does not support setting dimensions.", "dimensions")
        if not 1 <= dimensions <= spec.embeddings.dimensions:
            _fail(
                f"dimensions must be between 1 and the model's {spec.embeddings.dimensions}.",
                "dimensions",
            )
    if len(request.user) > limits.max_user_chars:
        _fail(f"user is longer than {limits.max_user_chars} characters.", "user")


def _check_inputs(inputs: tuple[str, ...], limits: Limits) -> None:
    if not inputs:
        _fail("inputs must contain at least one text.", "inputs")
    if len(inputs) > limits.max_embed_inputs:
        _fail(f"inputs has more than {limits.max_embed_inputs} entries.", "inputs")
    for i, text in enumerate(inputs):
        if not text:
            _fail(f"inputs[{i}] must not be empty.", f"inputs[{i}]")
        if len(text) > limits.max_embed_input_chars:
            _fail(
                f"inputs[{i}] is longer than {limits.max_embed_input_chars} characters.",
                f"inputs[{i}]",
            )
    if sum(map(len, inputs)) > limits.max_embed_total_chars:
        _fail(f"inputs hold more than {limits.max_embed_total_chars} characters.", "inputs")


def _check_token_inputs(request: EmbedRequest, limits: Limits) -> None:
    """Token arrays: bounded as texts are (a token per character at most); the ids' range is
    the backend's to check, as only it knows its vocabulary."""
    if request.inputs:
        _fail("Set inputs or token_inputs, not both.", "token_inputs")
    inputs = request.token_inputs
    if len(inputs) > limits.max_embed_inputs:
        _fail(f"token_inputs has more than {limits.max_embed_inputs} entries.", "token_inputs")
    for i, ids in enumerate(inputs):
        if not ids:
            _fail(f"token_inputs[{i}] must not be empty.", f"token_inputs[{i}]")
        if len(ids) > limits.max_embed_input_chars:
            _fail(
                f"token_inputs[{i}] has more than {limits.max_embed_input_chars} tokens.",
                f"token_inputs[{i}]",
            )
        if min(ids) < 0:
            _fail(f"token_inputs[{i}] holds a negative token id.", f"token_inputs[{i}]")
    if sum(map(len, inputs)) > limits.max_embed_total_chars:
        _fail(f"token_inputs hold more than {limits.max_embed_total_chars} tokens.", "token_inputs")


def _fail(message: str, field: str) -> NoReturn:
    raise InvalidArgumentError(message, field=field)
