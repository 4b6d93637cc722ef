"""What both knowledge stores share besides their SQL: domain values ↔ database rows, and the
layer's storage (`KnowledgeTables`).

Each decoder documents the column order it expects; both stores select exactly those columns.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from core.knowledge import migrations
from core.knowledge.base import Chunk, Document, Space
from core.knowledge.chunking import chunk_text, title_of
from core.storage.schema import Schema


@dataclass(frozen=True, slots=True)
class NewDocument:
    """A document ready to insert: its chunks cut and its id and title settled."""

    document: Document
    chunks: tuple[str, ...]


def new_document(space_id: str, source: str, text: str, title: str) -> NewDocument:
    chunks = tuple(chunk_text(text))
    document = Document(
        document_id=f"doc_{uuid.uuid4().hex}",
        space_id=space_id,
        source=source,
        title=title or title_of(text, source),
        created=time.time(),
        chunk_count=len(chunks),
    )
    return NewDocument(document=document, chunks=chunks)


def document_to_params(owner: str, document: Document) -> tuple[Any, ...]:
    """(owner, document_id, space_id, source, title, created, chunk_count) for an INSERT."""
    return (
        owner,
        document.document_id,
        document.space_id,
        document.source,
        document.title,
        document.created,
        document.chunk_count,
    )


def chunk_params(owner: str, new: NewDocument) -> list[tuple[Any, ...]]:
    """(owner, space_id, document_id, ordinal, text) per chunk, for an INSERT."""
    doc = new.document
    return [
        (owner, doc.space_id, doc.document_id, ordinal, text)
        for ordinal, text in enumerate(new.chunks)
    ]


def row_to_space(row: Sequence[Any]) -> Space:
    """Decode (space_id, name, description, created, document_count)."""
    space_id, name, description, created, document_count = row
    return Space(
        space_id=space_id,
        name=name,
        description=description,
        created=created,
        document_count=document_count,
    )


def row_to_document(row: Sequence[Any]) -> Document:
    """Decode (document_id, space_id, source, title, created, chunk_count)."""
    document_id, space_id, source, title, created, chunk_count = row
    return Document(
        document_id=document_id,
        space_id=space_id,
        source=source,
        title=title,
        created=created,
        chunk_count=chunk_count,
    )


def row_to_match(row: Sequence[Any]) -> tuple[Chunk, float]:
    """Decode (id, document_id, source, title, ordinal, text, relevance)."""
    chunk_id, document_id, source, title, ordinal, text, relevance = row
    chunk = Chunk(
        chunk_id=str(chunk_id),
        document_id=document_id,
        source=source,
        title=title,
        ordinal=ordinal,
        text=text,
    )
    return chunk, float(relevance)


class KnowledgeTables:
    """The knowledge layer's storage as both its stores declare it to their pool (core.storage):
    the schema, and the names its logs and errors use."""

    pool_name: ClassVar[str] = "knowledge store"
    unavailable: ClassVar[str] = "knowledge store is unavailable"
    schema: ClassVar[Schema] = migrations.SCHEMA
