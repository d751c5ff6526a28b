"""Managing a knowledge index from the admin API: list its documents, delete one, re-index it.

Re-indexing rebuilds the vector of every stored chunk with the configured embedder and records
that embedder as the index's model, in one transaction. It is how an index moves to another
embedding model without its source files (the chunk texts are stored), and it makes every
worker reload the index. Chunks get new ids, so remote vector stores re-sync them. It does not
re-read source files: to re-chunk a document, upload it again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select, update

from samtale.errors import NotFoundError
from samtale.knowledge.embedders import Embedder
from samtale.knowledge.embedding_cache import cached_embeddings, text_hash, vector_to_bytes
from samtale.knowledge.repository import IN_CLAUSE_SIZE, IndexHead, find_index, remove_documents
from samtale.storage.base import new_id, utcnow
from samtale.storage.db import Database
from samtale.storage.models.knowledge import KnowledgeChunk, KnowledgeDocument, KnowledgeIndex


class KnowledgeNotFoundError(NotFoundError):
    """An index, document or job that does not exist for this chatbot (HTTP 404)."""

    code = "knowledge_not_found"


@dataclass(frozen=True, slots=True)
class DocumentSummary:
    """A stored document: its id, source, title, chunk count, metadata and last change."""

    document_id: str
    source: str
    title: str | None
    chunks: int
    metadata: dict[str, Any]
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ReindexReport:
    """What a re-index did: chunks rewritten, texts the model embedded (the rest were cached),
    the model before and after, and the index version after."""

    chunks: int
    chunks_embedded: int
    previous_model: str
    embedding_model: str
    dimension: int
    index_version: int


async def require_index(db: Database, *, chatbot_id: str, index_name: str) -> IndexHead:
    """The index, or :class:`KnowledgeNotFoundError`."""
    async with db.session() as session:
        head = await find_index(session, chatbot_id=chatbot_id, index_name=index_name)
    if head is None:
        raise KnowledgeNotFoundError(f"chatbot {chatbot_id!r} has no knowledge index {index_name!r}")
    return head


async def list_documents(
    db: Database, *, chatbot_id: str, index_name: str, limit: int = 100, offset: int = 0
) -> tuple[int, list[DocumentSummary]]:
    """``(total, documents)`` of an index ordered by document id, ``limit`` from ``offset``.

    Raises:
        KnowledgeNotFoundError: no such index.
    """
    head = await require_index(db, chatbot_id=chatbot_id, index_name=index_name)
    async with db.session() as session:
        where = (KnowledgeDocument.index_id == head.id, KnowledgeDocument.chatbot_id == chatbot_id)
        total = await session.scalar(select(func.count()).select_from(KnowledgeDocument).where(*where)) or 0
        rows = (
            await session.scalars(
                select(KnowledgeDocument)
                .where(*where)
                .order_by(KnowledgeDocument.external_id)
                .limit(limit)
                .offset(offset)
            )
        ).all()
    return total, [
        DocumentSummary(
            document_id=row.external_id,
            source=row.source,
            title=row.title,
            chunks=row.chunk_count,
            metadata=dict(row.doc_metadata or {}),
            updated_at=row.updated_at,
        )
        for row in rows
    ]


async def delete_document(db: Database, *, chatbot_id: str, index_name: str, document_id: str) -> None:
    """Delete one document (by its external id) and its chunks, in one transaction.

    Raises:
        KnowledgeNotFoundError: no such index or document.
    """
    head = await require_index(db, chatbot_id=chatbot_id, index_name=index_name)
    async with db.session() as session:
        row_id = await session.scalar(
            select(KnowledgeDocument.id).where(
                KnowledgeDocument.index_id == head.id,
                KnowledgeDocument.chatbot_id == chatbot_id,
                KnowledgeDocument.external_id == document_id,
            )
        )
    if row_id is None:
        raise KnowledgeNotFoundError(f"index {index_name!r} has no document {document_id!r}")
    await remove_documents(db, head=head, document_ids=[row_id])


def _embed_text(text: str, title: str | None, stored_hash: str) -> str:
    """The text a chunk was embedded from: its body alone (records) or title and body (the
    others), recognised by the stored hash; title and body when neither matches."""
    if text_hash(text) == stored_hash or not title:
        return text
    return f"{title}\n\n{text}"


async def reindex(
    db: Database,
    *,
    embedder: Embedder,
    chatbot_id: str,
    index_name: str,
    progress: Callable[[int, int], None] | None = None,
) -> ReindexReport:
    """Re-embed every chunk of an index with ``embedder`` and make it the index's model.

    Vectors come from the embedding cache where present. All chunks are replaced (with new ids)
    and the index's model, dimension and version updated in one transaction, so readers see the
    old index or the new one, never a mix of two models.

    Args:
        progress: called with ``(chunks embedded, chunks in total)``.

    Raises:
        KnowledgeNotFoundError: no such index.
        EmbeddingError: the embedder failed (nothing is changed).
    """
    head = await require_index(db, chatbot_id=chatbot_id, index_name=index_name)
    async with db.session() as session:
        rows = (
            await session.execute(
                select(
                    KnowledgeChunk.document_id,
                    KnowledgeChunk.position,
                    KnowledgeChunk.text,
                    KnowledgeChunk.title,
                    KnowledgeChunk.chunk_metadata,
                    KnowledgeChunk.text_hash,
                ).where(KnowledgeChunk.index_id == head.id, KnowledgeChunk.chatbot_id == chatbot_id)
            )
        ).all()
    texts = [_embed_text(text, title, stored) for _, _, text, title, _, stored in rows]
    hashes = [text_hash(text) for text in texts]
    done = 0

    def advance(count: int) -> None:
        nonlocal done
        done += count
        if progress is not None:
            progress(done, len(rows))

    if progress is not None:
        progress(0, len(rows))
    vectors, embedded = await cached_embeddings(
        db=db, embedder=embedder, texts=texts, hashes=hashes, on_embedded=advance
    )
    now = utcnow()
    new_rows = [
        {
            "id": new_id(),
            "chatbot_id": chatbot_id,
            "index_id": head.id,
            "document_id": document_id,
            "position": position,
            "text": text,
            "title": title,
            "chunk_metadata": metadata,
            "text_hash": key,
            "embedding": vector_to_bytes(vectors[key]),
            "created_at": now,
        }
        for (document_id, position, text, title, metadata, _), key in zip(rows, hashes, strict=True)
    ]
    async with db.session() as session:
        await session.execute(delete(KnowledgeChunk).where(KnowledgeChunk.index_id == head.id))
        for start in range(0, len(new_rows), IN_CLAUSE_SIZE):
            await session.execute(insert(KnowledgeChunk), new_rows[start : start + IN_CLAUSE_SIZE])
        await session.execute(
            update(KnowledgeIndex)
            .where(KnowledgeIndex.id == head.id)
            .values(
                embedding_model=embedder.name,
                dimension=embedder.dimension,
                version=KnowledgeIndex.version + 1,
                updated_at=now,
            )
        )
        version = await session.scalar(select(KnowledgeIndex.version).where(KnowledgeIndex.id == head.id))
    return ReindexReport(
        chunks=len(new_rows),
        chunks_embedded=embedded,
        previous_model=head.embedding_model,
        embedding_model=embedder.name,
        dimension=embedder.dimension,
        index_version=int(version or head.version + 1),
    )
