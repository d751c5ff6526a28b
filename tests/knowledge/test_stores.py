"""A shop keeps its catalogue vectors in Pinecone or a Qdrant server; shoppers' searches still find
the right wines, with metadata filters, through the official clients over real loopback HTTP."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import select

from samtale.chatbots.service import import_chatbot, parse_chatbot_documents
from samtale.errors import ErrorCategory
from samtale.knowledge.embedders import LocalEmbedder
from samtale.knowledge.errors import EmbedderMismatchError
from samtale.knowledge.ingest import ingest_paths
from samtale.knowledge.parsers import CsvOptions
from samtale.knowledge.retrieval import Retriever
from samtale.knowledge.simulators.pinecone import create_pinecone_simulator
from samtale.knowledge.simulators.qdrant import create_qdrant_simulator
from samtale.knowledge.stores.base import StoreRecord
from samtale.knowledge.stores.config import StoreRegistry
from samtale.knowledge.stores.pinecone import PineconeStore
from samtale.knowledge.stores.qdrant import QdrantStore
from samtale.storage.db import Database
from samtale.storage.models import Integration
from tests.knowledge.helpers import WINE_METADATA_ONLY, chatbot_id, wine_rows, write_wines

# qdrant-client warns when an API key travels over plain HTTP; the simulators are plain HTTP on loopback.
pytestmark = pytest.mark.filterwarnings("ignore:Api key is used with an insecure connection:UserWarning")

SECRET_KEY = "test-secret-key-for-stores"
PINECONE_KEY = "pcsk-test-0123456789"
QDRANT_KEY = "qdrant-test-key-987"
WINE_OPTIONS = CsvOptions(metadata_only_columns=WINE_METADATA_ONLY)

Serve = Callable[[FastAPI], str]


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Serve apps with uvicorn on 127.0.0.1 (ephemeral port) in a thread; returns base URLs."""
    running: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(app: FastAPI) -> str:
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the simulator did not start")
            time.sleep(0.01)
        running.append((server, thread))
        return f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"

    yield start
    for server, _ in running:
        server.should_exit = True
    for _, thread in running:
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str], list[dict[str, str]]]:
    """The first 150 wines of the catalogue as a product feed, with its header."""
    header, rows = wine_rows(150)
    return write_wines(tmp_path_factory.mktemp("feed") / "wines.csv", header, rows), header, rows


def _chatbot_yaml(shop: str, kind: str, url: str) -> str:
    if kind == "pinecone":
        store = (
            f"{{name: vectors, kind: pinecone, settings: {{knowledge_index: products, index: wines, host: '{url}'}}, "
            f"secrets: {{api_key: {PINECONE_KEY}}}}}"
        )
    else:
        store = (
            f"{{name: vectors, kind: qdrant, settings: {{knowledge_indexes: [products], url: '{url}', "
            f"collection: {shop}-products}}, secrets: {{api_key: {QDRANT_KEY}}}}}"
        )
    return f"""
id: {shop}
name: Wine shop
flows:
  - {{type: main, knowledge_index: products}}
integrations:
  - {store}
"""


def _simulator(kind: str) -> FastAPI:
    return (
        create_pinecone_simulator(api_key=PINECONE_KEY)
        if kind == "pinecone"
        else create_qdrant_simulator(api_key=QDRANT_KEY)
    )


def _stored_vectors(app: FastAPI, kind: str, shop: str) -> dict[Any, Any]:
    if kind == "pinecone":
        return dict(app.state.indexes["wines"].namespaces[f"{shop}.products"])
    return dict(app.state.collections[f"{shop}-products"].points)


