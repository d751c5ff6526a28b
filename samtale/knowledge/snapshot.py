"""In-process copies of knowledge indexes, loaded from the database and kept current by version.

An :class:`IndexSnapshot` holds one index's chunks, their faiss vector index and their BM25
index. :class:`SnapshotCache` keeps one snapshot per (chatbot, index) and, at most once per
``check_interval_s`` per index, reads the index's version with one small SELECT; when an
ingestion has bumped it, the snapshot is rebuilt from the database (the source of truth, so
every worker converges on the same data). Building runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import select

from samtale.knowledge.embedding_cache import bytes_to_vectors
from samtale.knowledge.filters import MetadataColumns
from samtale.knowledge.lexical import Analyzer, LexicalIndex
from samtale.knowledge.repository import IndexHead, find_index
from samtale.knowledge.types import ContextChunk, MetadataValue
from samtale.knowledge.vector_store import VectorIndex
from samtale.storage.db import Database
from samtale.storage.models.knowledge import KnowledgeChunk, KnowledgeDocument


@dataclass(slots=True)
class IndexSnapshot:
    """One index as loaded at ``head.version``; row ``i`` of every list is chunk ``i``."""

    head: IndexHead
    chunk_ids: list[str]
    document_ids: list[str]
    texts: list[str]
    titles: list[str | None]
    sources: list[str]
    positions: list[int]
    metadata: list[dict[str, MetadataValue]]
    vectors: VectorIndex
    lexical: LexicalIndex
    columns: MetadataColumns = field(init=False)

    def __post_init__(self) -> None:
        self.columns = MetadataColumns(self.metadata)

    def __len__(self) -> int:
        return len(self.chunk_ids)

    def context_chunk(self, row: int, *, score: float, vector_score: float, lexical_score: float) -> ContextChunk:
        """Chunk ``row`` as a :class:`ContextChunk`."""
        return ContextChunk(
            chunk_id=self.chunk_ids[row],
            document_id=self.document_ids[row],
            index_name=self.head.name,
            text=self.texts[row],
            title=self.titles[row],
            source=self.sources[row],
            position=self.positions[row],
            score=score,
            metadata=dict(self.metadata[row]),
            vector_score=vector_score,
            lexical_score=lexical_score,
        )


def build_snapshot(head: IndexHead, rows: list[Any], *, analyzer: Analyzer) -> IndexSnapshot:
    """Build a snapshot from chunk rows ``(id, external_id, text, title, source, position, metadata, embedding)``.

    CPU-bound (vector decoding, BM25 indexing): call it in a worker thread.
    """
    vectors = bytes_to_vectors([row[7] for row in rows], head.dimension)
    titles = [row[3] for row in rows]
    texts = [row[2] for row in rows]
    return IndexSnapshot(
        head=head,
        chunk_ids=[row[0] for row in rows],
        document_ids=[row[1] for row in rows],
        texts=texts,
        titles=titles,
        sources=[row[4] for row in rows],
        positions=[row[5] for row in rows],
        metadata=[dict(row[6] or {}) for row in rows],
        vectors=VectorIndex(vectors if len(rows) else np.zeros((0, head.dimension), dtype=np.float32)),
        lexical=LexicalIndex(
            [f"{title}\n{text}" if title else text for title, text in zip(titles, texts, strict=True)],
            analyzer=analyzer,
            titles=titles,
        ),
    )


async def load_snapshot(db: Database, head: IndexHead, *, analyzer: Analyzer) -> IndexSnapshot:
    """Read every chunk of the index at ``head`` and build its snapshot (off the event loop)."""
    statement = (
        select(
            KnowledgeChunk.id,
            KnowledgeDocument.external_id,
            KnowledgeChunk.text,
            KnowledgeChunk.title,
            KnowledgeDocument.source,
            KnowledgeChunk.position,
            KnowledgeChunk.chunk_metadata,
            KnowledgeChunk.embedding,
        )
        .join(KnowledgeDocument, KnowledgeDocument.id == KnowledgeChunk.document_id)
        .where(KnowledgeChunk.index_id == head.id)
        .order_by(KnowledgeDocument.external_id, KnowledgeChunk.position)
    )
    async with db.session() as session:
        rows = list((await session.execute(statement)).all())
    return await asyncio.to_thread(build_snapshot, head, rows, analyzer=analyzer)


@dataclass(slots=True)
class _Entry:
    snapshot: IndexSnapshot
    checked_at: float


class SnapshotCache:
    """Snapshots per (chatbot id, index name), reloaded when the index version changes.

    Args:
        db: the database.
        check_interval_s: how long a snapshot is trusted before its version is read again
            (seconds; 0 = on every query).
        analyzer: the lexical analyzer (stemming language) for every snapshot.
    """

    def __init__(self, *, db: Database, check_interval_s: float = 1.0, analyzer: Analyzer | None = None) -> None:
        self.db = db
        self.check_interval_s = check_interval_s
        self.analyzer = analyzer or Analyzer()
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    async def get(self, *, chatbot_id: str, index_name: str) -> IndexSnapshot | None:
        """The current snapshot of the index, or None when the chatbot has no such index."""
        key = (chatbot_id, index_name)
        entry = self._entries.get(key)
        if entry is not None and time.monotonic() - entry.checked_at < self.check_interval_s:
            return entry.snapshot
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            entry = self._entries.get(key)
            if entry is not None and time.monotonic() - entry.checked_at < self.check_interval_s:
                return entry.snapshot
            checked_at = time.monotonic()
            async with self.db.session() as session:
                head = await find_index(session, chatbot_id=chatbot_id, index_name=index_name)
            if head is None:
                self._entries.pop(key, None)
                return None
            if entry is not None and entry.snapshot.head == head:
                entry.checked_at = checked_at
                return entry.snapshot
            snapshot = await load_snapshot(self.db, head, analyzer=self.analyzer)
            self._entries[key] = _Entry(snapshot=snapshot, checked_at=checked_at)
            return snapshot

    def invalidate(self, *, chatbot_id: str, index_name: str) -> None:
        """Forget the snapshot, so the next query checks the database at once."""
        self._entries.pop((chatbot_id, index_name), None)

    def loaded(self) -> Mapping[tuple[str, str], int]:
        """``{(chatbot id, index name): loaded version}`` of every snapshot held."""
        return {key: entry.snapshot.head.version for key, entry in self._entries.items()}
