"""ModelCatalog: public model name → backend kind, options, tool-call format and context window.

The catalog is data. Backends are attached to their entries once they are loaded, so a model
that is configured but still loading (or missing its key) answers with a clear error instead
of being unknown.
"""

from __future__ import annotations

import logging
import time
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from core.backends.base import Backend
from core.backends.openai_wire import OWNED_FIELDS
from core.errors import (
    ChatError,
    ConfigError,
    ModelNotFoundError,
    ModelNotReadyError,
)
from core.reasoning import reasoning_parser_class
from core.routing.config import ROUTE_KEYS, RouteSpec, route_spec
from core.routing.deployment import Deployment
from core.routing.health import HealthChecks
from core.routing.router import Router
from core.routing.shared import SharedBreakers
from core.settings import Settings
from core.types import REQUEST_ONLY_PARAMS, GenerationParams

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EmbeddingSpec:
    """A catalog entry's `[embeddings]` table: the model computes embedding vectors.

    `dimensions` is the vectors' length. `shortening` says a request may ask for fewer
    (`dimensions` in the request): only models trained for it (OpenAI's text-embedding-3,
    Matryoshka models) keep their meaning when cut; for the others the core refuses it.
    """

    dimensions: int
    shortening: bool = False


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One catalog entry: how to serve a public model name."""

    name: str
    backend: str
    context_window: int
    options: Mapping[str, object] = field(default_factory=dict)
    max_output_tokens: int = 0  # the most a reply may have (hosted APIs cap it); 0: the window
    tool_format: str = ""
    reasoning_format: str = ""  # a core.reasoning format: the model writes its thinking inline
    owned_by: str = "chatrpc"
    defaults: GenerationParams = field(default_factory=GenerationParams)
    embeddings: EmbeddingSpec | None = None  # None: the model does not embed
    route: RouteSpec | None = None  # None: one upstream, no router (core/routing)
    # Provider-specific request fields the model takes (GenerationParams.extra), by name.
    extra_params: frozenset[str] = frozenset()
    vision: bool = False  # the model takes image parts
    created: int = field(default_factory=lambda: int(time.time()))
    # US dollars per million prompt (input) and completion (output) tokens; 0: not priced.
    # Spend and money budgets (core.keys.budgets) use them.
    input_price: float = 0.0
    output_price: float = 0.0

    @property
    def output_limit(self) -> int:
        """The largest max_tokens a request (or a default) may ask of this model."""
        return min(self.max_output_tokens or self.context_window, self.context_window)


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
        self._unready: dict[str, ChatError] = {}
        self.shared: SharedBreakers | None = None  # set by load_models with a Redis URL
        self.health: HealthChecks | None = None  # set by load_models (routers' probes)
        for spec in specs:
            self._check_route(spec)

    def _check_route(self, spec: ModelSpec) -> None:
        """Fallbacks name other models; routing is for openai_compat models only (a local
        model's one-at-a-time admission, core/backends/admission.py, is not the router's)."""
        route = spec.route or RouteSpec()
        routed = [spec.name] if spec.route else []
        for name in (*route.fallbacks, *route.context_window_fallbacks):
            if name not in self._specs or name == spec.name:
                raise ConfigError(f"model {spec.name!r}: fallback {name!r} is not another model")
            routed.append(name)
        local = [n for n in routed if self._specs[n].backend != "openai_compat"]
        if local:
            raise ConfigError(f"routing and fallbacks are for openai_compat models, not {local}")

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

    def mark_unready(self, name: str, error: ChatError) -> None:
        """Records the error callers who ask for `name` get (for example a missing key)."""
        self._unready[name] = error

    def is_ready(self, name: str) -> bool:
        return name in self._backends

    def backend(self, name: str) -> Backend:
        """The loaded backend of `name`, or ModelNotReadyError saying why there is none."""
        spec = self.get(name)
        backend = self._backends.get(spec.name)
        if backend is None:
            raise self._unready.get(spec.name) or ModelNotReadyError(
                f"The model {spec.name!r} is still loading.", model=spec.name
            )
        return backend

    def deployments(self, name: str) -> tuple[Deployment, ...]:
        """The deployments of a routed model (none for other models)."""
        backend = self._backends.get(name)
        return backend.deployments if isinstance(backend, Router) else ()

    async def aclose(self) -> None:
        for backend in self._backends.values():
            await backend.aclose()
        self._backends.clear()
        for task in (self.shared, self.health):
            if task is not None:
                await task.aclose()


_SPEC_KEYS = {
    "backend", "context_window", "max_output_tokens", "tool_format", "owned_by", "options",
    "defaults", "embeddings", "reasoning_format", "input_price", "output_price", *ROUTE_KEYS,
    "extra_params", "vision",
}  # fmt: skip
_PARAM_KEYS = {f.name for f in fields(GenerationParams)} - REQUEST_ONLY_PARAMS


def load_specs(path: Path) -> list[ModelSpec]:
    """The catalog file's entries, in file order (the first is the default model)."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read the model catalog {path}: {exc}") from None
    models = document.get("models")
    if not isinstance(models, dict) or not models:
        raise ConfigError(f"{path} declares no [models.<name>] entries")
    return [_spec(name, entry, path) for name, entry in models.items()]


