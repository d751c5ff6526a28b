"""The interface every remote vector store implements, its errors and the shared record shapes.

A remote store holds one vector per chunk (id = the chunk's id in our database) with the chunk's
metadata folded for filtering; it answers a nearest-neighbour query under a metadata filter. The
chunks themselves (text, title, metadata as shown) stay in our database, which stays the source
of truth: BM25 runs locally over the same chunks and is fused with the remote vector ranking
(see :mod:`samtale.knowledge.retrieval`).

Filters are the mapping of :mod:`samtale.knowledge.filters` (equality, ``in``, numeric ranges);
each store translates them into its own filter language. String values are compared
case-insensitively there, so strings are stored and queried case-folded (:func:`remote_metadata`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from samtale.errors import ErrorCategory, ServiceError
from samtale.knowledge.errors import EmbedderMismatchError
from samtale.knowledge.filters import OPERATORS, FilterError, Filters
from samtale.knowledge.types import MetadataValue


class VectorStoreError(ServiceError):
    """A remote vector store failed or answered something we cannot use (category ``vector_store``)."""

    code = "vector_store_error"
    category = ErrorCategory.VECTOR_STORE


@dataclass(frozen=True, slots=True)
class StoreRecord:
    """One vector to upsert: the chunk id, its unit vector (list of floats) and folded metadata."""

    id: str
    vector: list[float]
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StoreMatch:
    """One query hit: the chunk id and the store's similarity score (cosine, higher is better)."""

    id: str
    score: float


@dataclass(frozen=True, slots=True)
class StoreInfo:
    """What a store says about its collection (or namespace): dimension, the embedding model
    recorded when it was created (None when it carries none) and how many vectors it holds."""

    dimension: int
    embedding_model: str | None
    count: int


class VectorStore(Protocol):
    """A remote vector collection for one knowledge index (a Pinecone namespace, a Qdrant collection).

    Every method raises :class:`VectorStoreError` when the service fails or is unreachable and
    :class:`~samtale.knowledge.errors.EmbedderMismatchError` when the collection was built by
    another embedding model or dimension.
    """

    kind: str
    identity: str

    async def describe(self) -> StoreInfo | None:
        """The collection's description, or None when it does not exist yet."""
        ...

    async def ensure(self, *, dimension: int, embedding_model: str) -> StoreInfo:
        """Create the collection for this model and dimension if missing; refuse a mismatch."""
        ...

    async def upsert(self, records: Sequence[StoreRecord]) -> None:
        """Insert or replace ``records`` (batched as the service requires)."""
        ...

    async def query(self, *, vector: Sequence[float], top_k: int, filters: Filters | None = None) -> list[StoreMatch]:
        """The ``top_k`` nearest vectors meeting ``filters``, best first."""
        ...

    async def delete(self, *, ids: Sequence[str] | None = None, filters: Filters | None = None) -> None:
        """Delete vectors by id, or every vector meeting ``filters``."""
        ...

    async def list_ids(self) -> set[str]:
        """Every vector id in the collection (paged through the service's listing)."""
        ...

    async def aclose(self) -> None:
        """Release the client's connections."""
        ...


def fold_value(value: MetadataValue) -> Any:
    """A metadata value as stored remotely: strings case-folded, numbers and booleans as they are."""
    return value.casefold() if isinstance(value, str) else value


def remote_metadata(metadata: Mapping[str, MetadataValue]) -> dict[str, Any]:
    """Metadata for a remote store: None values dropped (neither Pinecone nor Qdrant filter on
    nulls the way our ``ne`` does) and strings case-folded, so equality is case-insensitive."""
    return {key: fold_value(value) for key, value in metadata.items() if value is not None}


def normalised_conditions(filters: Filters) -> list[tuple[str, str, Any]]:
    """``filters`` as ``(field, operator, operand)`` triples, operands folded like stored metadata.

    A bare value becomes ``eq``, a list becomes ``in``.

    Raises:
        FilterError: an unknown operator, ``in`` without a list, or a range on a non-number.
    """
    triples: list[tuple[str, str, Any]] = []
    for name, condition in filters.items():
        if isinstance(condition, Mapping):
            items = list(condition.items())
        elif isinstance(condition, Sequence) and not isinstance(condition, str):
            items = [("in", condition)]
        else:
            items = [("eq", condition)]
        for operator, operand in items:
            if operator not in OPERATORS:
                raise FilterError(
                    f"unknown filter operator {operator!r} on {name}; use one of {', '.join(sorted(OPERATORS))}"
                )
            if operator == "in":
                if isinstance(operand, str) or not isinstance(operand, Sequence):
                    raise FilterError(f"filter {name}.in needs a list of values")
                triples.append((name, "in", [fold_value(value) for value in operand]))
            elif operator in ("eq", "ne"):
                triples.append((name, operator, fold_value(operand)))
            else:
                if isinstance(operand, bool) or not isinstance(operand, int | float):
                    raise FilterError(f"filter {name}.{operator} needs a number, got {operand!r}")
                triples.append((name, operator, operand))
    return triples


def check_store_embedder(info: StoreInfo, *, where: str, embedding_model: str, dimension: int) -> None:
    """Refuse a collection built with another dimension, or tagged with another embedding model.

    Args:
        info: the collection's description.
        where: a readable name of the collection (``pinecone index wines, namespace products``).
        embedding_model, dimension: the query/ingest embedder's.

    Raises:
        EmbedderMismatchError: the dimension differs, or the recorded model differs.
    """
    if info.dimension != dimension or (info.embedding_model is not None and info.embedding_model != embedding_model):
        raise EmbedderMismatchError(
            f"{where} was built with {info.embedding_model or 'an unrecorded model'} ({info.dimension} dimensions), "
            f"not {embedding_model} ({dimension} dimensions); point the index at a new collection or re-ingest it",
            details={
                "store": where,
                "store_model": info.embedding_model,
                "store_dimension": info.dimension,
                "embedder_model": embedding_model,
                "embedder_dimension": dimension,
            },
        )
