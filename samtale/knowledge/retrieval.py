"""Hybrid retrieval: vector search and BM25 over the same chunks, fused into one ranking.

For each query both searches return their best ``candidates`` chunks. By default (``convex``)
a chunk's fused score is the weighted mean of its BM25 score divided by the best candidate's and
its cosine min-max scaled over the candidates (Bruch et al. 2023); with ``rrf`` it is
``w_vector / (k + rank_vector) + w_lexical / (k + rank_lexical)`` (Cormack et al. 2009), scaled
so that rank 1 in both is 1.0. Either way a search that did not return the chunk adds nothing.
Two lexical refinements (see :mod:`samtale.knowledge.lexical`): the title field's BM25 score is
added with ``title_weight``, and a chunk whose whole title the query names word for word gets
``exact_title`` × the best possible fused score on top (a shopper who types "Rainstorm 2013 Pinot
Gris" means that wine). Weights, k and both refinements are configurable per index
(:class:`FusionWeights`).
With a remote store (Pinecone, Qdrant: :mod:`samtale.knowledge.stores`) the vector ranking comes
from the store, synced from the database by chunk id, and BM25 still runs here over the same
chunks (the database stays the source of truth), so fusion is unchanged. Product questions may
get metadata filters from :mod:`samtale.knowledge.question_filters` (:meth:`Retriever.retrieve`).
Why hybrid (issue 5, measured on the 5,810-wine catalogue): dense all-MiniLM-L6-v2 alone finds
a wine named by its title 97 % in the top 5, by winery + variety + region only 66 %, by a
phrase of its description 27 %; the lexical side finds those.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from samtale.knowledge.embedders import Embedder, Vectors
from samtale.knowledge.errors import EmbedderMismatchError
from samtale.knowledge.filters import Filters
from samtale.knowledge.lexical import Analyzer
from samtale.knowledge.question_filters import (
    CatalogueFields,
    ChosenFilters,
    FilterMode,
    LLMFilterExtractor,
    choose_filters,
)
from samtale.knowledge.repository import check_embedder
from samtale.knowledge.snapshot import IndexSnapshot, SnapshotCache
from samtale.knowledge.stores.base import VectorStore
from samtale.knowledge.stores.sync import RemoteVectors, SyncReport
from samtale.knowledge.types import ContextChunk
from samtale.knowledge.vector_store import Rows
from samtale.storage.db import Database


class StoreResolver(Protocol):
    """Finds the remote vector store of a chatbot's index (see ``samtale.knowledge.stores.config``)."""

    async def resolve(self, *, chatbot_id: str, index_name: str) -> VectorStore | None:
        """The index's remote store, or None when it lives in the embedded store."""
        ...


@dataclass(frozen=True, slots=True)
class Retrieval:
    """What :meth:`Retriever.retrieve` found: the chunks, and the filters chosen for the question
    (None when none applied); ``filters.source`` says whether rules or the LLM chose them."""

    chunks: list[ContextChunk]
    filters: ChosenFilters | None = None
    store: str = "embedded"


