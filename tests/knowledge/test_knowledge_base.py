"""A shop loads its policies and wine catalogue, and shoppers' questions find the right passages."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from samtale.knowledge.embedders import LocalEmbedder, OpenAIEmbedder
from samtale.knowledge.errors import EmbedderMismatchError
from samtale.knowledge.ingest import IngestProgress, ingest_paths
from samtale.knowledge.parsers import CsvOptions
from samtale.knowledge.retrieval import Retriever
from samtale.storage.db import Database
from samtale.storage.models.knowledge import KnowledgeChunk, KnowledgeDocument
from tests.knowledge.helpers import TERMS, WINE_METADATA_ONLY, chatbot_id, wine_rows, write_wines

WINE_OPTIONS = CsvOptions(metadata_only_columns=WINE_METADATA_ONLY)


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, str]]]:
    """The first 300 wines of the catalogue, as a shop's product feed file."""
    header, rows = wine_rows(300)
    return write_wines(tmp_path_factory.mktemp("feed") / "wines.csv", header, rows), rows


async def test_a_question_about_returns_finds_the_returns_terms(db: Database, embedder: LocalEmbedder) -> None:
    shop = chatbot_id("stellaholm")
    report = await ingest_paths(db=db, embedder=embedder, chatbot_id=shop, index_name="policies", paths=[TERMS])
    assert (report.documents_added, report.documents_failed) == (1, 0)
    assert report.chunks_written >= 5

    retriever = Retriever(db=db, embedder=embedder)
    for question in ("Can I return an item I bought?", "How many days do I have to get a refund?"):
        found = await retriever.search(chatbot_id=shop, index_name="policies", query=question, top_k=3)
        assert "Terms & Conditions > Products and Orders" in [chunk.title for chunk in found], question
        returns = next(chunk for chunk in found if chunk.title == "Terms & Conditions > Products and Orders")
        assert "within 14 days of delivery" in returns.text
        assert returns.document_id == "stellaholm-terms.en.md"


async def test_shoppers_find_a_wine_by_its_title_or_by_winery_and_grape(
    db: Database, embedder: LocalEmbedder, catalogue: tuple[Path, list[dict[str, str]]]
) -> None:
    feed, rows = catalogue
    shop = chatbot_id("winemag")
    updates: list[IngestProgress] = []
    report = await ingest_paths(
        db=db,
        embedder=embedder,
        chatbot_id=shop,
        index_name="products",
        paths=[feed],
        id_column="id",
        csv_options=WINE_OPTIONS,
        progress=updates.append,
    )
    assert (report.documents_added, report.chunks_written, report.documents_failed) == (300, 300, 0)
    assert updates[-1].done == updates[-1].total == 300

    retriever = Retriever(db=db, embedder=embedder)
    pairs = Counter((row["winery"], row["variety"]) for row in rows)
    picked = [row for row in rows[7::37] if pairs[(row["winery"], row["variety"])] == 1][:5]
    assert len(picked) == 5
    for wine in picked:
        by_title = await retriever.search(
            chatbot_id=shop, index_name="products", query=f"Tell me about the {wine['title']}", top_k=5
        )
        assert wine["id"] in [chunk.document_id for chunk in by_title], wine["title"]
        by_producer = await retriever.search(
            chatbot_id=shop,
            index_name="products",
            query=f"Do you sell a {wine['variety']} from {wine['winery']}?",
            top_k=5,
        )
        assert wine["id"] in [chunk.document_id for chunk in by_producer], (wine["winery"], wine["variety"])

    top = by_title[0]
    assert top.metadata["id"] == int(wine["id"])
    assert top.text.startswith("country: ")
    assert "taster_name" not in top.text  # metadata only
    assert top.vector_score is not None and top.lexical_score is not None

    cheap_us = await retriever.search(
        chatbot_id=shop,
        index_name="products",
        query="a fresh white wine",
        top_k=10,
        filters={"country": "us", "price": {"lte": 15}},
    )
    assert cheap_us
    assert all(c.metadata["country"] == "US" and float(str(c.metadata["price"])) <= 15 for c in cheap_us)

    again = await ingest_paths(
        db=db,
        embedder=embedder,
        chatbot_id=shop,
        index_name="products",
        paths=[feed],
        id_column="id",
        csv_options=WINE_OPTIONS,
    )
    assert (again.documents_added, again.documents_updated, again.documents_unchanged) == (0, 0, 300)
    assert (again.chunks_written, again.chunks_embedded) == (0, 0)
    assert again.index_version == report.index_version


