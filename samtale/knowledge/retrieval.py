"""Retrieval: the best chunks of a chatbot's knowledge index for a question.

Hybrid by default: exact cosine top-k over the stored float32 vectors (faiss ``IndexFlatIP``
on normalised vectors) fused with a lexical TF-IDF score over the same chunks by reciprocal
rank fusion (RRF, k = 60). The lexical side matters for a shop: shoppers name producers,
vintages and grapes, which a small dense model often misses (DESIGN section 9).

Each index is loaded from the database once and kept in process memory until its ``version``
changes (every ingestion bumps it), so every worker sees the same index.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import faiss
import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sqlalchemy import select

from samtale.knowledge.embedders import Embedder, Vectors
from samtale.knowledge.repository import IndexHead, check_embedder, find_index
from samtale.knowledge.types import ContextChunk, MetadataValue
from samtale.storage.db import Database
from samtale.storage.models import KnowledgeChunk, KnowledgeDocument

RRF_K = 60
VERSION_CHECK_INTERVAL_S = 1.0


@dataclass(slots=True)
class LoadedIndex:
    """An index held in memory: its chunks, a faiss index of their vectors and a TF-IDF matrix."""

    head: IndexHead
    chunks: list[ContextChunk]
    vectors: faiss.IndexFlatIP
    vectorizer: TfidfVectorizer | None
    lexical: object | None
    checked_at: float


class Retriever:
    """Hybrid retrieval over the embedded store.

    Args:
        db: the database holding the chunks and their vectors.
        embedder: the query embedder; must be the model that built each index.
        lexical_weight: weight of the lexical ranking in the fusion (0 = dense only).
        candidates: how many candidates each side contributes before fusion.
    """

    def __init__(self, *, db: Database, embedder: Embedder, lexical_weight: float = 1.0, candidates: int = 50) -> None:
        self.db = db
        self.embedder = embedder
        self.lexical_weight = lexical_weight
        self.candidates = candidates
        self._indexes: dict[tuple[str, str], LoadedIndex] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    async def search(
        self,
        *,
        chatbot_id: str,
        index_name: str,
        query: str,
        top_k: int,
        min_score: float | None = None,
        query_vector: Vectors | None = None,
    ) -> list[ContextChunk]:
        """The ``top_k`` best chunks of ``index_name`` for ``query``, best first.

        Returns an empty list when the chatbot has no such index yet.

        Raises:
            EmbedderMismatchError: the index was built by another embedding model.
        """
        loaded = await self._load(chatbot_id, index_name)
        if loaded is None or not loaded.chunks:
            return []
        check_embedder(loaded.head, self.embedder.name, self.embedder.dimension)
        vector = query_vector if query_vector is not None else await self.embedder.embed([query])
        return await asyncio.to_thread(
            self._rank, loaded, query, np.asarray(vector, dtype=np.float32), top_k, min_score
        )

    def _rank(
        self, loaded: LoadedIndex, query: str, vector: Vectors, top_k: int, min_score: float | None
    ) -> list[ContextChunk]:
        count = len(loaded.chunks)
        depth = min(count, max(self.candidates, top_k))
        scores, ids = loaded.vectors.search(vector.reshape(1, -1), depth)
        dense = {int(i): float(s) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0}
        fused: dict[int, float] = {}
        for rank, index in enumerate(dense):
            fused[index] = 1.0 / (RRF_K + rank + 1)
        if loaded.vectorizer is not None and self.lexical_weight > 0:
            query_terms = loaded.vectorizer.transform([query])
            lexical_scores = (loaded.lexical @ query_terms.T).toarray().ravel()  # type: ignore[attr-defined]
            best = np.argsort(-lexical_scores)[:depth]
            for rank, index in enumerate(int(i) for i in best if lexical_scores[i] > 0):
                fused[index] = fused.get(index, 0.0) + self.lexical_weight / (RRF_K + rank + 1)
        ranked = sorted(fused, key=lambda index: fused[index], reverse=True)
        results: list[ContextChunk] = []
        for index in ranked:
            similarity = dense.get(index)
            if similarity is None:
                similarity = float(np.dot(loaded.vectors.reconstruct(index), vector.ravel()))
            if min_score is not None and similarity < min_score:
                continue
            chunk = loaded.chunks[index]
            results.append(
                ContextChunk(
                    chunk_id=chunk.chunk_id,
                    document_id=chunk.document_id,
                    index_name=chunk.index_name,
                    text=chunk.text,
                    title=chunk.title,
                    source=chunk.source,
                    position=chunk.position,
                    score=similarity,
                    metadata=chunk.metadata,
                )
            )
            if len(results) == top_k:
                break
        return results

    async def _load(self, chatbot_id: str, index_name: str) -> LoadedIndex | None:
        key = (chatbot_id, index_name)
        cached = self._indexes.get(key)
        now = time.monotonic()
        if cached is not None and now - cached.checked_at < VERSION_CHECK_INTERVAL_S:
            return cached
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            async with self.db.session() as session:
                head = await find_index(session, chatbot_id=chatbot_id, index_name=index_name)
            if head is None:
                self._indexes.pop(key, None)
                return None
            cached = self._indexes.get(key)
            if cached is not None and cached.head.version == head.version:
                cached.checked_at = now
                return cached
            loaded = await self._read(head)
            self._indexes[key] = loaded
            return loaded

    async def _read(self, head: IndexHead) -> LoadedIndex:
        async with self.db.session() as session:
            rows = (
                await session.execute(
                    select(
                        KnowledgeChunk.id,
                        KnowledgeDocument.external_id,
                        KnowledgeDocument.source,
                        KnowledgeChunk.position,
                        KnowledgeChunk.text,
                        KnowledgeChunk.title,
                        KnowledgeChunk.chunk_metadata,
                        KnowledgeChunk.embedding,
                    )
                    .join(KnowledgeDocument, KnowledgeDocument.id == KnowledgeChunk.document_id)
                    .where(KnowledgeChunk.index_id == head.id, KnowledgeChunk.chatbot_id == head.chatbot_id)
                    .order_by(KnowledgeChunk.document_id, KnowledgeChunk.position)
                )
            ).all()
        return await asyncio.to_thread(_build, head, rows)


def _build(head: IndexHead, rows: Sequence[Any]) -> LoadedIndex:
    chunks: list[ContextChunk] = []
    matrix = np.zeros((len(rows), head.dimension), dtype=np.float32)
    for position, row in enumerate(rows):
        chunk_id, external_id, source, chunk_position, text, title, metadata, embedding = tuple(row)
        matrix[position] = np.frombuffer(embedding, dtype=np.float32)
        typed: dict[str, MetadataValue] = dict(metadata or {})
        chunks.append(
            ContextChunk(
                chunk_id=chunk_id,
                document_id=external_id,
                index_name=head.name,
                text=text,
                title=title,
                source=source,
                position=chunk_position,
                score=0.0,
                metadata=typed,
            )
        )
    vectors = faiss.IndexFlatIP(head.dimension)
    if len(chunks):
        vectors.add(matrix)
    vectorizer: TfidfVectorizer | None = None
    lexical = None
    if chunks:
        vectorizer = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=1, strip_accents="unicode")
        lexical = vectorizer.fit_transform([f"{c.title or ''} {c.text}" for c in chunks])
    return LoadedIndex(
        head=head, chunks=chunks, vectors=vectors, vectorizer=vectorizer, lexical=lexical, checked_at=time.monotonic()
    )