@dataclass(frozen=True, slots=True)
class FusionWeights:
    """How the vector and lexical rankings are fused.

    Attributes:
        vector: weight of the vector ranking (0 = lexical only).
        lexical: weight of the BM25 ranking (0 = vector only).
        rrf_k: the RRF constant k (60 in Cormack et al. 2009); larger flattens rank differences.
        candidates: how many chunks each search contributes before fusion (at least 4 × top_k).
        title_weight: weight of the title field's BM25 score added to the chunk text's (0 = off).
        exact_title: bonus, as a fraction of the best possible fused score, for a chunk whose
            title the query contains word for word (0 = off; 1 puts it above every chunk
            without one).
        method: ``rrf`` fuses ranks (Cormack et al. 2009); ``convex`` fuses scores: a weighted
            mean of the BM25 score divided by the best candidate's and the cosine min-max
            scaled over the candidates (Bruch et al. 2023, "An Analysis of Fusion Functions for
            Hybrid Retrieval", found it more accurate than RRF once tuned; a chunk one search
            did not return scores 0 on that side). Ranks hide how far ahead a strong BM25
            match is ("J. Wilkes Pinot Noir"); scores keep it.

    The defaults (convex, lexical 3 × vector) were chosen on the tuning half of the wine
    evaluation set (tests/knowledge/data: by title / producer + grape + region / description
    paraphrase / price with its filter) and checked on the held-out half: hit@1 0.973 / 0.972,
    hit@5 1.0 on both, where the earlier RRF (k = 5, lexical 2 × vector) had 0.938 / 0.934. The
    title field boost and the exact-title bonus gained nothing there (title questions were
    already all first; the boost cost description questions), so both are off by default.
    On the ABCD policy set (near-duplicate subflows) RRF or convex 1:1 did as well or better:
    set weights per index (``Retriever(index_weights=…)``, ``SAMTALE_KNOWLEDGE_INDEX_WEIGHTS``).
    """

    vector: float = 1.0
    lexical: float = 3.0
    rrf_k: int = 5
    candidates: int = 50
    title_weight: float = 0.0
    exact_title: float = 0.0
    method: Literal["rrf", "convex"] = "convex"

    def __post_init__(self) -> None:
        if self.vector < 0 or self.lexical < 0 or self.vector + self.lexical == 0:
            raise ValueError("fusion weights must be >= 0 and not both 0")
        if self.rrf_k < 0 or self.candidates < 1:
            raise ValueError("rrf_k must be >= 0 and candidates >= 1")
        if self.title_weight < 0 or self.exact_title < 0:
            raise ValueError("title_weight and exact_title must be >= 0")


def hybrid_search(
    snapshot: IndexSnapshot,
    *,
    query: str,
    query_vector: Vectors,
    top_k: int,
    weights: FusionWeights,
    min_score: float | None = None,
    filters: Filters | None = None,
    vector_rows: Rows | None = None,
) -> list[ContextChunk]:
    """Fuse vector and BM25 rankings over ``snapshot``; CPU-bound, call it in a worker thread.

    ``min_score`` is a cosine-similarity floor: chunks whose vector score is below it are left
    out, however well they rank lexically. ``vector_rows`` is the vector ranking (snapshot rows,
    best first) when a remote store produced it; None searches the embedded faiss index.
    """
    allowed = snapshot.columns.mask(filters) if filters else None
    if allowed is not None and not allowed.any():
        return []
    depth = max(weights.candidates, top_k * 4)
    fused: dict[int, float] = {}
    if weights.vector > 0:
        if vector_rows is not None:
            rows = vector_rows
        else:
            _, rows = snapshot.vectors.search(query_vector, depth, allowed=allowed)
        for rank, row in enumerate(rows.tolist(), start=1):
            fused[row] = fused.get(row, 0.0) + weights.vector / (weights.rrf_k + rank)
    lexical_by_row: dict[int, float] = {}
    if weights.lexical > 0:
        scores, rows = snapshot.lexical.search(query, depth, allowed=allowed, title_weight=weights.title_weight)
        for rank, (row, score) in enumerate(zip(rows.tolist(), scores.tolist(), strict=True), start=1):
            fused[row] = fused.get(row, 0.0) + weights.lexical / (weights.rrf_k + rank)
            lexical_by_row[row] = score
    if not fused:
        return []
    rows_array = np.fromiter(fused, dtype=np.int64, count=len(fused))
    cosine = dict(zip(rows_array.tolist(), snapshot.vectors.similarity(query_vector, rows_array).tolist(), strict=True))
    best_possible = (weights.vector + weights.lexical) / (weights.rrf_k + 1)
    if weights.method == "convex":
        fused = _convex(fused, cosine, lexical_by_row, weights)
        best_possible = 1.0
    if weights.exact_title > 0:
        named = snapshot.lexical.title_in_query(query, list(fused))
        for row, words in named.items():
            # longer titles first when several are named ("… Pinot Noir" inside "… Pinot Noir Reserve")
            fused[row] += weights.exact_title * best_possible * (1.0 + words / 1000.0)
        best_possible *= 1.0 + weights.exact_title * 1.1
    ranked = sorted(fused, key=lambda row: (-fused[row], -cosine[row], row))
    results: list[ContextChunk] = []
    for row in ranked:
        if min_score is not None and cosine[row] < min_score:
            continue
        results.append(
            snapshot.context_chunk(
                row,
                score=round(fused[row] / best_possible, 6),
                vector_score=round(cosine[row], 6),
                lexical_score=round(lexical_by_row.get(row, 0.0), 6),
            )
        )
        if len(results) == top_k:
            break
    return results


