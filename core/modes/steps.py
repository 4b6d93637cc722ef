"""Chat modes as data: apps (personas) and flows are files, and a turn's mode picks a list of
steps from a fixed set that run before the answer. The four modes are four configurations of
one pipeline:

    normal    → []
    app       → [persona(app)]            (+ retrieve(app's space) if the app names one)
    knowledge → [retrieve(space)]
    flow      → the flow file's steps, e.g. [rewrite, retrieve(space), persona(app)]

Steps: "persona" adds an app's system prompt (and its model, sampling defaults and tools);
"rewrite" asks the model for a standalone search query; "retrieve" puts the top-k chunks of
a knowledge space into the prompt and records them as the reply's sources.
"""

from __future__ import annotations

import logging
import re
import tomllib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from core.errors import ConfigError, NotFoundError, UnimplementedError
from core.knowledge.base import KnowledgeStore
from core.types import ChatMode, GenerationParams, Message, Role, Source, ToolSpec, Turn

logger = logging.getLogger(__name__)

_ID = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
STEP_KINDS = ("persona", "rewrite", "retrieve")
REWRITE_INSTRUCTION = (
    "Rewrite the user's last question as one standalone search query for a knowledge base, "
    "in the question's language. Reply with the query only."
)


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


@dataclass(slots=True)
class Preparation:
    """What the steps add to a turn before the answer."""

    query: str
    model: str = ""
    instructions: list[Message] = field(default_factory=list)
    defaults: GenerationParams = field(default_factory=GenerationParams)
    tools: tuple[ToolSpec, ...] = ()
    sources: list[Source] = field(default_factory=list)


Ask = Callable[[list[Message]], Awaitable[str]]


class Variants:
    """Resolves a turn's mode to its steps and runs them (the apps and flows are data)."""

    def __init__(
        self,
        apps: Mapping[str, App] | None = None,
        flows: Mapping[str, Flow] | None = None,
        knowledge: KnowledgeStore | None = None,
    ) -> None:
        self.apps = dict(apps or {})
        self.flows = dict(flows or {})
        self.knowledge = knowledge

    def steps(self, turn: Turn) -> tuple[Step, ...]:
        """The steps of `turn`'s mode; unknown app/flow ids are NotFoundError."""
        if turn.mode is ChatMode.APP:
            steps: tuple[Step, ...] = (Step("persona", app_id=turn.app_id),)
        elif turn.mode is ChatMode.KNOWLEDGE:
            steps = (Step("retrieve", space_id=turn.space_id),)
        elif turn.mode is ChatMode.FLOW:
            flow = self.flows.get(turn.flow_id)
            if flow is None:
                raise NotFoundError(f"There is no flow {turn.flow_id!r}.", field="flow_id")
            steps = flow.steps
        else:
            return ()
        return tuple(s for step in steps for s in self._expand(step))

    def _expand(self, step: Step) -> tuple[Step, ...]:
        if step.kind != "persona":
            return (step,)
        app = self.apps.get(step.app_id)
        if app is None:
            raise NotFoundError(f"There is no app {step.app_id!r}.", field="app_id")
        return (step, Step("retrieve", space_id=app.space_id)) if app.space_id else (step,)

    def model_for(self, steps: tuple[Step, ...]) -> str:
        """The model the steps ask for (the last persona's), or ""."""
        models = [self.apps[s.app_id].model for s in steps if s.kind == "persona"]
        return next((m for m in reversed(models) if m), "")

    async def prepare(
        self, steps: tuple[Step, ...], turn: Turn, owner: str, ask: Ask
    ) -> Preparation:
        """Runs the steps in order; `ask` runs the turn's model on a side prompt (rewrite)."""
        question = next((m.content for m in reversed(turn.messages) if m.role is Role.USER), "")
        prep = Preparation(query=question)
        for step in steps:
            if step.kind == "persona":
                self._persona(prep, self.apps[step.app_id])
            elif step.kind == "rewrite":
                prep.query = (await ask(_rewrite_prompt(turn.messages))).strip() or prep.query
            else:
                await self._retrieve(prep, step, owner)
        return prep

    def _persona(self, prep: Preparation, app: App) -> None:
        prep.instructions.insert(0, Message(role=Role.SYSTEM, content=app.system_prompt))
        prep.model = app.model or prep.model
        prep.defaults = app.defaults
        prep.tools = app.tools or prep.tools

    async def _retrieve(self, prep: Preparation, step: Step, owner: str) -> None:
        if self.knowledge is None:
            raise UnimplementedError("This server has no knowledge store.", field="space_id")
        hits = await self.knowledge.search(owner, step.space_id, prep.query, k=step.k)
        start = len(prep.sources)
        prep.sources.extend(
            Source(
                h.chunk.chunk_id,
                h.chunk.document_id,
                h.chunk.source,
                h.chunk.title,
                h.score,
                h.chunk.text,
            )
            for h in hits
        )
        if hits:
            prep.instructions.append(
                Message(role=Role.SYSTEM, content=_context(prep.sources[start:], start))
            )


def _rewrite_prompt(messages: tuple[Message, ...]) -> list[Message]:
    kept = [m for m in messages if m.role in (Role.USER, Role.ASSISTANT) and m.content]
    return [Message(role=Role.SYSTEM, content=REWRITE_INSTRUCTION), *kept[-6:]]


def _context(sources: list[Source], offset: int) -> str:
    lines = ["Answer from these knowledge-base excerpts when they are relevant; cite them as [n]."]
    for n, source in enumerate(sources, start=offset + 1):
        lines.append(f"[{n}] {source.title} ({source.source})\n{source.text}")
    return "\n\n".join(lines)


# --- loading apps and flows from files --------------------------------------------------------

_APP_KEYS = {"name", "description", "model", "space_id", "system_prompt", "defaults", "tools"}
_PARAM_KEYS = {f.name for f in fields(GenerationParams)}


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
        if not _ID.fullmatch(path.stem):
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
    function = entry.get("function", entry)
    return ToolSpec(
        name=str(function["name"]),
        description=str(function.get("description", "")),
        parameters=dict(function.get("parameters", {})),
    )


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
