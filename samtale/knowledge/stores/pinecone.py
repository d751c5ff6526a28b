"""Pinecone as the vector side of a knowledge index (the seeds' choice), through the official client.

One Pinecone index (dense, cosine) holds many of our knowledge indexes, one **namespace** per
knowledge index (seed 001 kept one Pinecone index per flow; namespaces give the same isolation
without an index per flow). The index is created on first use with the embedder's dimension and
the tag ``samtale_embedding_model`` naming the model; an existing index with another dimension
or model tag is refused (:class:`~samtale.knowledge.errors.EmbedderMismatchError`).

Strings in metadata are stored case-folded so equality filters are case-insensitive like the
embedded store's (see :mod:`samtale.knowledge.stores.base`).

The client (``pinecone`` v10, httpx inside) takes a control-plane ``host`` and an index host
but no injected transport; tests point both at the simulator in
:mod:`samtale.knowledge.simulators.pinecone` on a loopback port.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pinecone import AsyncPinecone
from pinecone.errors import PineconeError

from samtale.knowledge.filters import Filters
from samtale.knowledge.stores.base import (
    StoreInfo,
    StoreMatch,
    StoreRecord,
    VectorStoreError,
    check_store_embedder,
    normalised_conditions,
)

MODEL_TAG = "samtale_embedding_model"
#: Vectors per upsert request (Pinecone accepts up to 1,000 per request or 2 MB; 384-d vectors
#: with metadata stay well under 2 MB at 200).
UPSERT_BATCH = 200
#: Ids per delete request (Pinecone's limit is 1,000).
DELETE_BATCH = 1000
LIST_PAGE = 100
_TAG_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")

_OPERATORS = {"eq": "$eq", "ne": "$ne", "in": "$in", "lt": "$lt", "lte": "$lte", "gt": "$gt", "gte": "$gte"}


def pinecone_filter(filters: Filters) -> dict[str, Any]:
    """Our filter mapping as a Pinecone metadata filter (``$and`` of per-field operator objects).

    Raises:
        FilterError: a malformed filter.
    """
    parts = [{name: {_OPERATORS[operator]: operand}} for name, operator, operand in normalised_conditions(filters)]
    return parts[0] if len(parts) == 1 else {"$and": parts}


def model_tag(embedding_model: str) -> str:
    """The model name as a Pinecone tag value (letters, digits, ``_ . -``; at most 120 characters)."""
    return _TAG_UNSAFE.sub("_", embedding_model)[:120]


class PineconeStore:
    """One namespace of a Pinecone index, as a :class:`~samtale.knowledge.stores.base.VectorStore`.

    Args:
        api_key: the Pinecone API key (from the chatbot's encrypted integration secrets).
        index_name: the Pinecone index (created serverless on first :meth:`ensure` if missing).
        namespace: the namespace holding this knowledge index's vectors.
        controller_host: the control-plane URL (default Pinecone's ``https://api.pinecone.io``).
        index_host: the index's data-plane host; None = looked up with one describe call.
        cloud, region: where a new serverless index is created.
        timeout_s: per-request timeout in seconds.
    """

    kind = "pinecone"

    def __init__(
        self,
        *,
        api_key: str,
        index_name: str,
        namespace: str,
        controller_host: str | None = None,
        index_host: str | None = None,
        cloud: str = "aws",
        region: str = "us-east-1",
        timeout_s: float = 10.0,
    ) -> None:
        self.index_name = index_name
        self.namespace = namespace
        self.cloud = cloud
        self.region = region
        self.identity = f"pinecone:{controller_host or 'api.pinecone.io'}/{index_name}#{namespace}"
        self._where = f"pinecone index {index_name!r} (namespace {namespace!r})"
        self._client = AsyncPinecone(api_key=api_key, host=controller_host, timeout=timeout_s)
        self._index_host = index_host
        self._index: Any = None

    async def _data(self) -> Any:
        if self._index is None:
            try:
                self._index = await self._client.index(name=self.index_name, host=self._index_host or "")
            except PineconeError as exc:
                raise VectorStoreError(f"{self._where}: {exc}") from exc
        return self._index

    async def describe(self) -> StoreInfo | None:
        """The index's dimension and model tag, with this namespace's vector count; None when the
        Pinecone index does not exist."""
        try:
            if not await self._client.indexes.exists(self.index_name):
                return None
            model = await self._client.indexes.describe(self.index_name)
            stats = await (await self._data()).describe_index_stats()
        except PineconeError as exc:
            raise VectorStoreError(f"{self._where}: {exc}") from exc
        namespace = stats.namespaces.get(self.namespace)
        tags = dict(model.tags or {})
        if model.dimension is None:
            raise VectorStoreError(f"{self._where} has no single dense vector field; samtale needs one")
        return StoreInfo(
            dimension=int(model.dimension),
            embedding_model=tags.get(MODEL_TAG),
            count=int(namespace.vector_count) if namespace is not None else 0,
        )

    async def ensure(self, *, dimension: int, embedding_model: str) -> StoreInfo:
        """Create the serverless index (cosine, tagged with the model) if missing; refuse a mismatch.

        Raises:
            EmbedderMismatchError: the index has another dimension or model tag.
            VectorStoreError: Pinecone failed.
        """
        info = await self.describe()
        if info is None:
            try:
                await self._client.indexes.create(
                    name=self.index_name,
                    schema={"fields": {"values": {"type": "dense_vector", "dimension": dimension, "metric": "cosine"}}},
                    deployment={"deployment_type": "managed", "cloud": self.cloud, "region": self.region},
                    tags={MODEL_TAG: model_tag(embedding_model)},
                )
            except PineconeError as exc:
                raise VectorStoreError(f"{self._where}: could not create the index: {exc}") from exc
            info = StoreInfo(dimension=dimension, embedding_model=model_tag(embedding_model), count=0)
        check_store_embedder(
            info,
            where=self._where,
            embedding_model=model_tag(embedding_model),
            dimension=dimension,
        )
        return info

    async def upsert(self, records: Sequence[StoreRecord]) -> None:
        """Upsert ``records`` into the namespace, :data:`UPSERT_BATCH` per request."""
        index = await self._data()
        try:
            for start in range(0, len(records), UPSERT_BATCH):
                batch = records[start : start + UPSERT_BATCH]
                await index.upsert(
                    vectors=[{"id": r.id, "values": r.vector, "metadata": r.metadata} for r in batch],
                    namespace=self.namespace,
                    show_progress=False,
                )
        except PineconeError as exc:
            raise VectorStoreError(f"{self._where}: upsert failed: {exc}") from exc

    async def query(self, *, vector: Sequence[float], top_k: int, filters: Filters | None = None) -> list[StoreMatch]:
        """The ``top_k`` nearest vectors of the namespace meeting ``filters``, best first (cosine)."""
        index = await self._data()
        body_filter = pinecone_filter(filters) if filters else None
        try:
            response = await index.query(
                vector=[float(x) for x in vector], top_k=top_k, namespace=self.namespace, filter=body_filter
            )
        except PineconeError as exc:
            raise VectorStoreError(f"{self._where}: query failed: {exc}") from exc
        return [StoreMatch(id=str(match.id), score=float(match.score)) for match in response.matches]

    async def delete(self, *, ids: Sequence[str] | None = None, filters: Filters | None = None) -> None:
        """Delete vectors of the namespace by id (batched) or by filter."""
        if ids is None and not filters:
            raise VectorStoreError(f"{self._where}: delete needs ids or a filter")
        index = await self._data()
        try:
            if ids is not None:
                for start in range(0, len(ids), DELETE_BATCH):
                    await index.delete(ids=list(ids[start : start + DELETE_BATCH]), namespace=self.namespace)
            else:
                await index.delete(filter=pinecone_filter(filters or {}), namespace=self.namespace)
        except PineconeError as exc:
            raise VectorStoreError(f"{self._where}: delete failed: {exc}") from exc

    async def list_ids(self) -> set[str]:
        """Every id in the namespace, paged :data:`LIST_PAGE` at a time (Pinecone's maximum)."""
        index = await self._data()
        ids: set[str] = set()
        token: str | None = None
        try:
            while True:
                page = await index.list_paginated(namespace=self.namespace, limit=LIST_PAGE, pagination_token=token)
                ids.update(str(item.id) for item in page.vectors)
                token = page.pagination.next if page.pagination is not None else None
                if not token:
                    return ids
        except PineconeError as exc:
            raise VectorStoreError(f"{self._where}: listing ids failed: {exc}") from exc

    async def aclose(self) -> None:
        """Close the data-plane and control-plane clients."""
        if self._index is not None:
            await self._index.close()
        await self._client.close()
