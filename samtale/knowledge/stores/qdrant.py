"""A Qdrant server collection as the vector side of a knowledge index, through ``qdrant-client``.

One collection per knowledge index (cosine distance), created on first use with the embedder's
dimension and the collection metadata ``{"samtale_embedding_model": <model>}``; an existing
collection with another dimension or model is refused
(:class:`~samtale.knowledge.errors.EmbedderMismatchError`). Point ids are our chunk ids
(UUIDs, which Qdrant accepts as ids); the payload is the chunk's metadata with strings
case-folded, so equality filters are case-insensitive like the embedded store's.

The REST API is used (``prefer_grpc=False``); tests point the client at the simulator in
:mod:`samtale.knowledge.simulators.qdrant` on a loopback port.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qdrant_client import AsyncQdrantClient
from qdrant_client import models as qm
from qdrant_client.http.exceptions import ApiException, ResponseHandlingException, UnexpectedResponse

from samtale.knowledge.filters import Filters
from samtale.knowledge.stores.base import (
    StoreInfo,
    StoreMatch,
    StoreRecord,
    VectorStoreError,
    check_store_embedder,
    normalised_conditions,
)

MODEL_KEY = "samtale_embedding_model"
#: Points per upsert request and per scroll page.
UPSERT_BATCH = 256
SCROLL_PAGE = 1000
_FAILURES = (ApiException, ResponseHandlingException, UnexpectedResponse, OSError)


def qdrant_filter(filters: Filters) -> qm.Filter:
    """Our filter mapping as a Qdrant ``Filter``: ``must`` conditions, ``must_not`` for ``ne``.

    Raises:
        FilterError: a malformed filter.
    """
    must: list[Any] = []
    must_not: list[Any] = []
    for name, operator, operand in normalised_conditions(filters):
        if operator == "eq":
            must.append(qm.FieldCondition(key=name, match=qm.MatchValue(value=operand)))
        elif operator == "ne":
            must_not.append(qm.FieldCondition(key=name, match=qm.MatchValue(value=operand)))
        elif operator == "in":
            must.append(qm.FieldCondition(key=name, match=qm.MatchAny(any=list(operand))))
        else:
            must.append(qm.FieldCondition(key=name, range=qm.Range(**{operator: operand})))
    return qm.Filter(must=must or None, must_not=must_not or None)


class QdrantStore:
    """One Qdrant collection, as a :class:`~samtale.knowledge.stores.base.VectorStore`.

    Args:
        url: the Qdrant server, e.g. ``http://qdrant:6333``.
        collection: the collection holding this knowledge index's vectors.
        api_key: the server's API key (from the chatbot's encrypted integration secrets), or None.
        timeout_s: per-request timeout in seconds.
    """

    kind = "qdrant"

    def __init__(self, *, url: str, collection: str, api_key: str | None = None, timeout_s: float = 10.0) -> None:
        self.collection = collection
        self.identity = f"qdrant:{url.rstrip('/')}/{collection}"
        self._where = f"qdrant collection {collection!r}"
        self._client = AsyncQdrantClient(
            url=url, api_key=api_key, timeout=int(max(1, timeout_s)), prefer_grpc=False, check_compatibility=False
        )

    async def describe(self) -> StoreInfo | None:
        """The collection's dimension, recorded model and point count; None when it does not exist."""
        try:
            if not await self._client.collection_exists(self.collection):
                return None
            info = await self._client.get_collection(self.collection)
        except _FAILURES as exc:
            raise VectorStoreError(f"{self._where}: {exc}") from exc
        vectors = info.config.params.vectors
        if not isinstance(vectors, qm.VectorParams):
            raise VectorStoreError(f"{self._where} uses named vectors; samtale needs one unnamed vector per point")
        metadata = info.config.metadata or {}
        model = metadata.get(MODEL_KEY)
        return StoreInfo(
            dimension=int(vectors.size),
            embedding_model=str(model) if model is not None else None,
            count=int(info.points_count or 0),
        )

    async def ensure(self, *, dimension: int, embedding_model: str) -> StoreInfo:
        """Create the collection (cosine, model in its metadata) if missing; refuse a mismatch.

        Raises:
            EmbedderMismatchError: the collection has another dimension or model.
            VectorStoreError: Qdrant failed.
        """
        info = await self.describe()
        if info is None:
            try:
                await self._client.create_collection(
                    self.collection,
                    vectors_config=qm.VectorParams(size=dimension, distance=qm.Distance.COSINE),
                    metadata={MODEL_KEY: embedding_model},
                )
            except _FAILURES as exc:
                raise VectorStoreError(f"{self._where}: could not create the collection: {exc}") from exc
            info = StoreInfo(dimension=dimension, embedding_model=embedding_model, count=0)
        check_store_embedder(info, where=self._where, embedding_model=embedding_model, dimension=dimension)
        return info

    async def upsert(self, records: Sequence[StoreRecord]) -> None:
        """Upsert ``records`` (waiting for each batch to be applied)."""
        try:
            for start in range(0, len(records), UPSERT_BATCH):
                batch = records[start : start + UPSERT_BATCH]
                await self._client.upsert(
                    self.collection,
                    points=[qm.PointStruct(id=r.id, vector=r.vector, payload=r.metadata) for r in batch],
                    wait=True,
                )
        except _FAILURES as exc:
            raise VectorStoreError(f"{self._where}: upsert failed: {exc}") from exc

    async def query(self, *, vector: Sequence[float], top_k: int, filters: Filters | None = None) -> list[StoreMatch]:
        """The ``top_k`` nearest points meeting ``filters``, best first (cosine)."""
        query_filter = qdrant_filter(filters) if filters else None
        try:
            response = await self._client.query_points(
                self.collection,
                query=[float(x) for x in vector],
                query_filter=query_filter,
                limit=top_k,
                with_payload=False,
            )
        except _FAILURES as exc:
            raise VectorStoreError(f"{self._where}: query failed: {exc}") from exc
        return [StoreMatch(id=str(point.id), score=float(point.score)) for point in response.points]

    async def delete(self, *, ids: Sequence[str] | None = None, filters: Filters | None = None) -> None:
        """Delete points by id or by filter."""
        if ids is None and not filters:
            raise VectorStoreError(f"{self._where}: delete needs ids or a filter")
        selector: Any = (
            qm.PointIdsList(points=list(ids))
            if ids is not None
            else qm.FilterSelector(filter=qdrant_filter(filters or {}))
        )
        try:
            await self._client.delete(self.collection, points_selector=selector, wait=True)
        except _FAILURES as exc:
            raise VectorStoreError(f"{self._where}: delete failed: {exc}") from exc

    async def list_ids(self) -> set[str]:
        """Every point id, scrolled :data:`SCROLL_PAGE` at a time without payloads or vectors."""
        ids: set[str] = set()
        offset: Any = None
        try:
            while True:
                points, offset = await self._client.scroll(
                    self.collection, limit=SCROLL_PAGE, offset=offset, with_payload=False, with_vectors=False
                )
                ids.update(str(point.id) for point in points)
                if offset is None:
                    return ids
        except _FAILURES as exc:
            raise VectorStoreError(f"{self._where}: listing ids failed: {exc}") from exc

    async def aclose(self) -> None:
        """Close the client's connections."""
        await self._client.close()