def fusion_weights(values: Mapping[str, object]) -> FusionWeights:
    """:class:`FusionWeights` from a mapping such as ``{"method": "rrf", "lexical": 2}`` (settings, CLI).

    Raises:
        ValueError: an unknown key or a value out of range.
    """
    known = set(FusionWeights.__dataclass_fields__)
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"unknown fusion weight {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    if values.get("method", "convex") not in ("rrf", "convex"):
        raise ValueError("fusion method must be rrf or convex")
    try:
        return FusionWeights(**values)  # type: ignore[arg-type]
    except TypeError as exc:
        raise ValueError(str(exc)) from exc


def _convex(
    candidates: dict[int, float], cosine: dict[int, float], lexical: dict[int, float], weights: FusionWeights
) -> dict[int, float]:
    """Convex combination of normalised scores for the candidate rows (see :class:`FusionWeights`)."""
    top_lexical = max(lexical.values(), default=0.0)
    values = [cosine[row] for row in candidates]
    low, high = min(values), max(values)
    spread = high - low if high > low else 1.0
    total = weights.vector + weights.lexical
    fused: dict[int, float] = {}
    for row in candidates:
        vector_part = (cosine[row] - low) / spread if weights.vector > 0 else 0.0
        lexical_part = lexical.get(row, 0.0) / top_lexical if top_lexical > 0 else 0.0
        fused[row] = (weights.vector * vector_part + weights.lexical * lexical_part) / total
    return fused