def _spec(name: str, entry: Any, path: Path) -> ModelSpec:
    where = f"{path}: models.{name}"
    if not isinstance(entry, dict) or not set(entry) <= _SPEC_KEYS:
        unknown = sorted(set(entry) - _SPEC_KEYS) if isinstance(entry, dict) else entry
        raise ConfigError(f"{where}: unknown keys {unknown}")
    defaults = entry.get("defaults", {})
    if not set(defaults) <= _PARAM_KEYS:
        raise ConfigError(f"{where}.defaults: unknown keys {sorted(set(defaults) - _PARAM_KEYS)}")
    if "stop" in defaults:
        defaults = {**defaults, "stop": tuple(defaults["stop"])}
    try:
        spec = ModelSpec(
            name=name,
            backend=str(entry["backend"]),
            context_window=int(entry["context_window"]),
            max_output_tokens=int(entry.get("max_output_tokens", 0)),
            options=dict(entry.get("options", {})),
            tool_format=str(entry.get("tool_format", "")),
            reasoning_format=str(entry.get("reasoning_format", "")),
            owned_by=str(entry.get("owned_by", "chatrpc")),
            defaults=GenerationParams(**defaults),
            embeddings=_embedding_spec(entry.get("embeddings"), f"{where}.embeddings"),
            route=route_spec(entry, where),
            input_price=float(entry.get("input_price", 0.0)),
            output_price=float(entry.get("output_price", 0.0)),
            extra_params=_extra_params(entry.get("extra_params", []), f"{where}.extra_params"),
            vision=entry.get("vision", False) is True,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None
    if not isinstance(entry.get("vision", False), bool):
        raise ConfigError(f"{where}: vision must be true or false")
    if spec.reasoning_format:
        reasoning_parser_class(spec.reasoning_format)  # ConfigError naming the known formats
    if spec.input_price < 0 or spec.output_price < 0:
        raise ConfigError(f"{where}: input_price and output_price must be >= 0")
    if spec.context_window < 1 or spec.max_output_tokens < 0:
        raise ConfigError(f"{where}: context_window must be positive, max_output_tokens >= 0")
    if spec.defaults.max_tokens is not None and spec.defaults.max_tokens > spec.output_limit:
        raise ConfigError(
            f"{where}.defaults: max_tokens {spec.defaults.max_tokens} is above the model's "
            f"output limit {spec.output_limit}"
        )
    return spec


def _extra_params(names: Any, where: str) -> frozenset[str]:
    """The allow-list of provider fields: names a request may not already carry otherwise."""
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise ConfigError(f"{where}: expected a list of field names")
    owned = sorted(OWNED_FIELDS.intersection(names))
    if owned:
        raise ConfigError(f"{where}: {', '.join(owned)} are fields the contract carries")
    return frozenset(names)


def _embedding_spec(table: Any, where: str) -> EmbeddingSpec | None:
    if table is None:
        return None
    if not isinstance(table, dict) or not set(table) <= {"dimensions", "shortening"}:
        raise ConfigError(f"{where}: expected a table of dimensions and shortening")
    dimensions, shortening = table.get("dimensions"), table.get("shortening", False)
    if not isinstance(dimensions, int) or isinstance(dimensions, bool) or dimensions < 1:
        raise ConfigError(f"{where}: dimensions must be a positive integer")
    if not isinstance(shortening, bool):
        raise ConfigError(f"{where}: shortening must be true or false")
    return EmbeddingSpec(dimensions=dimensions, shortening=shortening)


def override_embedded(
    specs: list[ModelSpec], name: str | None, path: str | None, window: int | None
) -> list[ModelSpec]:
    """Applies CHATRPC_MODEL_NAME / _PATH / CONTEXT_WINDOW to the first llama_cpp entry.

    A renamed entry replaces any other entry of that name (so `CHATRPC_MODEL_NAME=qwen-flash`
    serves the embedded model as qwen-flash).
    """
    index = next((i for i, s in enumerate(specs) if s.backend == "llama_cpp"), None)
    if index is None:
        return specs
    spec = specs[index]
    options = dict(spec.options)
    if path:
        options["model_path"] = path
    if window:
        options["context_window"] = window
    spec = replace(
        spec, name=name or spec.name, options=options, context_window=window or spec.context_window
    )
    shadowed = [s.name for i, s in enumerate(specs) if s.name == spec.name and i != index]
    if shadowed:
        logger.info(
            "model %s now serves the embedded model; its catalog entry is unused", spec.name
        )
    return [
        spec if i == index else s for i, s in enumerate(specs) if s.name != spec.name or i == index
    ]


def resolve_key(spec: ModelSpec, environ: Mapping[str, str]) -> tuple[dict[str, object], str]:
    """The spec's backend options with `api_key_env` resolved to `api_key`.

    Returns (options, missing) where `missing` names the variables to set when none is.
    """
    options = dict(spec.options)
    declared = options.pop("api_key_env", None)
    if declared is None:
        return options, ""
    names = [declared] if isinstance(declared, str) else [str(n) for n in declared]  # type: ignore[attr-defined]
    for variable in names:
        if environ.get(variable):
            options["api_key"] = environ[variable]
            return options, ""
    return options, " or ".join(names)


def build_catalog(settings: Settings) -> ModelCatalog:
    """The catalog file's models, with the embedded-model overrides from the environment."""
    specs = load_specs(Path(settings.models_file))
    specs = override_embedded(
        specs, settings.model_name, settings.model_path, settings.context_window
    )
    local = {"n_threads": settings.n_threads}
    return ModelCatalog(
        [
            replace(s, options={**s.options, **local, "context_window": s.context_window})
            if s.backend == "llama_cpp"
            else s
            for s in specs
        ]
    )
