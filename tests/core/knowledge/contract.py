"""KnowledgeStoreContract: the behaviour every KnowledgeStore must show, as a mixin of tests.

A store's test module subclasses it with the mixin of its database (tests.core.storage.contract,
as the memory contract); quirks of one store live beside the subclass.
"""

from __future__ import annotations

import asyncio

import pytest

from core.errors import ConflictError, InvalidArgumentError, NotFoundError
from core.knowledge import KNOWLEDGE_STORES, KnowledgeStore
from core.knowledge.base import MAX_K
from tests.core.storage.contract import StoreContract

TEA_MD = """# 半盏青年茶馆

半盏青年茶馆开在老城区的青石巷里，是一家适合看书、聊天和慢慢喝茶的小茶馆。

## 营业时间

茶馆每天上午十点开门，晚上十点打烊；每周一店休，节假日照常营业。

## 茶单

招牌是桂花乌龙和陈皮普洱，也有茉莉绿茶、白毫银针和当季水果茶。每壶茶可以免费续水两次。

## 地址

老城区青石巷十二号，地铁二号线文庙站 B 口步行五分钟。
"""

HARBOR_MD = """# Harbor Tea House

A small tea house by the ferry pier, run by the same family since 1987.

## Opening hours

The Harbor Tea House is open from 9 am to 6 pm every day except Monday.

## Menu

We serve green tea, oolong and black tea, with scones baked each morning.
"""

BIKES_MD = """# Bicycle care

## Chains

Clean and oil the chain every few hundred kilometres, and replace it when it stretches.

## Tyres

Check the tyre pressure every week; soft tyres wear quickly and puncture easily.
"""

CORPUS = {"docs/tea.md": TEA_MD, "docs/harbor.md": HARBOR_MD, "docs/bikes.md": BIKES_MD}

HOSTILE_QUERIES = [
    '" OR 1=1 --',
    "NEAR(",
    "*",
    "'; DROP TABLE knowledge_chunks; --",
    'tea" OR "x',
    "text: tea",
    "^tea",
    "{text}: tea AND NOT house",
    "tea*",
    "(((",
    "%_%",
    "\\",
    '茶馆" OR "1',
    "tea\x00house\ud800",
    "x" * 5000,
    "tea house " * 2000 + "茶馆几点开门" * 500,
]


