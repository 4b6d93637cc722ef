"""ModelCatalog: public model name → backend kind, options, tool-call format and context window.

The catalog is data. Backends are attached to their entries once they are loaded, so a model
that is configured but still loading (or missing its key) answers with a clear error instead
of being unknown.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from core.backends.base import Backend
from core.errors import ConfigError, ModelNotFoundError, ModelNotReadyError
from core.types import GenerationParams


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One catalog entry: how to serve a public model name."""

    name: str
    backend: str
    context_window: int
    options: Mapping[str, object] = field(default_factory=dict)
    tool_format: str = ""
    owned_by: str = "chatrpc"
    defaults: GenerationParams = field(default_factory=GenerationParams)
    created: int = field(default_factory=lambda: int(time.time()))


class ModelCatalog:
    """The models a server knows, the first one being the default."""

    def __init__(self, specs: Sequence[ModelSpec]) -> None:
        if not specs:
            raise ConfigError("the model catalog is empty")
        self._specs: dict[str, ModelSpec] = {}
        for spec in specs:
            if spec.name in self._specs:
                raise ConfigError(f"model {spec.name!r} is declared twice")
            self._specs[spec.name] = spec
        self._default = specs[0].name
        self._backends: dict[str, Backend] = {}
        self._unready: dict[str, str] = {}

    @property
    def default(self) -> str:
        return self._default

    def __iter__(self) -> Iterator[ModelSpec]:
        return iter(self._specs.values())

    def get(self, name: str) -> ModelSpec:
        """The spec for `name`; the empty name selects the default model."""
        spec = self._specs.get(name or self._default)
        if spec is None:
            raise ModelNotFoundError(f"The model {name!r} does not exist.", model=name)
        return spec

    def attach(self, name: str, backend: Backend) -> None:
        """Marks `name` ready, served by `backend`."""
        self.get(name)
        self._backends[name] = backend
        self._unready.pop(name, None)

    def mark_unready(self, name: str, why: str) -> None:
        """Records why `name` cannot serve (shown to callers who ask for it)."""
        self._unready[name] = why

    def is_ready(self, name: str) -> bool:
        return name in self._backends

    def backend(self, name: str) -> Backend:
        """The loaded backend of `name`, or ModelNotReadyError saying why there is none."""
        spec = self.get(name)
        backend = self._backends.get(spec.name)
        if backend is None:
            why = self._unready.get(spec.name, "it is still loading")
            raise ModelNotReadyError(
                f"The model {spec.name!r} cannot serve requests: {why}.", model=spec.name
            )
        return backend

    async def aclose(self) -> None:
        for backend in self._backends.values():
            await backend.aclose()
        self._backends.clear()
