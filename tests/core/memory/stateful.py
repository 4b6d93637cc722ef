"""A hypothesis state machine driving a MemoryStore against a dict model, with three owners.

Each example gets owners with a fresh random prefix, so examples share one database without
seeing each other; anything another owner (or example) stored leaking into a read fails it.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import pytest
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)

from core.errors import IdempotencyKeyReusedError, ThreadChangedError, ThreadNotFoundError
from core.memory import MemoryStore, open_store
from core.memory.base import TurnRecord
from core.types import FinishReason, Message, Role, ToolCall, Usage

T = TypeVar("T")

SETTINGS = settings(
    max_examples=50,
    stateful_step_count=20,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

THREAD_IDS = ("t0", "t1", "线程")
owners = st.integers(min_value=0, max_value=2)
thread_ids = st.sampled_from(THREAD_IDS)
texts = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=8)
tool_calls = st.lists(st.builds(ToolCall, id=texts, name=texts, arguments=texts), max_size=2)
prompts = st.one_of(
    st.builds(Message, role=st.just(Role.USER), content=texts, name=texts),
    st.builds(Message, role=st.just(Role.TOOL), content=texts, tool_call_id=texts),
)
replies = st.builds(
    Message, role=st.just(Role.ASSISTANT), content=texts, tool_calls=tool_calls.map(tuple)
)
turns = st.tuples(st.lists(prompts, max_size=2), replies).map(lambda p: (*p[0], p[1]))


@dataclass
class ModelThread:
    messages: list[Message] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    updated: int = 0  # order of the last commit, not a time


class MemoryMachine(RuleBasedStateMachine):
    """Random commits, retries, reads, listings and deletes, checked against a dict model."""

    store: ClassVar[MemoryStore]
    runner: ClassVar[asyncio.Runner]

    def __init__(self) -> None:
        super().__init__()
        prefix = uuid.uuid4().hex[:8]
        self.owners = [f"{prefix}-owner-{i}" for i in range(3)]
        self.threads: dict[tuple[int, str], ModelThread] = {}
        self.turns: dict[tuple[int, str], TurnRecord] = {}  # (owner, key) → stored turn
        self.clock = itertools.count(1)

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(coroutine)

    @initialize(seeds=st.lists(st.tuples(owners, thread_ids, turns), min_size=2, max_size=5))
    def seed(self, seeds: list[tuple[int, str, tuple[Message, ...]]]) -> None:
        for owner, thread_id, messages in seeds:
            self.commit(owner, thread_id, messages)

    @rule(owner=owners, thread_id=thread_ids, messages=turns)
    def commit(self, owner: int, thread_id: str, messages: tuple[Message, ...]) -> None:
        self._commit(owner, thread_id, messages, keyed=False)

    @rule(owner=owners, thread_id=thread_ids, messages=turns)
    def commit_with_key(self, owner: int, thread_id: str, messages: tuple[Message, ...]) -> None:
        self._commit(owner, thread_id, messages, keyed=True)

    def _commit(
        self, owner: int, thread_id: str, messages: tuple[Message, ...], *, keyed: bool
    ) -> None:
        thread = self.threads.get((owner, thread_id), ModelThread())
        key = uuid.uuid4().hex if keyed else ""
        turn = _record(thread_id, messages, key, request_hash=key[:6])
        stored = self.run(self.store.commit_turn(self.owners[owner], len(thread.messages), turn))
        assert stored == turn
        thread.messages += messages
        thread.updated = next(self.clock)
        self.threads[owner, thread_id] = thread
        if key:
            thread.keys.append(key)
            self.turns[owner, key] = turn

    @rule(owner=owners, thread_id=thread_ids, messages=turns, offset=st.sampled_from([-2, 1, 4]))
    def commit_at_a_stale_seq(
        self, owner: int, thread_id: str, messages: tuple[Message, ...], offset: int
    ) -> None:
        thread = self.threads.get((owner, thread_id), ModelThread())
        base_seq = len(thread.messages) + offset
        if base_seq < 0:
            base_seq = len(thread.messages) + 1
        with pytest.raises(ThreadChangedError):
            self.run(
                self.store.commit_turn(self.owners[owner], base_seq, _record(thread_id, messages))
            )

    @precondition(lambda self: self.turns)
    @rule(data=st.data(), same_body=st.booleans())
    def retry(self, data: st.DataObject, same_body: bool) -> None:
        owner, key = data.draw(st.sampled_from(sorted(self.turns)))
        stored = self.turns[owner, key]
        request_hash = stored.request_hash if same_body else "other"
        retry = _record(stored.thread_id, stored.messages, key, request_hash)
        head = len(self.threads[owner, stored.thread_id].messages)
        if same_body:
            assert self.run(self.store.commit_turn(self.owners[owner], head, retry)) == stored
        else:
            with pytest.raises(IdempotencyKeyReusedError):
                self.run(self.store.commit_turn(self.owners[owner], head, retry))
        for other in range(3):
            found = self.run(self.store.find_turn(self.owners[other], key))
            assert found == (stored if other == owner else None)

    @rule(owner=owners, thread_id=thread_ids)
    def read(self, owner: int, thread_id: str) -> None:
        thread = self.threads.get((owner, thread_id))
        expected = tuple(thread.messages) if thread else ()
        history = self.run(self.store.load_history(self.owners[owner], thread_id))
        assert history == (expected, len(expected))
        if thread is None:
            with pytest.raises(ThreadNotFoundError):
                self.run(self.store.get_thread(self.owners[owner], thread_id))
            return
        stored = self.run(self.store.get_thread(self.owners[owner], thread_id))
        assert tuple(m.message for m in stored.messages) == expected
        assert [m.seq for m in stored.messages] == list(range(len(expected)))

    @rule(owner=owners, page_size=st.integers(min_value=1, max_value=3))
    def list_all(self, owner: int, page_size: int) -> None:
        listed: list[tuple[str, int]] = []
        token = ""
        for _ in range(len(THREAD_IDS) + 1):  # bounded: a cursor that repeats must not hang
            page = self.run(
                self.store.list_threads(self.owners[owner], page_size=page_size, page_token=token)
            )
            assert 0 < len(page.threads) <= page_size or (not listed and not page.threads)
            listed += [(s.thread_id, s.message_count) for s in page.threads]
            token = page.next_page_token
            if not token:
                break
        assert not token, "paging did not end"
        mine = sorted(
            ((t, m) for (o, t), m in self.threads.items() if o == owner),
            key=lambda item: item[1].updated,
            reverse=True,
        )
        assert listed == [(t, len(m.messages)) for t, m in mine]

    @rule(owner=owners, thread_id=thread_ids)
    def delete(self, owner: int, thread_id: str) -> None:
        thread = self.threads.pop((owner, thread_id), None)
        if thread is None:
            with pytest.raises(ThreadNotFoundError):
                self.run(self.store.delete_thread(self.owners[owner], thread_id))
            return
        self.run(self.store.delete_thread(self.owners[owner], thread_id))
        for key in thread.keys:
            del self.turns[owner, key]
            assert self.run(self.store.find_turn(self.owners[owner], key)) is None


def _record(
    thread_id: str, messages: tuple[Message, ...], key: str = "", request_hash: str = ""
) -> TurnRecord:
    return TurnRecord(
        turn_id=f"turn_{uuid.uuid4().hex}",
        thread_id=thread_id,
        messages=messages,
        model="scripted",
        finish_reason=FinishReason.TOOL_CALLS if messages[-1].tool_calls else FinishReason.STOP,
        usage=Usage(prompt_tokens=len(messages), completion_tokens=1),
        idempotency_key=key,
        request_hash=request_hash,
        created=1_700_000_000.5,
    )


def run_memory_state_machine(url: str) -> None:
    """Run MemoryMachine against a store opened on `url`, on a private event loop."""
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
        store = runner.run(open_store(url))
        try:

            class MemoryMachineOnStore(MemoryMachine):
                pass

            MemoryMachineOnStore.store = store
            MemoryMachineOnStore.runner = runner
            run_state_machine_as_test(MemoryMachineOnStore, settings=SETTINGS)
        finally:
            runner.run(store.aclose())
