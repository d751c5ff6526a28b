"""Real input: a shop's wine catalogue (winemag, 5,810 real reviews) and a real shop's terms."""

from __future__ import annotations

import csv
from pathlib import Path

import httpx
import pytest

from samtale.knowledge.ingest import ingest_paths
from samtale.services import Services
from tests.conftest import shared_data
from tests.conversation.helpers import add_chatbot, answer_text, read_sse

ROWS = 300


async def ask(client: httpx.AsyncClient, chatbot_id: str, text: str) -> list[dict]:
    body = {"user_id": "shopper", "chatbot_id": chatbot_id, "message_text": text}
    return await read_sse(client, (await client.post("/api/process-message", json=body)).json()["sse_url"])


@pytest.fixture
def wine_rows(tmp_path: Path) -> tuple[Path, list[dict[str, str]]]:
    """The first ``ROWS`` reviews as a CSV of their own, written here (outside the event loop)."""
    with shared_data("catalog", "winemag-5k.csv").open(encoding="utf-8") as source:
        rows = list(csv.DictReader(source))[:ROWS]
    subset = tmp_path / "wines.csv"
    with subset.open("w", encoding="utf-8", newline="") as target:
        writer = csv.DictWriter(target, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return subset, rows


@pytest.fixture
def terms_page() -> Path:
    """The real shop's terms (the path is checked here, outside the event loop)."""
    return shared_data("policies", "stellaholm-terms.en.md")


async def test_questions_naming_a_wine_find_it_and_the_offline_answer_names_it(
    client: httpx.AsyncClient, services: Services, wine_rows: tuple[Path, list[dict[str, str]]]
) -> None:
    subset, rows = wine_rows
    await add_chatbot(services, id="winestore", name="Wine Store", flows=[{"type": "main", "knowledge_index": "wines"}])
    report = await ingest_paths(
        db=services.db,
        embedder=services.embedder,
        chatbot_id="winestore",
        index_name="wines",
        paths=[subset],
        id_column="id",
    )
    assert report.documents_added == ROWS

    by_title = rows[1]
    events = await ask(client, "winestore", f"Do you sell the {by_title['title']}?")
    sources = next(event["data"]["sources"] for event in events if event["event"] == "sources")
    assert by_title["id"] in [source["document_id"] for source in sources]
    assert by_title["title"] in answer_text(events)

    by_winery = next(row for row in rows[5:] if row["winery"] and row["variety"] and row["province"])
    question = f"Have you got a {by_winery['variety']} from {by_winery['winery']} in {by_winery['province']}?"
    events = await ask(client, "winestore", question)
    sources = next(event["data"]["sources"] for event in events if event["event"] == "sources")
    assert by_winery["id"] in [source["document_id"] for source in sources]


async def test_a_returns_question_is_answered_from_the_shops_terms(
    client: httpx.AsyncClient, services: Services, terms_page: Path
) -> None:
    await add_chatbot(services, id="jewellery", name="Stellaholm", flows=[{"type": "main", "knowledge_index": "terms"}])
    await ingest_paths(
        db=services.db,
        embedder=services.embedder,
        chatbot_id="jewellery",
        index_name="terms",
        paths=[terms_page],
    )
    events = await ask(client, "jewellery", "Can I return a ring I bought, and how many days do I have?")
    answer = answer_text(events)
    assert "14" in answer and "automatic" in answer.lower()
