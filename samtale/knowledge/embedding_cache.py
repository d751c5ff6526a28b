"""Embed texts through the ``embedding_cache`` table, so the same text is never embedded twice.

Entries are keyed by (embedder name, SHA-256 of the text) and shared by every index and chatbot:
re-ingesting, re-chunking another index or ingesting the same catalogue for a second chatbot
reads the stored vectors instead of running the model again.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from samtale.knowledge.embedders import Embedder, EmbeddingError, Vectors
from samtale.storage.base import utcnow
from samtale.storage.db import Database
from samtale.storage.models.knowledge import EmbeddingCacheEntry

#: Texts per call to the embedder (progress is reported after each call).
EMBED_CALL_SIZE = 256
#: Hashes per ``IN (…)`` lookup, well under SQLite's and asyncpg's bound-parameter limits.
LOOKUP_SIZE = 500


def text_hash(text: str) -> str:
    """SHA-256 (hex) of ``text`` encoded as UTF-8: the cache key of its embedding."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def vector_to_bytes(vector: Vectors) -> bytes:
    """A vector as little-endian float32 bytes (how chunks and the cache store it)."""
    return np.asarray(vector, dtype="<f4").tobytes()


def bytes_to_vectors(blobs: Sequence[bytes], dimension: int) -> Vectors:
    """Stack little-endian float32 ``blobs`` into an array of shape (len(blobs), dimension).

    Raises:
        EmbeddingError: a blob does not hold exactly ``dimension`` floats.
    """
    if not blobs:
        return np.zeros((0, dimension), dtype=np.float32)
    joined = b"".join(blobs)
    if len(joined) != len(blobs) * dimension * 4:
        raise EmbeddingError(f"stored vectors do not have {dimension} float32 values each")
    return np.frombuffer(joined, dtype="<f4").reshape(len(blobs), dimension).astype(np.float32)


def upsert_ignore(dialect_name: str, table: Any) -> Any:
    """An ``INSERT … ON CONFLICT DO NOTHING`` for ``table`` on SQLite or PostgreSQL."""
    statement = pg_insert(table) if dialect_name == "postgresql" else sqlite_insert(table)
    return statement.on_conflict_do_nothing()


async def cached_embeddings(
    *,
    db: Database,
    embedder: Embedder,
    texts: Sequence[str],
    hashes: Sequence[str] | None = None,
    on_embedded: Callable[[int], None] | None = None,
) -> tuple[dict[str, Vectors], int]:
    """Vectors for ``texts``, from the cache where present, else embedded and stored in the cache.

    Texts missing from the cache are embedded shortest first in calls of
    :data:`EMBED_CALL_SIZE` (so each forward pass pads little), and each call's vectors are
    written to the cache in one bulk insert before the next call starts.

    Args:
        db: the database holding ``embedding_cache``.
        embedder: the model; its ``name`` is half of the cache key.
        texts: texts to embed (duplicates are embedded once).
        hashes: their :func:`text_hash` values, when already computed.
        on_embedded: called with the number of texts the model embedded after each call
            (cache hits are reported at once).

    Returns:
        ``({text_hash: vector}, number of texts the model embedded)``.

    Raises:
        EmbeddingError: the embedder failed or returned vectors of the wrong shape.
    """
    keys = list(hashes) if hashes is not None else [text_hash(text) for text in texts]
    by_hash = dict(zip(keys, texts, strict=True))
    found: dict[str, Vectors] = {}
    unique = list(by_hash)
    async with db.session() as session:
        for start in range(0, len(unique), LOOKUP_SIZE):
            part = unique[start : start + LOOKUP_SIZE]
            rows = await session.execute(
                select(EmbeddingCacheEntry.text_hash, EmbeddingCacheEntry.embedding).where(
                    EmbeddingCacheEntry.model == embedder.name, EmbeddingCacheEntry.text_hash.in_(part)
                )
            )
            for key, blob in rows:
                if len(blob) == embedder.dimension * 4:
                    found[key] = np.frombuffer(blob, dtype="<f4").astype(np.float32)
    if on_embedded is not None and found:
        on_embedded(sum(1 for key in keys if key in found))
    missing = sorted((key for key in unique if key not in found), key=lambda key: len(by_hash[key]))
    repeats = Counter(keys)
    statement = upsert_ignore(db.engine.dialect.name, EmbeddingCacheEntry)
    for start in range(0, len(missing), EMBED_CALL_SIZE):
        part = missing[start : start + EMBED_CALL_SIZE]
        vectors = await embedder.embed([by_hash[key] for key in part])
        if vectors.shape != (len(part), embedder.dimension):
            raise EmbeddingError(
                f"{embedder.name} returned vectors of shape {vectors.shape}, "
                f"expected ({len(part)}, {embedder.dimension})"
            )
        now = utcnow()
        rows_to_store = []
        for key, vector in zip(part, vectors, strict=True):
            found[key] = vector
            rows_to_store.append(
                {"model": embedder.name, "text_hash": key, "embedding": vector_to_bytes(vector), "created_at": now}
            )
        async with db.session() as session:
            await session.execute(statement, rows_to_store)
        if on_embedded is not None:
            on_embedded(sum(repeats[key] for key in part))
    return found, len(missing)