class KnowledgeStoreContract(StoreContract):
    """Behaviour shared by every knowledge store; see tests.core.storage.contract."""

    registry = KNOWLEDGE_STORES

    @staticmethod
    async def read(store: KnowledgeStore) -> object:
        return await store.list_spaces("alice")

    @pytest.fixture
    async def corpus(self, store: KnowledgeStore) -> KnowledgeStore:
        """Alice's space "tea" holding CORPUS."""
        await store.create_space("alice", "tea", "Tea houses", "shops and bikes")
        for source, text in CORPUS.items():
            await store.add_document("alice", "tea", source, text)
        return store

    # --- spaces -----------------------------------------------------------------------------

    async def test_erase_owner_deletes_every_space_document_and_chunk_of_theirs_only(
        self, store: KnowledgeStore
    ) -> None:
        for owner in ("alice", "bob"):
            await store.create_space(owner, "tea")
            await store.add_document(owner, "tea", "a.md", "# Tea\n\nLongjing is green.")
        await store.create_space("alice", "empty")

        counts = await store.erase_owner("alice")

        assert counts["knowledge_spaces"] == 2 and counts["knowledge_documents"] == 1
        assert counts["knowledge_chunks"] >= 1
        assert await store.list_spaces("alice") == ()
        assert await store.search("bob", "tea", "Longjing")
        assert set((await store.erase_owner("alice")).values()) == {0}  # idempotent

    async def test_create_get_list_and_delete_spaces(self, store: KnowledgeStore) -> None:
        created = await store.create_space("alice", "tea", "Tea", "about tea")
        await store.create_space("alice", "a.b:c-d_e")

        assert (created.space_id, created.name, created.description) == ("tea", "Tea", "about tea")
        assert created.document_count == 0
        assert await store.get_space("alice", "tea") == created
        assert [s.space_id for s in await store.list_spaces("alice")] == ["a.b:c-d_e", "tea"]

        await store.delete_space("alice", "tea")

        with pytest.raises(NotFoundError):
            await store.get_space("alice", "tea")
        assert [s.space_id for s in await store.list_spaces("alice")] == ["a.b:c-d_e"]

    async def test_an_existing_space_id_is_a_conflict(self, store: KnowledgeStore) -> None:
        await store.create_space("alice", "tea", "first")
        with pytest.raises(ConflictError):
            await store.create_space("alice", "tea", "second")
        assert (await store.get_space("alice", "tea")).name == "first"

    async def test_unknown_spaces_are_not_found(self, store: KnowledgeStore) -> None:
        with pytest.raises(NotFoundError):
            await store.get_space("alice", "nope")
        with pytest.raises(NotFoundError):
            await store.delete_space("alice", "nope")
        with pytest.raises(NotFoundError):
            await store.add_document("alice", "nope", "a.md", "text")
        with pytest.raises(NotFoundError):
            await store.list_documents("alice", "nope")
        with pytest.raises(NotFoundError):
            await store.search("alice", "nope", "anything at all")
        assert await store.list_spaces("alice") == ()

    @pytest.mark.parametrize("space_id", ["", "has space", "a/b", "é", "x" * 129, "a\x00"])
    async def test_malformed_space_ids_are_invalid_arguments(
        self, store: KnowledgeStore, space_id: str
    ) -> None:
        calls = [
            store.create_space("alice", space_id),
            store.get_space("alice", space_id),
            store.delete_space("alice", space_id),
            store.add_document("alice", space_id, "a.md", "text"),
            store.list_documents("alice", space_id),
            store.search("alice", space_id, "text"),
        ]
        for call in calls:
            with pytest.raises(InvalidArgumentError) as caught:
                await call
            assert caught.value.field == "space_id"

    async def test_an_empty_owner_is_rejected_everywhere(self, store: KnowledgeStore) -> None:
        calls = [
            store.create_space("", "tea"),
            store.get_space("", "tea"),
            store.list_spaces(""),
            store.delete_space("", "tea"),
            store.add_document("", "tea", "a.md", "text"),
            store.list_documents("", "tea"),
            store.search("", "tea", "text"),
        ]
        for call in calls:
            with pytest.raises(ValueError, match="owner"):
                await call

    # --- owners -----------------------------------------------------------------------------

    async def test_one_space_id_for_two_owners_is_two_spaces(self, store: KnowledgeStore) -> None:
        await store.create_space("alice", "tea", "Alice's")
        await store.create_space("bob", "tea", "Bob's")
        await store.add_document("alice", "tea", "tea.md", TEA_MD)
        await store.add_document("bob", "tea", "bikes.md", BIKES_MD)

        alice_hits = await store.search("alice", "tea", "茶馆几点开门？", k=10)
        bob_hits = await store.search("bob", "tea", "茶馆几点开门？", k=10)

        assert alice_hits and {h.chunk.source for h in alice_hits} == {"tea.md"}
        assert bob_hits == ()
        assert {h.chunk.source for h in await store.search("bob", "tea", "chain tyres")} == {
            "bikes.md"
        }
        assert await store.search("alice", "tea", "chain tyres") == ()
        assert [d.source for d in await store.list_documents("bob", "tea")] == ["bikes.md"]

        await store.delete_space("bob", "tea")

        assert (await store.get_space("alice", "tea")).name == "Alice's"
        assert (await store.get_space("alice", "tea")).document_count == 1
        with pytest.raises(NotFoundError):
            await store.get_space("bob", "tea")

    async def test_another_owners_space_looks_absent(self, store: KnowledgeStore) -> None:
        await store.create_space("alice", "private")
        await store.add_document("alice", "private", "tea.md", TEA_MD)

        assert await store.list_spaces("mallory") == ()
        for call in (
            store.get_space("mallory", "private"),
            store.search("mallory", "private", "茶馆几点开门"),
            store.add_document("mallory", "private", "x.md", "x"),
            store.delete_space("mallory", "private"),
        ):
            with pytest.raises(NotFoundError):
                await call
        assert (await store.get_space("alice", "private")).document_count == 1

    # --- documents --------------------------------------------------------------------------

    async def test_add_document_chunks_and_counts(self, store: KnowledgeStore) -> None:
        await store.create_space("alice", "tea")

        document = await store.add_document("alice", "tea", "docs/tea.md", TEA_MD)

        assert document.space_id == "tea"
        assert document.source == "docs/tea.md"
        assert document.title == "半盏青年茶馆"
        assert document.chunk_count == 4  # one per section
        assert await store.list_documents("alice", "tea") == (document,)
        assert (await store.get_space("alice", "tea")).document_count == 1

    async def test_titles_default_to_the_file_name_and_can_be_given(
        self, store: KnowledgeStore
    ) -> None:
        await store.create_space("alice", "tea")
        plain = await store.add_document("alice", "tea", "notes/plain.txt", "no heading here")
        named = await store.add_document("alice", "tea", "b.md", TEA_MD, title="Tea house")
        assert (plain.title, named.title) == ("plain.txt", "Tea house")

    async def test_readding_a_source_replaces_its_chunks(self, store: KnowledgeStore) -> None:
        await store.create_space("alice", "tea")
        first = await store.add_document("alice", "tea", "menu.md", "# Menu\n\nJasmine pearls.")
        await store.add_document("alice", "tea", "other.md", "Jasmine rice, elsewhere.")

        second = await store.add_document("alice", "tea", "menu.md", "# Menu\n\nLapsang souchong.")

        assert second.document_id != first.document_id
        documents = await store.list_documents("alice", "tea")
        assert [d.source for d in documents] == ["menu.md", "other.md"]
        assert second in documents
        jasmine = await store.search("alice", "tea", "jasmine")
        assert [h.chunk.source for h in jasmine] == ["other.md"]
        souchong = await store.search("alice", "tea", "souchong")
        assert [h.chunk.document_id for h in souchong] == [second.document_id]

    async def test_concurrent_adds_of_one_source_leave_one_version(
        self, store: KnowledgeStore
    ) -> None:
        await store.create_space("alice", "tea")
        texts = [f"version {i} of the menu, word{i}xyz" for i in range(8)]

        added = await asyncio.gather(
            *(store.add_document("alice", "tea", "menu.md", t) for t in texts)
        )

        documents = await store.list_documents("alice", "tea")
        assert len(documents) == 1 and documents[0] in added
        hits = await store.search("alice", "tea", "version menu", k=MAX_K)
        assert [h.chunk.document_id for h in hits] == [documents[0].document_id]

    async def test_an_empty_document_is_stored_without_chunks(self, store: KnowledgeStore) -> None:
        await store.create_space("alice", "tea")
        await store.add_document("alice", "tea", "a.md", "Darjeeling first flush.")

        emptied = await store.add_document("alice", "tea", "a.md", "  \n\n ")

        assert emptied.chunk_count == 0
        assert await store.search("alice", "tea", "darjeeling") == ()

    @pytest.mark.parametrize(
        ("source", "text", "title", "field"),
        [
            ("", "text", "", "source"),
            ("  ", "text", "", "source"),
            ("a\x00.md", "text", "", "source"),
            ("a.md", "nul \x00 inside", "", "text"),
            ("a.md", "lone \ud800 surrogate", "", "text"),
            ("a.md", "text", "bad\x00title", "title"),
        ],
    )
    async def test_unstorable_documents_are_invalid_arguments(
        self, store: KnowledgeStore, source: str, text: str, title: str, field: str
    ) -> None:
        await store.create_space("alice", "tea")
        with pytest.raises(InvalidArgumentError) as caught:
            await store.add_document("alice", "tea", source, text, title)
        assert caught.value.field == field
        assert await store.list_documents("alice", "tea") == ()

    async def test_deleting_a_space_deletes_its_documents(self, store: KnowledgeStore) -> None:
        await store.create_space("alice", "tea")
        await store.add_document("alice", "tea", "tea.md", TEA_MD)

        await store.delete_space("alice", "tea")
        await store.create_space("alice", "tea")

        assert await store.list_documents("alice", "tea") == ()
        assert await store.search("alice", "tea", "茶馆几点开门？") == ()

    # --- search -----------------------------------------------------------------------------

    @pytest.mark.parametrize(
        ("question", "source", "title", "answer", "same_language"),
        [
            ("茶馆几点开门？", "docs/tea.md", "半盏青年茶馆", "十点开门", {"docs/tea.md"}),
            (
                "What time does the tea house open?",
                "docs/harbor.md",
                "Harbor Tea House",
                "9 am to 6 pm",
                {"docs/harbor.md", "docs/bikes.md"},
            ),
        ],
        ids=["chinese", "english"],
    )
    async def test_a_question_finds_the_opening_hours_in_its_own_language_first(
        self,
        corpus: KnowledgeStore,
        question: str,
        source: str,
        title: str,
        answer: str,
        same_language: set[str],
    ) -> None:
        hits = await corpus.search("alice", "tea", question)

        assert (hits[0].chunk.source, hits[0].chunk.title) == (source, title)
        assert answer in hits[0].chunk.text
        assert {h.chunk.source for h in hits} <= same_language

    async def test_a_chinese_question_of_two_character_words_still_matches(
        self, corpus: KnowledgeStore
    ) -> None:
        hits = await corpus.search("alice", "tea", "茶单有什么？")
        assert "桂花乌龙" in hits[0].chunk.text

    async def test_hits_carry_citations_and_scores_best_first(self, corpus: KnowledgeStore) -> None:
        hits = await corpus.search("alice", "tea", "tea house menu scones", k=MAX_K)
        documents = {d.document_id: d for d in await corpus.list_documents("alice", "tea")}

        assert hits[0].score == 1.0
        assert all(0 < h.score <= 1 for h in hits)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        assert len({h.chunk.chunk_id for h in hits}) == len(hits)
        for hit in hits:
            document = documents[hit.chunk.document_id]
            assert (hit.chunk.source, hit.chunk.title) == (document.source, document.title)
            assert 0 <= hit.chunk.ordinal < document.chunk_count

    @pytest.mark.parametrize("k", [1, 2, 3])
    async def test_at_most_k_hits(self, corpus: KnowledgeStore, k: int) -> None:
        assert len(await corpus.search("alice", "tea", "tea house open menu the", k=k)) == k
        assert len(await corpus.search("alice", "tea", "茶馆", k=k)) <= k

    @pytest.mark.parametrize("k", [0, -1, MAX_K + 1])
    async def test_k_out_of_range_is_an_invalid_argument(
        self, corpus: KnowledgeStore, k: int
    ) -> None:
        with pytest.raises(InvalidArgumentError) as caught:
            await corpus.search("alice", "tea", "tea", k=k)
        assert caught.value.field == "k"

    @pytest.mark.parametrize("query", ["", "   ", "a", "of", "?", "茶", "？！", "the what"])
    async def test_empty_or_too_short_questions_find_nothing(
        self, corpus: KnowledgeStore, query: str
    ) -> None:
        assert await corpus.search("alice", "tea", query) == ()

    @pytest.mark.parametrize("query", HOSTILE_QUERIES)
    async def test_query_syntax_in_questions_is_just_text(
        self, corpus: KnowledgeStore, query: str
    ) -> None:
        hits = await corpus.search("alice", "tea", query)

        assert all(h.chunk.source in CORPUS for h in hits)
        assert len(await corpus.list_documents("alice", "tea")) == len(CORPUS)
        assert (await corpus.search("alice", "tea", "茶馆几点开门？"))[0].chunk.ordinal == 1