async def test_a_changed_row_replaces_its_chunks_and_searches_see_it(
    db: Database, embedder: LocalEmbedder, tmp_path: Path
) -> None:
    header, rows = wine_rows(20)
    shop = chatbot_id("changes")
    feed = await asyncio.to_thread(write_wines, tmp_path / "wines.csv", header, rows)
    first = await ingest_paths(
        db=db, embedder=embedder, chatbot_id=shop, index_name="products", paths=[feed], id_column="id"
    )
    retriever = Retriever(db=db, embedder=embedder, check_interval_s=0)
    assert await retriever.search(chatbot_id=shop, index_name="products", query="wine", top_k=3)

    rows[4]["description"] = "Smoky notes of bergamot and sea salt over a long, saline finish."
    await asyncio.to_thread(write_wines, feed, header, rows)
    second = await ingest_paths(
        db=db, embedder=embedder, chatbot_id=shop, index_name="products", paths=[feed], id_column="id"
    )

    assert (second.documents_added, second.documents_updated, second.documents_unchanged) == (0, 1, 19)
    assert (second.chunks_written, second.chunks_embedded) == (1, 1)
    assert second.index_version > first.index_version
    async with db.session() as session:
        texts = (
            await session.execute(
                select(KnowledgeChunk.text)
                .join(KnowledgeDocument, KnowledgeDocument.id == KnowledgeChunk.document_id)
                .where(KnowledgeDocument.chatbot_id == shop, KnowledgeDocument.external_id == rows[4]["id"])
            )
        ).scalars()
        (text,) = list(texts)
    assert "bergamot and sea salt" in text
    found = await retriever.search(chatbot_id=shop, index_name="products", query="bergamot and sea salt", top_k=1)
    assert [chunk.document_id for chunk in found] == [rows[4]["id"]]


async def test_a_file_that_is_not_utf8_fails_alone(db: Database, embedder: LocalEmbedder, tmp_path: Path) -> None:
    latin = tmp_path / "vins.csv"
    await asyncio.to_thread(latin.write_bytes, "id,title\n1,Côtes du Rhône\n".encode("latin-1"))
    notes = tmp_path / "opening-hours.txt"
    await asyncio.to_thread(notes.write_text, "The shop is open Monday to Friday from 10 to 18.", encoding="utf-8")
    shop = chatbot_id("mixed")

    report = await ingest_paths(
        db=db, embedder=embedder, chatbot_id=shop, index_name="info", paths=[latin, notes], id_column="id"
    )

    assert (report.files_failed, report.documents_added) == (1, 1)
    (error,) = report.errors
    assert error.source == "vins.csv" and "not UTF-8" in error.message
    found = await Retriever(db=db, embedder=embedder).search(
        chatbot_id=shop, index_name="info", query="When are you open?", top_k=1
    )
    assert found[0].document_id == "opening-hours.txt"


async def test_no_index_means_no_knowledge_but_another_model_is_refused(
    db: Database, embedder: LocalEmbedder, tmp_path: Path
) -> None:
    shop = chatbot_id("models")
    retriever = Retriever(db=db, embedder=embedder)
    assert await retriever.search(chatbot_id=shop, index_name="policies", query="returns?", top_k=3) == []

    notes = tmp_path / "faq.md"
    await asyncio.to_thread(notes.write_text, "# FAQ\n\nWe ship to Denmark and Sweden.\n", encoding="utf-8")
    await ingest_paths(db=db, embedder=embedder, chatbot_id=shop, index_name="faq", paths=[notes])
    other = OpenAIEmbedder(base_url="http://127.0.0.1:9", model="text-embedding-3-small", dimension=1536)

    with pytest.raises(EmbedderMismatchError, match="built with all-MiniLM-L6-v2"):
        await Retriever(db=db, embedder=other).search(chatbot_id=shop, index_name="faq", query="ship?", top_k=3)
    with pytest.raises(EmbedderMismatchError):
        await ingest_paths(db=db, embedder=other, chatbot_id=shop, index_name="faq", paths=[notes])
