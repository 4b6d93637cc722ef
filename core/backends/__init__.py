"""Backend registry: an explicit lazy table whose keys equal module names and `Backend.kind`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Protocol, cast

from core.backends.base import Backend
from core.registry import import_target

BACKENDS: Final[Mapping[str, str]] = {
    "llama_cpp": "core.backends.llama_cpp:LlamaCppBackend",
    "openai_compat": "core.backends.openai_compat:OpenAICompatBackend",
}


class BackendFactory(Protocol):
    """A backend class: builds an instance (loading weights or clients) from catalog options."""

    kind: str

    def from_options(self, options: Mapping[str, object]) -> Backend: ...


def backend_class(kind: str) -> BackendFactory:
    """Imports the backend class registered under `kind`."""
    return cast(BackendFactory, import_target(BACKENDS, kind, "backend kind"))


def create_backend(kind: str, options: Mapping[str, object]) -> Backend:
    """Builds the backend `kind` from its catalog options; may block (loads weights)."""
    return backend_class(kind).from_options(options)
