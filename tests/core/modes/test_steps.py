"""Modes: a turn's mode → its steps; the steps' persona, rewrite and retrieve (real SQLite)."""

from __future__ import annotations

import pytest

from core.errors import NotFoundError
from core.knowledge import open_knowledge
from core.modes.apps import App, Flow, Step
from core.modes.steps import Modes
from core.types import ChatMode, GenerationParams, Message, Role, ToolSpec, Turn

QUESTION = Message(Role.USER, "What tea is good in winter?")
TEA = App(
    "tea", "Tea", "You are a tea expert.", model="m2", defaults=GenerationParams(temperature=0.2)
)
SHOP = App("shop", "Shop", "You sell tea.", space_id="docs", tools=(ToolSpec("order"),))
FLOW = Flow(
    "faq", (Step("rewrite"), Step("retrieve", space_id="docs", k=2), Step("persona", app_id="tea"))
)


def turn(mode: ChatMode, **ids: str) -> Turn:
    return Turn(messages=(QUESTION,), mode=mode, **ids)


@pytest.fixture
async def knowledge(sqlite_url):
    store = await open_knowledge(sqlite_url)
    await store.create_space("alice", "docs")
    await store.add_document("alice", "docs", "winter.md", "# Winter\n\nPu-erh is good in winter.")
    await store.add_document("alice", "docs", "summer.md", "# Summer\n\nGreen tea cools you down.")
    yield store
    await store.aclose()


def test_each_mode_is_a_list_of_steps():
    modes = Modes({"tea": TEA, "shop": SHOP}, {"faq": FLOW})
    assert modes.steps(turn(ChatMode.NORMAL)) == ()
    assert modes.steps(turn(ChatMode.APP, app_id="tea")) == (Step("persona", app_id="tea"),)
    assert modes.steps(turn(ChatMode.APP, app_id="shop")) == (
        Step("persona", app_id="shop"),
        Step("retrieve", space_id="docs"),
    )
    assert modes.steps(turn(ChatMode.KNOWLEDGE, space_id="docs")) == (
        Step("retrieve", space_id="docs"),
    )
    assert modes.steps(turn(ChatMode.FLOW, flow_id="faq"))[0] == Step("rewrite")
    assert modes.model_for(modes.steps(turn(ChatMode.FLOW, flow_id="faq"))) == "m2"


@pytest.mark.parametrize(
    ("mode", "ids"), [(ChatMode.APP, {"app_id": "nope"}), (ChatMode.FLOW, {"flow_id": "nope"})]
)
def test_unknown_apps_and_flows_are_not_found(mode, ids):
    with pytest.raises(NotFoundError):
        Modes({"tea": TEA}, {"faq": FLOW}).steps(turn(mode, **ids))


async def test_a_persona_adds_its_prompt_defaults_model_and_tools():
    modes = Modes({"shop": SHOP, "tea": TEA})
    prep = await modes.prepare(
        (Step("persona", app_id="tea"),), turn(ChatMode.APP), "alice", _no_ask
    )
    assert prep.instructions == [Message(Role.SYSTEM, "You are a tea expert.")]
    assert (prep.model, prep.defaults.temperature) == ("m2", 0.2)
    shop = await modes.prepare(
        (Step("persona", app_id="shop"),), turn(ChatMode.APP), "alice", _no_ask
    )
    assert shop.tools == (ToolSpec("order"),)


async def test_a_flow_rewrites_then_retrieves_with_the_rewritten_query(knowledge):
    asked: list[list[Message]] = []

    async def ask(messages: list[Message]) -> str:
        asked.append(messages)
        return "winter tea"

    modes = Modes({"tea": TEA}, {"faq": FLOW}, knowledge)
    steps = modes.steps(turn(ChatMode.FLOW, flow_id="faq"))
    prep = await modes.prepare(steps, turn(ChatMode.FLOW, flow_id="faq"), "alice", ask)
    assert prep.query == "winter tea" and asked[0][-1] == QUESTION
    assert prep.sources and prep.sources[0].source == "winter.md"
    assert prep.instructions[0].content == "You are a tea expert."  # the persona leads
    assert "[1]" in prep.instructions[1].content and "Pu-erh" in prep.instructions[1].content


async def test_retrieval_is_the_owners_own(knowledge):
    modes = Modes(knowledge=knowledge)
    step = (Step("retrieve", space_id="docs"),)
    assert (await modes.prepare(step, turn(ChatMode.KNOWLEDGE), "alice", _no_ask)).sources
    with pytest.raises(NotFoundError):
        await modes.prepare(step, turn(ChatMode.KNOWLEDGE), "bob", _no_ask)


async def _no_ask(messages: list[Message]) -> str:
    raise AssertionError("no step here asks the model")
