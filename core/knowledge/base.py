"""The KnowledgeStore Protocol: per-owner knowledge spaces of chunked, indexed documents."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar, Protocol

from core.errors import InvalidArgumentError

MAX_K = 50
SPACE_ID_PATTERN = re.compile(r"[A-Za-z0-9_.:-]{1,128}")


@dataclass(frozen=True, slots=True)
class Space:
    """A named collection of documents; `created` is unix seconds."""

    space_id: str
    name: str
    description: str
    created: float
    document_count: int


@dataclass(frozen=True, slots=True)
class Document:
    """One ingested version of a source (a file path or URL), as stored."""

    document_id: str
    space_id: str
    source: str
    title: str
    created: float
    chunk_count: int


@dataclass(frozen=True, slots=True)
class Chunk:
    """A piece of a document's text, with what a citation needs: source, title, position."""

    chunk_id: str
    document_id: str
    source: str
    title: str
    ordinal: int
    text: str


@dataclass(frozen=True, slots=True)
class Hit:
    """A chunk found by a search; `score` is in (0, 1], higher is better, best hit = 1.0."""

    chunk: Chunk
    score: float


class KnowledgeStore(Protocol):
    """Knowledge spaces keyed by (owner, space_id), searched for the chunks a prompt cites.

    Every method takes the caller's `owner`. It is required, and an empty owner raises
    ValueError: no method reads or writes across owners, so the same literal space id names
    two unrelated spaces for two owners, and another owner's space looks absent.

    A space id matches `^[A-Za-z0-9_.:-]{1,128}$`; any other raises
    InvalidArgumentError(field="space_id"). Text that the databases cannot hold (NUL
    characters, lone surrogates) raises InvalidArgumentError naming the field.

    `add_document` chunks the text (core.knowledge.chunking) and indexes each chunk; adding a
    `source` the space already holds replaces that document (new document_id, old chunks
    gone) in one transaction.

    `search` splits the question (core.knowledge.query) into words (scripts written with
    spaces; 3+ characters, minus a few English stop words) and, for runs of Chinese/Japanese
    characters, overlapping 3-character and 2-character grams. Chunks matching the words or
    the 3-grams come first, ranked by the database's full-text relevance (SQLite FTS5 bm25
    over a trigram index; PostgreSQL ts_rank plus 3-gram matches); if fewer than `k` were
    found, chunks sharing 2-grams with the question follow, by how many they share. A
    question with nothing to match (empty, punctuation, one character) finds nothing. The
    question is never parsed as query syntax, so quotes, `NEAR(`, `*` or SQL are just text.

    Any driver or I/O failure raises core.errors.StorageError with a message safe for clients.
    """

    kind: ClassVar[str]

    async def create_space(
        self, owner: str, space_id: str, name: str = "", description: str = ""
    ) -> Space:
        """Create an empty space; an id this owner already uses → ConflictError."""
        ...

    async def get_space(self, owner: str, space_id: str) -> Space:
        """Return the space; unknown or another owner's → NotFoundError."""
        ...

    async def list_spaces(self, owner: str) -> tuple[Space, ...]:
        """The owner's spaces, ordered by space_id."""
        ...

    async def delete_space(self, owner: str, space_id: str) -> None:
        """Delete the space with its documents and chunks; unknown → NotFoundError."""
        ...

    async def add_document(
        self, owner: str, space_id: str, source: str, text: str, title: str = ""
    ) -> Document:
        """Chunk, index and store `text` as `source`, replacing an earlier version of it.

        An empty `title` becomes chunking.title_of(text, source). An empty `source` raises
        InvalidArgumentError(field="source"); an unknown space raises NotFoundError. Text
        with no content is stored as a document with no chunks.
        """
        ...

    async def list_documents(self, owner: str, space_id: str) -> tuple[Document, ...]:
        """The space's documents, ordered by source; unknown space → NotFoundError."""
        ...

    async def search(self, owner: str, space_id: str, query: str, k: int = 4) -> tuple[Hit, ...]:
        """Up to `k` (1..50) chunks of the space relevant to `query`, best first.

        Unknown space → NotFoundError; `k` out of range → InvalidArgumentError(field="k").
        """
        ...

    async def erase_owner(self, owner: str) -> dict[str, int]:
        """Delete every space, document and chunk of `owner`; rows deleted per table
        (ERASED_TABLES' names, 0 included)."""
        ...

    async def aclose(self) -> None:
        """Release connections and worker threads; the store is unusable afterwards."""
        ...


# The tables erase_owner empties of an owner, children first (the counts' keys).
ERASED_TABLES = ("knowledge_chunks", "knowledge_documents", "knowledge_spaces")


def erase_statement(table: str, placeholder: str) -> str:
    """Delete an owner's rows of one of ERASED_TABLES (a constant, never input)."""
    if table not in ERASED_TABLES:
        raise ValueError(table)
    return f"DELETE FROM {table} WHERE owner = {placeholder}"  # noqa: S608


def require_owner(owner: str) -> None:
    """Reject a missing owner: there is no way to read or write across owners."""
    if not owner or not isinstance(owner, str):
        raise ValueError("owner is required")


def check_space_id(space_id: str) -> None:
    if not isinstance(space_id, str) or SPACE_ID_PATTERN.fullmatch(space_id) is None:
        raise InvalidArgumentError(
            "space_id must be 1 to 128 characters of A-Z, a-z, 0-9, '_', '.', ':' or '-'",
            field="space_id",
        )


def check_text(field: str, value: str) -> None:
    """Reject text neither database can store: NUL characters and lone surrogates."""
    if "\x00" in value:
        raise InvalidArgumentError(f"{field} must not contain NUL", field=field)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidArgumentError(f"{field} must be valid Unicode text", field=field) from None


def check_space_args(owner: str, space_id: str) -> None:
    require_owner(owner)
    check_space_id(space_id)


def check_new_space(owner: str, space_id: str, name: str, description: str) -> None:
    check_space_args(owner, space_id)
    check_text("name", name)
    check_text("description", description)


def check_document(owner: str, space_id: str, source: str, text: str, title: str) -> None:
    check_space_args(owner, space_id)
    if not source or not source.strip():
        raise InvalidArgumentError("source is required", field="source")
    check_text("source", source)
    check_text("text", text)
    check_text("title", title)


def check_search(owner: str, space_id: str, k: int) -> None:
    check_space_args(owner, space_id)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise InvalidArgumentError(f"k must be between 1 and {MAX_K}", field="k")
