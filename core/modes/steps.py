"""A turn's mode as a list of steps, run before the answer. The four modes are four
configurations of one pipeline:

    normal    → []
    app       → [persona(app)]            (+ retrieve(app's space) if the app names one)
    knowledge → [retrieve(space)]
    flow      → the flow file's steps, e.g. [rewrite, retrieve(space), persona(app)]

Steps: "persona" adds an app's system prompt (and its model, sampling defaults and tools);
"rewrite" asks the model for a standalone search query; "retrieve" puts the top-k chunks of
a knowledge space into the prompt and records them as the reply's sources.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from opentelemetry import trace

from core.errors import NotFoundError, UnimplementedError
from core.knowledge.base import KnowledgeStore
from core.modes.apps import App, Flow, Step
from core.types import ChatMode, GenerationParams, Message, Role, Source, ToolSpec, Turn

tracer = trace.get_tracer("core.modes")

REWRITE_INSTRUCTION = (
    "Rewrite the user's last question as one standalone search query for a knowledge base, "
    "in the question's language. Reply with the query only."
)


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


class Modes:
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
        with tracer.start_as_current_span("retrieval", attributes={"chatrpc.k": step.k}):
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