class Retriever:
    """Searches a chatbot's knowledge indexes (hybrid vector + BM25, optional metadata filters).

    Args:
        db: the database the indexes live in.
        embedder: the query embedder; it must be the model that built each index searched.
        weights: default fusion weights.
        index_weights: fusion weights per index name, overriding ``weights``.
        check_interval_s: how often (seconds) an index's version is re-read to notice ingests.
        language: the Snowball language of the lexical analyzer (``english``, ``danish``…).
        stores: finds an index's remote vector store (Pinecone, Qdrant); None = embedded only.
    """

    def __init__(
        self,
        *,
        db: Database,
        embedder: Embedder,
        weights: FusionWeights | None = None,
        index_weights: Mapping[str, FusionWeights] | None = None,
        check_interval_s: float = 1.0,
        language: str = "english",
        stores: StoreResolver | None = None,
    ) -> None:
        self.embedder = embedder
        self.weights = weights or FusionWeights()
        self.index_weights = dict(index_weights or {})
        self.snapshots = SnapshotCache(db=db, check_interval_s=check_interval_s, analyzer=Analyzer(language=language))
        self.stores = stores
        self.remote = RemoteVectors()
        self._fields: dict[tuple[str, str], tuple[int, CatalogueFields]] = {}

    async def embed_query(self, query: str) -> Vectors:
        """The query's unit vector, shape (dimension,), to reuse across searches (e.g. routing)."""
        vectors = await self.embedder.embed([query])
        return np.asarray(vectors[0], dtype=np.float32)

    async def search(
        self,
        *,
        chatbot_id: str,
        index_name: str,
        query: str,
        top_k: int,
        min_score: float | None = None,
        filters: Filters | None = None,
        query_vector: Vectors | None = None,
        weights: FusionWeights | None = None,
    ) -> list[ContextChunk]:
        """The best ``top_k`` chunks of the index for ``query``, best first.

        Args:
            chatbot_id: the chatbot whose index is searched.
            index_name: the index (a flow's ``knowledge_index``).
            query: the shopper's question.
            top_k: how many chunks at most.
            min_score: cosine-similarity floor (see :func:`hybrid_search`); None = no floor.
            filters: metadata conditions (see :mod:`samtale.knowledge.filters`).
            query_vector: the query already embedded by this embedder (saves ~10 ms of model time).
            weights: fusion weights for this call.

        Returns:
            ``[]`` when the chatbot has no such index (it has no knowledge yet) or nothing matches.

        Raises:
            EmbedderMismatchError: the index was built by another model, or ``query_vector``
                has the wrong dimension.
            FilterError: a malformed filter.
        """
        if top_k <= 0 or not query.strip():
            return []
        snapshot = await self.snapshots.get(chatbot_id=chatbot_id, index_name=index_name)
        if snapshot is None:
            return []
        check_embedder(snapshot.head, self.embedder.name, self.embedder.dimension)
        if len(snapshot) == 0:
            return []
        if query_vector is None:
            vector = await self.embed_query(query)
        else:
            vector = np.asarray(query_vector, dtype=np.float32).reshape(-1)
            if vector.shape[0] != snapshot.head.dimension:
                raise EmbedderMismatchError(
                    f"the query vector has {vector.shape[0]} dimensions; index {index_name!r} has "
                    f"{snapshot.head.dimension}",
                    details={"index": index_name, "index_dimension": snapshot.head.dimension},
                )
        fusion = weights or self.index_weights.get(index_name, self.weights)
        vector_rows = None
        store = await self.stores.resolve(chatbot_id=chatbot_id, index_name=index_name) if self.stores else None
        if store is not None and fusion.vector > 0:
            if filters:
                snapshot.columns.mask(filters)  # refuse a malformed filter before any request
            depth = max(fusion.candidates, top_k * 4)
            vector_rows = await self.remote.search(store, snapshot, vector=vector, k=depth, filters=filters)
        return await asyncio.to_thread(
            hybrid_search,
            snapshot,
            query=query,
            query_vector=vector,
            top_k=top_k,
            weights=fusion,
            min_score=min_score,
            filters=filters,
            vector_rows=vector_rows,
        )

    async def catalogue_fields(self, *, chatbot_id: str, index_name: str) -> CatalogueFields | None:
        """The filterable fields and values of the index (cached per index version), or None."""
        snapshot = await self.snapshots.get(chatbot_id=chatbot_id, index_name=index_name)
        if snapshot is None:
            return None
        key = (chatbot_id, index_name)
        cached = self._fields.get(key)
        if cached is not None and cached[0] == snapshot.head.version:
            return cached[1]
        fields = await asyncio.to_thread(CatalogueFields.from_metadata, snapshot.metadata)
        self._fields[key] = (snapshot.head.version, fields)
        return fields

    async def retrieve(
        self,
        *,
        chatbot_id: str,
        index_name: str,
        query: str,
        top_k: int,
        min_score: float | None = None,
        query_vector: Vectors | None = None,
        filter_mode: FilterMode = "rules",
        extractor: LLMFilterExtractor | None = None,
    ) -> Retrieval:
        """Search with the filters the question states ("under $30", "fra Italien"), when the index
        has those fields (rules first, the LLM with mode ``llm``; see
        :mod:`samtale.knowledge.question_filters`).

        No fallback: when the chosen filters match nothing, nothing is returned, so the answer
        says nothing matches rather than offering a $45 wine to someone who asked for under $30.
        The chosen filters are returned so the ``sources`` event can show them.

        Raises:
            EmbedderMismatchError, FilterError, VectorStoreError: as :meth:`search`.
        """
        chosen = None
        if filter_mode != "off" and query.strip():
            fields = await self.catalogue_fields(chatbot_id=chatbot_id, index_name=index_name)
            if fields is not None:
                chosen = await choose_filters(query, fields, mode=filter_mode, extractor=extractor)
        chunks = await self.search(
            chatbot_id=chatbot_id,
            index_name=index_name,
            query=query,
            top_k=top_k,
            min_score=min_score,
            filters=chosen.filters if chosen is not None and chosen.filters else None,
            query_vector=query_vector,
        )
        store = await self.stores.resolve(chatbot_id=chatbot_id, index_name=index_name) if self.stores else None
        return Retrieval(chunks=chunks, filters=chosen, store=store.kind if store is not None else "embedded")

    async def sync_store(self, *, chatbot_id: str, index_name: str) -> SyncReport | None:
        """Bring the index's remote store in step with the database now (e.g. right after an ingest).

        Returns the sync's report, or None when the index has
        no remote store, does not exist, or was already in step in this process.
        """
        if self.stores is None:
            return None
        store = await self.stores.resolve(chatbot_id=chatbot_id, index_name=index_name)
        snapshot = await self.snapshots.get(chatbot_id=chatbot_id, index_name=index_name)
        if store is None or snapshot is None:
            return None
        check_embedder(snapshot.head, self.embedder.name, self.embedder.dimension)
        return await self.remote.ensure_synced(store, snapshot)
