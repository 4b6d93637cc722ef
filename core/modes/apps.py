"""Apps (personas) and flows as data: their types, and loading them from TOML files.

An app is a persona: system prompt, optional model, sampling defaults, knowledge space and
tools (config/apps/<id>.toml). A flow is a named list of steps (config/flows/<id>.toml) from
the fixed set in STEP_KINDS; core.modes.steps runs them.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from core.errors import ConfigError
from core.types import ID_PATTERN, REQUEST_ONLY_PARAMS, GenerationParams, ToolSpec

STEP_KINDS = ("persona", "rewrite", "retrieve")


@dataclass(frozen=True, slots=True)
class App:
    """A persona: system prompt, optional model, sampling defaults, knowledge space and tools."""

    id: str
    name: str
    system_prompt: str
    description: str = ""
    model: str = ""
    space_id: str = ""
    defaults: GenerationParams = field(default_factory=GenerationParams)
    tools: tuple[ToolSpec, ...] = ()


@dataclass(frozen=True, slots=True)
class Step:
    """One pre-answer step of a flow."""

    kind: str
    app_id: str = ""
    space_id: str = ""
    k: int = 4


@dataclass(frozen=True, slots=True)
class Flow:
    """A named list of steps."""

    id: str
    steps: tuple[Step, ...]
    description: str = ""


_APP_KEYS = {"name", "description", "model", "space_id", "system_prompt", "defaults", "tools"}
_PARAM_KEYS = {f.name for f in fields(GenerationParams)} - REQUEST_ONLY_PARAMS


def load_apps(directory: Path) -> dict[str, App]:
    """Every `<id>.toml` in `directory` as an App (a missing directory holds no apps)."""
    return {path.stem: _app(path) for path in _files(directory)}


def load_flows(directory: Path, apps: Mapping[str, App]) -> dict[str, Flow]:
    """Every `<id>.toml` in `directory` as a Flow whose persona steps name known apps."""
    flows = {path.stem: _flow(path) for path in _files(directory)}
    for flow in flows.values():
        for step in flow.steps:
            if step.kind == "persona" and step.app_id not in apps:
                raise ConfigError(f"flow {flow.id}: unknown app {step.app_id!r}")
    return flows


def _files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    paths = sorted(directory.glob("*.toml"))
    for path in paths:
        if not ID_PATTERN.fullmatch(path.stem):
            raise ConfigError(f"{path}: file names are ids of [A-Za-z0-9_.:-]")
    return paths


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None


def _app(path: Path) -> App:
    data = _read(path)
    unknown = set(data) - _APP_KEYS
    defaults = data.get("defaults", {})
    if (
        unknown
        or not set(defaults) <= _PARAM_KEYS
        or not str(data.get("system_prompt", "")).strip()
    ):
        raise ConfigError(f"{path}: needs system_prompt; unknown keys {sorted(unknown)}")
    if "stop" in defaults:
        defaults = {**defaults, "stop": tuple(defaults["stop"])}
    tools = tuple(_tool(t) for t in data.get("tools", []))
    return App(
        id=path.stem,
        name=str(data.get("name", path.stem)),
        system_prompt=str(data["system_prompt"]).strip(),
        description=str(data.get("description", "")),
        model=str(data.get("model", "")),
        space_id=str(data.get("space_id", "")),
        defaults=GenerationParams(**defaults),
        tools=tools,
    )


def _tool(entry: dict[str, Any]) -> ToolSpec:
    """One `[[tools]]` table: name, description and parameters (a JSON Schema), as the
    contract's Tool has them."""
    if not isinstance(entry, dict) or "name" not in entry or set(entry) - _TOOL_KEYS:
        raise ConfigError(f"an app's [[tools]] entries have only {sorted(_TOOL_KEYS)}: {entry}")
    return ToolSpec(
        name=str(entry["name"]),
        description=str(entry.get("description", "")),
        parameters=dict(entry.get("parameters", {})),
    )


_TOOL_KEYS = {"name", "description", "parameters"}


def _flow(path: Path) -> Flow:
    data = _read(path)
    steps = []
    for raw in data.get("steps", []):
        if raw.get("kind") not in STEP_KINDS or not set(raw) <= {"kind", "app_id", "space_id", "k"}:
            raise ConfigError(
                f"{path}: steps need a kind of {STEP_KINDS} and only app_id, space_id, k"
            )
        steps.append(
            Step(
                raw["kind"],
                str(raw.get("app_id", "")),
                str(raw.get("space_id", "")),
                int(raw.get("k", 4)),
            )
        )
    if not steps or not 1 <= len(steps) <= 8:
        raise ConfigError(f"{path}: a flow has 1-8 steps")
    return Flow(id=path.stem, steps=tuple(steps), description=str(data.get("description", "")))