@pytest.mark.parametrize("kind", ["pinecone", "qdrant"])
async def test_a_catalogue_in_a_remote_store_answers_like_the_embedded_one(
    kind: str,
    db: Database,
    embedder: LocalEmbedder,
    serve: Serve,
    catalogue: tuple[Path, list[str], list[dict[str, str]]],
    tmp_path: Path,
) -> None:
    feed, header, rows = catalogue
    shop = chatbot_id(kind)
    app = _simulator(kind)
    url = await asyncio.to_thread(serve, app)
    (config,) = parse_chatbot_documents(_chatbot_yaml(shop, kind, url))
    await import_chatbot(db=db, config=config, secret_key=SECRET_KEY)
    async with db.session() as session:
        row = await session.scalar(select(Integration).where(Integration.chatbot_id == shop))
    assert row is not None and row.secrets_encrypted is not None
    key = PINECONE_KEY if kind == "pinecone" else QDRANT_KEY
    assert key.encode() not in row.secrets_encrypted and key not in str(row.settings)

    await ingest_paths(
        db=db,
        embedder=embedder,
        chatbot_id=shop,
        index_name="products",
        paths=[feed],
        csv_options=WINE_OPTIONS,
        id_column="id",
    )
    registry = StoreRegistry(db=db, secret_key=SECRET_KEY)
    remote = Retriever(db=db, embedder=embedder, stores=registry, check_interval_s=0)
    embedded = Retriever(db=db, embedder=embedder)
    try:
        # The first search syncs the store: every chunk's vector is there, keyed by chunk id.
        wine = rows[40]
        question = f"Tell me about the {wine['title']}"
        found = await remote.search(chatbot_id=shop, index_name="products", query=question, top_k=5)
        assert found[0].document_id == wine["id"]
        stored = _stored_vectors(app, kind, shop)
        assert len(stored) == len(rows)
        assert {str(chunk_id) for chunk_id in stored} >= {chunk.chunk_id for chunk in found}
        baseline = await embedded.search(chatbot_id=shop, index_name="products", query=question, top_k=5)
        assert [c.chunk_id for c in found] == [c.chunk_id for c in baseline]

        # A product question gets filters, applied by the store (vector side) and locally (BM25).
        result = await remote.retrieve(
            chatbot_id=shop, index_name="products", query="a Pinot Noir under $30 from the US", top_k=5
        )
        assert result.store == kind
        assert result.filters is not None and result.filters.source == "rules"
        assert dict(result.filters.filters) == {"price": {"lt": 30}, "variety": "Pinot Noir", "country": "US"}
        assert result.chunks
        for chunk in result.chunks:
            assert chunk.metadata["variety"] == "Pinot Noir" and chunk.metadata["country"] == "US"
            assert isinstance(chunk.metadata["price"], int | float) and chunk.metadata["price"] < 30
        plain = await embedded.retrieve(
            chatbot_id=shop, index_name="products", query="a Pinot Noir under $30 from the US", top_k=5
        )
        assert [c.chunk_id for c in result.chunks] == [c.chunk_id for c in plain.chunks]

        # A changed wine replaces its chunk: the next search syncs the store again.
        changed = dict(rows[40], description="A wine of lemon peel and sea spray, bottled by the harbour.")
        await asyncio.to_thread(write_wines, tmp_path / "wines.csv", header, [changed, *rows[:40], *rows[41:]])
        await ingest_paths(
            db=db,
            embedder=embedder,
            chatbot_id=shop,
            index_name="products",
            paths=[tmp_path / "wines.csv"],
            csv_options=WINE_OPTIONS,
            id_column="id",
        )
        found = await remote.search(chatbot_id=shop, index_name="products", query="lemon peel and sea spray", top_k=3)
        assert found[0].document_id == wine["id"]
        after = _stored_vectors(app, kind, shop)
        assert len(after) == len(rows)
        assert set(after) != set(stored)
        report = remote.remote.last_sync[(shop, "products")]
        assert (report.upserted, report.deleted) == (1, 1)
    finally:
        await registry.aclose()


