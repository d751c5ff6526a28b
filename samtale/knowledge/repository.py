"""Database access for knowledge indexes, documents and chunks (SQLite and PostgreSQL).

Every write of documents happens in one transaction that also bumps ``KnowledgeIndex.version``,
so a reader either sees a document with all its new chunks or the old one with all its old
chunks, and every worker's in-process index learns from the version that it must reload.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from samtale.knowledge.embedders import Embedder
from samtale.knowledge.errors import EmbedderMismatchError
from samtale.storage.base import new_id, utcnow
from samtale.storage.db import Database, DatabaseError
from samtale.storage.models.knowledge import KnowledgeChunk, KnowledgeDocument, KnowledgeIndex

#: Ids per ``IN (…)`` clause.
IN_CLAUSE_SIZE = 500


@dataclass(frozen=True, slots=True)
class IndexHead:
    """The cheap-to-read identity of an index: enough to decide whether a cached copy is current."""

    id: str
    chatbot_id: str
    name: str
    embedding_model: str
    dimension: int
    version: int


@dataclass(frozen=True, slots=True)
class IndexSummary:
    """An index with its document and chunk counts (``samtale kb list``, the admin API)."""

    name: str
    embedding_model: str
    dimension: int
    version: int
    documents: int
    chunks: int


@dataclass(slots=True)
class DocumentWrite:
    """One document to write with its chunks; ``document_id`` is set when it replaces a stored one."""

    external_id: str
    source: str
    title: str | None
    content_hash: str
    metadata: dict[str, Any]
    chunks: list[dict[str, Any]]
    document_id: str | None = None


def check_embedder(head: IndexHead, embedder_name: str, dimension: int) -> None:
    """Refuse an embedder that did not build the index.

    Raises:
        EmbedderMismatchError: the model name or dimension differs from the index's.
    """
    if head.embedding_model != embedder_name or head.dimension != dimension:
        raise EmbedderMismatchError(
            f"index {head.name!r} of chatbot {head.chatbot_id!r} was built with {head.embedding_model} "
            f"({head.dimension} dimensions), not {embedder_name} ({dimension} dimensions); "
            "configure that embedder or re-ingest the index into a new name",
            details={
                "index": head.name,
                "index_model": head.embedding_model,
                "index_dimension": head.dimension,
                "embedder_model": embedder_name,
                "embedder_dimension": dimension,
            },
        )


def _head(row: KnowledgeIndex) -> IndexHead:
    return IndexHead(
        id=row.id,
        chatbot_id=row.chatbot_id,
        name=row.name,
        embedding_model=row.embedding_model,
        dimension=row.dimension,
        version=row.version,
    )


async def find_index(session: AsyncSession, *, chatbot_id: str, index_name: str) -> IndexHead | None:
    """The index ``index_name`` of ``chatbot_id``, or None (one small SELECT)."""
    row = (
        await session.execute(
            select(KnowledgeIndex).where(KnowledgeIndex.chatbot_id == chatbot_id, KnowledgeIndex.name == index_name)
        )
    ).scalar_one_or_none()
    return _head(row) if row is not None else None


async def get_or_create_index(db: Database, *, chatbot_id: str, index_name: str, embedder: Embedder) -> IndexHead:
    """The index, created with the embedder's name and dimension when it does not exist.

    Raises:
        EmbedderMismatchError: the index exists and was built by another embedder.
    """
    async with db.session() as session:
        head = await find_index(session, chatbot_id=chatbot_id, index_name=index_name)
    if head is None:
        try:
            async with db.session() as session:
                session.add(
                    KnowledgeIndex(
                        chatbot_id=chatbot_id,
                        name=index_name,
                        embedding_model=embedder.name,
                        dimension=embedder.dimension,
                        version=0,
                    )
                )
        except IntegrityError:
            pass  # another process created it first; read theirs below
        async with db.session() as session:
            head = await find_index(session, chatbot_id=chatbot_id, index_name=index_name)
        if head is None:
            raise DatabaseError(f"index {index_name!r} of chatbot {chatbot_id!r} could not be created")
    check_embedder(head, embedder.name, embedder.dimension)
    return head


async def stored_hashes(db: Database, *, index_id: str) -> dict[str, tuple[str, str]]:
    """``{external_id: (document id, content hash)}`` of every document in the index."""
    async with db.session() as session:
        rows = await session.execute(
            select(KnowledgeDocument.external_id, KnowledgeDocument.id, KnowledgeDocument.content_hash).where(
                KnowledgeDocument.index_id == index_id
            )
        )
        return {external_id: (doc_id, content_hash) for external_id, doc_id, content_hash in rows}


async def _bump_version(session: AsyncSession, index_id: str) -> None:
    await session.execute(
        update(KnowledgeIndex)
        .where(KnowledgeIndex.id == index_id)
        .values(version=KnowledgeIndex.version + 1, updated_at=utcnow())
    )


async def write_documents(db: Database, *, head: IndexHead, documents: Sequence[DocumentWrite]) -> int:
    """Insert new documents and replace changed ones (their chunks too) in one transaction.

    Each chunk dict holds ``position, text, title, metadata, text_hash, embedding``. Bumps the
    index version in the same transaction. Returns the number of chunks written.
    """
    if not documents:
        return 0
    now = utcnow()
    replaced = [doc.document_id for doc in documents if doc.document_id is not None]
    new_rows: list[dict[str, Any]] = []
    updated_rows: list[dict[str, Any]] = []
    chunk_rows: list[dict[str, Any]] = []
    for doc in documents:
        doc_id = doc.document_id or new_id()
        row = {
            "id": doc_id,
            "source": doc.source[:1000],
            "title": doc.title[:500] if doc.title else None,
            "content_hash": doc.content_hash,
            "doc_metadata": doc.metadata,
            "chunk_count": len(doc.chunks),
            "updated_at": now,
        }
        if doc.document_id is None:
            row.update(chatbot_id=head.chatbot_id, index_id=head.id, external_id=doc.external_id, created_at=now)
            new_rows.append(row)
        else:
            updated_rows.append(row)
        for chunk in doc.chunks:
            chunk_rows.append(
                {
                    "id": new_id(),
                    "chatbot_id": head.chatbot_id,
                    "index_id": head.id,
                    "document_id": doc_id,
                    "position": chunk["position"],
                    "text": chunk["text"],
                    "title": chunk["title"][:500] if chunk["title"] else None,
                    "chunk_metadata": chunk["metadata"],
                    "text_hash": chunk["text_hash"],
                    "embedding": chunk["embedding"],
                    "created_at": now,
                }
            )
    async with db.session() as session:
        for start in range(0, len(replaced), IN_CLAUSE_SIZE):
            await session.execute(
                delete(KnowledgeChunk).where(KnowledgeChunk.document_id.in_(replaced[start : start + IN_CLAUSE_SIZE]))
            )
        if updated_rows:
            await session.execute(update(KnowledgeDocument), updated_rows)
        if new_rows:
            await session.execute(insert(KnowledgeDocument), new_rows)
        if chunk_rows:
            await session.execute(insert(KnowledgeChunk), chunk_rows)
        await _bump_version(session, head.id)
    return len(chunk_rows)


async def remove_documents(db: Database, *, head: IndexHead, document_ids: Sequence[str]) -> int:
    """Delete documents and their chunks in one transaction (bumping the version); returns how many."""
    if not document_ids:
        return 0
    async with db.session() as session:
        for start in range(0, len(document_ids), IN_CLAUSE_SIZE):
            part = list(document_ids[start : start + IN_CLAUSE_SIZE])
            await session.execute(delete(KnowledgeChunk).where(KnowledgeChunk.document_id.in_(part)))
            await session.execute(delete(KnowledgeDocument).where(KnowledgeDocument.id.in_(part)))
        await _bump_version(session, head.id)
    return len(document_ids)


async def list_indexes(db: Database, *, chatbot_id: str) -> list[IndexSummary]:
    """The chatbot's indexes by name, each with its document and chunk counts."""
    async with db.session() as session:
        indexes = (
            (await session.execute(select(KnowledgeIndex).where(KnowledgeIndex.chatbot_id == chatbot_id)))
            .scalars()
            .all()
        )
        doc_counts: dict[str, int] = {
            index_id: count
            for index_id, count in await session.execute(
                select(KnowledgeDocument.index_id, func.count())
                .where(KnowledgeDocument.chatbot_id == chatbot_id)
                .group_by(KnowledgeDocument.index_id)
            )
        }
        chunk_counts: dict[str, int] = {
            index_id: count
            for index_id, count in await session.execute(
                select(KnowledgeChunk.index_id, func.count())
                .where(KnowledgeChunk.chatbot_id == chatbot_id)
                .group_by(KnowledgeChunk.index_id)
            )
        }
    return [
        IndexSummary(
            name=index.name,
            embedding_model=index.embedding_model,
            dimension=index.dimension,
            version=index.version,
            documents=doc_counts.get(index.id, 0),
            chunks=chunk_counts.get(index.id, 0),
        )
        for index in sorted(indexes, key=lambda index: index.name)
    ]
