"""Keeping a remote vector store in step with the index in our database, and querying it by row.

The database is the source of truth (DESIGN section 9): chunks, their vectors and metadata are
written there by ingestion in whole-document transactions. A remote store mirrors the vectors.
:func:`sync_store` makes the mirror equal to an index snapshot by id: it lists the store's ids,
upserts the chunks it lacks and deletes the ids no chunk has any more. Chunk ids are new for
every changed document, so an id present on both sides carries the same vector; the sync is
idempotent, and a sync cut short converges on the next run.

:class:`RemoteVectors` runs that sync once per index version and per store, under a lock, before
the first query that needs it (so the first query after an ingest waits for it), and maps the
store's hits back to snapshot rows so BM25 (local) and the vector ranking (remote) can be fused.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import numpy as np

from samtale.knowledge.embedders import Vectors
from samtale.knowledge.filters import Filters
from samtale.knowledge.snapshot import IndexSnapshot
from samtale.knowledge.stores.base import StoreRecord, VectorStore, remote_metadata
from samtale.knowledge.vector_store import Rows


@dataclass(frozen=True, slots=True)
class SyncReport:
    """What a sync did: vectors upserted and deleted, the store's count after, and the seconds taken."""

    upserted: int
    deleted: int
    count: int
    seconds: float


async def sync_store(store: VectorStore, snapshot: IndexSnapshot) -> SyncReport:
    """Make ``store`` hold exactly the chunks of ``snapshot`` (created for its model if missing).

    Raises:
        EmbedderMismatchError: the store was built by another model or dimension.
        VectorStoreError: the store failed.
    """
    started = time.perf_counter()
    await store.ensure(dimension=snapshot.head.dimension, embedding_model=snapshot.head.embedding_model)
    remote = await store.list_ids()
    local = {chunk_id: row for row, chunk_id in enumerate(snapshot.chunk_ids)}
    missing = [row for chunk_id, row in local.items() if chunk_id not in remote]
    stale = sorted(remote.difference(local))
    vectors = snapshot.vectors.vectors
    await store.upsert(
        [
            StoreRecord(
                id=snapshot.chunk_ids[row],
                vector=vectors[row].tolist(),
                metadata=remote_metadata(snapshot.metadata[row]),
            )
            for row in missing
        ]
    )
    if stale:
        await store.delete(ids=stale)
    return SyncReport(
        upserted=len(missing),
        deleted=len(stale),
        count=len(local),
        seconds=time.perf_counter() - started,
    )


class RemoteVectors:
    """The vector side of hybrid retrieval for indexes kept in a remote store (see module doc)."""

    def __init__(self) -> None:
        self._synced: dict[tuple[str, str, str], int] = {}
        self._rows: dict[tuple[str, str], tuple[int, dict[str, int]]] = {}
        self._locks: dict[tuple[str, str, str], asyncio.Lock] = {}
        self.last_sync: dict[tuple[str, str], SyncReport] = {}

    async def ensure_synced(self, store: VectorStore, snapshot: IndexSnapshot) -> SyncReport | None:
        """Sync ``store`` with ``snapshot`` unless this process already did for its version.

        Returns the sync's report, or None when nothing had to be done.
        """
        head = snapshot.head
        key = (head.chatbot_id, head.name, store.identity)
        if self._synced.get(key) == head.version:
            return None
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            if self._synced.get(key) == head.version:
                return None
            report = await sync_store(store, snapshot)
            self._synced[key] = head.version
            self.last_sync[(head.chatbot_id, head.name)] = report
            return report

    def _row_map(self, snapshot: IndexSnapshot) -> dict[str, int]:
        key = (snapshot.head.chatbot_id, snapshot.head.name)
        cached = self._rows.get(key)
        if cached is not None and cached[0] == snapshot.head.version:
            return cached[1]
        rows = {chunk_id: row for row, chunk_id in enumerate(snapshot.chunk_ids)}
        self._rows[key] = (snapshot.head.version, rows)
        return rows

    async def search(
        self, store: VectorStore, snapshot: IndexSnapshot, *, vector: Vectors, k: int, filters: Filters | None
    ) -> Rows:
        """Snapshot rows of the store's ``k`` nearest chunks meeting ``filters``, best first.

        Ids the snapshot does not hold (written after it was loaded) are left out.
        """
        await self.ensure_synced(store, snapshot)
        matches = await store.query(vector=vector.tolist(), top_k=k, filters=filters or None)
        rows = self._row_map(snapshot)
        found = [rows[match.id] for match in matches if match.id in rows]
        return np.asarray(found, dtype=np.int64)