@pytest.mark.parametrize("kind", ["pinecone", "qdrant"])
async def test_a_store_built_by_another_model_is_refused(
    kind: str, db: Database, embedder: LocalEmbedder, serve: Serve, tmp_path: Path
) -> None:
    shop = chatbot_id(f"{kind}-mismatch")
    app = _simulator(kind)
    url = await asyncio.to_thread(serve, app)
    # Someone else's collection of 3-dimensional vectors already sits where the config points.
    if kind == "pinecone":
        other: Any = PineconeStore(api_key=PINECONE_KEY, index_name="wines", namespace="x", controller_host=url)
    else:
        other = QdrantStore(url=url, collection=f"{shop}-products", api_key=QDRANT_KEY)
    await other.ensure(dimension=3, embedding_model="toy-model")
    await other.aclose()
    (config,) = parse_chatbot_documents(_chatbot_yaml(shop, kind, url))
    await import_chatbot(db=db, config=config, secret_key=SECRET_KEY)
    notes = tmp_path / "faq.md"
    await asyncio.to_thread(
        notes.write_text, "# Shipping\n\nWe ship to Denmark and Sweden within three days.\n", encoding="utf-8"
    )
    await ingest_paths(db=db, embedder=embedder, chatbot_id=shop, index_name="products", paths=[notes])

    registry = StoreRegistry(db=db, secret_key=SECRET_KEY)
    retriever = Retriever(db=db, embedder=embedder, stores=registry)
    try:
        with pytest.raises(EmbedderMismatchError, match=r"toy-model \(3 dimensions\)") as caught:
            await retriever.search(chatbot_id=shop, index_name="products", query="where do you ship?", top_k=3)
        assert caught.value.category == ErrorCategory.VECTOR_STORE
    finally:
        await registry.aclose()


# qdrant-client warns when an API key travels over plain HTTP; the simulator is plain HTTP on loopback.
@pytest.mark.filterwarnings("ignore:Api key is used with an insecure connection:UserWarning")
@pytest.mark.parametrize("kind", ["pinecone", "qdrant"])
async def test_store_operations_follow_the_real_api(kind: str, serve: Serve) -> None:
    url = await asyncio.to_thread(serve, _simulator(kind))
    store: Any
    if kind == "pinecone":
        store = PineconeStore(
            api_key=PINECONE_KEY, index_name="catalogue", namespace="shop.products", controller_host=url
        )
    else:
        store = QdrantStore(url=url, collection="shop-products", api_key=QDRANT_KEY)
    try:
        assert await store.describe() is None
        info = await store.ensure(dimension=4, embedding_model="all-MiniLM-L6-v2")
        assert (info.dimension, info.embedding_model, info.count) == (4, "all-MiniLM-L6-v2", 0)
        ids = [str(uuid.uuid4()) for _ in range(260)]  # more than a Pinecone list page and an upsert batch
        await store.upsert(
            [
                StoreRecord(
                    id=chunk_id,
                    vector=[1.0, number / 260, 0.0, 0.0],
                    metadata={"price": number, "country": "italy" if number % 2 else "us"},
                )
                for number, chunk_id in enumerate(ids)
            ]
        )
        assert await store.list_ids() == set(ids)
        described = await store.describe()
        assert described is not None and described.count == 260
        hits = await store.query(
            vector=[1, 0, 0, 0], top_k=3, filters={"price": {"gte": 10, "lt": 20}, "country": "Italy"}
        )
        assert [hit.id for hit in hits] == [ids[11], ids[13], ids[15]]
        assert hits[0].score > hits[1].score > hits[2].score
        hits = await store.query(vector=[1, 0, 0, 0], top_k=2, filters={"country": ["US"], "price": {"ne": 0}})
        assert [hit.id for hit in hits] == [ids[2], ids[4]]
        await store.delete(ids=ids[:10])
        await store.delete(filters={"country": "us"})
        assert await store.list_ids() == {chunk_id for n, chunk_id in enumerate(ids) if n >= 10 and n % 2}
        with pytest.raises(EmbedderMismatchError):
            await store.ensure(dimension=4, embedding_model="text-embedding-3-small")
    finally:
        await store.aclose()
