"""The offline answerer composes grounded replies from real catalogue rows, real terms of sale and orders."""

from __future__ import annotations

import csv
import re
from dataclasses import replace
from pathlib import Path

import pytest

from samtale.knowledge.types import ContextChunk, MetadataValue
from samtale.llm.base import ChatMessage, GenerationRequest, LLMResponseError, TextDelta, Usage
from samtale.llm.offline import OfflineProvider


def _typed(value: str) -> MetadataValue:
    return int(value) if value.isdigit() else value


def wine_chunks(shared_data: Path, ids: list[int]) -> list[ContextChunk]:
    """Catalogue rows of winemag-5k.csv as retrieved chunks: ``column: value`` text, columns as metadata."""
    with open(shared_data / "catalog" / "winemag-5k.csv", encoding="utf-8") as handle:
        rows = {int(row["id"]): row for row, _ in zip(csv.DictReader(handle), range(max(ids) + 1), strict=False)}
    chunks = []
    for rank, row_id in enumerate(ids):
        row = rows[row_id]
        fields = {key: value for key, value in row.items() if key != "id" and value}
        chunks.append(
            ContextChunk(
                chunk_id=f"wine-{row_id}",
                document_id=str(row_id),
                index_name="products",
                text="\n".join(f"{key}: {value}" for key, value in fields.items()),
                title=row["title"],
                source="winemag-5k.csv",
                position=0,
                score=0.9 - rank / 100,
                metadata={key: _typed(value) for key, value in fields.items()},
            )
        )
    return chunks


def policy_chunks(path: Path) -> list[ContextChunk]:
    """A terms-of-sale page split at its ``##`` headings, as a Markdown chunker would."""
    body = re.sub(r"\A---.*?---\n", "", path.read_text(encoding="utf-8"), flags=re.DOTALL)
    sections = [section for section in re.split(r"\n(?=## )", body) if section.strip()]
    return [
        ContextChunk(
            chunk_id=f"terms-{i}",
            document_id=path.name,
            index_name="policies",
            text=section,
            title="Terms & Conditions",
            source=path.name,
            position=i,
            score=0.5,
            metadata={"title": "Terms & Conditions", "weight": 4},
        )
        for i, section in enumerate(sections)
    ]


def ask(question: str, *, context: list[ContextChunk], language: str = "en", **extra: object) -> GenerationRequest:
    return GenerationRequest(
        messages=[ChatMessage("system", "You answer for Vinhuset."), ChatMessage("user", question)],
        question=question,
        language=language,  # type: ignore[arg-type]
        context=context,
        chatbot_name="Vinhuset",
        **extra,  # type: ignore[arg-type]
    )


def test_a_question_naming_a_wine_lists_it_first_with_price_and_one_line_of_description(shared_data: Path) -> None:
    chunks = wine_chunks(shared_data, [0, 2, 1, 3, 4])  # retrieval ranked the asked-about wine third
    question = "Do you sell the Quinta dos Avidagos 2011 Avidagos Red from the Douro?"
    answer = OfflineProvider().answer(ask(question, context=chunks))

    assert answer.startswith("(Automatic answer from our catalogue and policies)")
    products = [line for line in answer.splitlines() if line.startswith("- ")]
    assert products[0].startswith("- Quinta dos Avidagos 2011 Avidagos Red (Douro) — price 15.")
    assert "This is ripe and fruity, a wine that is smooth while still structured." in products[0]
    assert "Firm tannins" not in answer  # one sentence of description, not the whole review
    titles = {chunk.title for chunk in chunks}
    assert all(any(line[2:].startswith(str(title)) for title in titles) for line in products)


def test_a_question_by_winery_and_variety_finds_that_wine(shared_data: Path) -> None:
    chunks = wine_chunks(shared_data, list(range(8)))
    answer = OfflineProvider().answer(ask("Have you got a Pinot Gris from Rainstorm?", context=chunks))
    products = [line for line in answer.splitlines() if line.startswith("- ")]
    assert products[0].startswith("- Rainstorm 2013 Pinot Gris (Willamette Valley) — price 14.")
    assert len(products) == 5  # at most five products are listed


def test_a_wine_without_a_price_is_listed_without_one(shared_data: Path) -> None:
    answer = OfflineProvider().answer(ask("Nicosia Vulkà Bianco?", context=wine_chunks(shared_data, [0])))
    assert "- Nicosia 2013 Vulkà Bianco  (Etna). Aromas include tropical fruit" in answer
    assert "price" not in answer


def test_a_returns_question_is_answered_with_the_terms_sentences_about_returns(shared_data: Path) -> None:
    chunks = policy_chunks(shared_data / "policies" / "stellaholm-terms.en.md")
    answer = OfflineProvider().answer(ask("Can I return something I bought?", context=chunks))

    assert answer.startswith("(Automatic answer")
    assert "From our terms and policies:" in answer
    assert "we accept returns and refunds within 14 days of delivery" in answer
    assert "cookies" not in answer.lower()
    assert "Stripe" not in answer


def test_a_danish_question_gets_a_danish_answer_from_the_danish_terms(shared_data: Path) -> None:
    chunks = policy_chunks(shared_data / "policies" / "stellaholm-terms.da.md")
    answer = OfflineProvider().answer(ask("Kan jeg returnere en vare?", context=chunks, language="da"))

    assert answer.startswith("(Automatisk svar")
    assert "Fra vores handelsbetingelser:" in answer
    assert "accepterer vi returnering og refusioner inden for 14 dage efter levering" in answer
    assert "Automatic" not in answer and "policies" not in answer


def test_an_order_summary_gives_status_items_carrier_and_tracking() -> None:
    order = {
        "order_number": "1001",
        "status": "shipped",
        "items": [{"name": "Silver ring", "quantity": 1, "sku": "R-1"}, {"name": "Gift box", "quantity": 2}],
        "shipments": [
            {
                "carrier": "DAO",
                "tracking_number": "00370712345",
                "tracking_url": "https://tracking.example/00370712345",
                "status": "in_transit",
                "estimated_delivery": "2024-05-03T00:00:00Z",
            }
        ],
    }
    english = OfflineProvider().answer(ask("Where is order 1001?", context=[], order=order))
    assert english.startswith("(Automatic answer from our order system)")
    for fact in ("Order 1001: shipped.", "1 × Silver ring, 2 × Gift box", "Carrier: DAO.", "00370712345"):
        assert fact in english
    assert "https://tracking.example/00370712345" in english
    danish = OfflineProvider().answer(ask("Hvor er ordre 1001?", context=[], order=order, language="da"))
    assert (
        "Ordre 1001: afsendt." in danish and "Fragtfirma: DAO." in danish and "Trackingnummer: 00370712345." in danish
    )


def test_with_nothing_found_the_shopper_is_told_so_and_sent_to_the_shop() -> None:
    english = OfflineProvider().answer(ask("Do you sell bicycles?", context=[]))
    assert "could not find anything" in english and "contact Vinhuset" in english
    danish = OfflineProvider().answer(ask("Sælger I cykler?", context=[], language="da"))
    assert "kunne desværre ikke finde noget" in danish and "Kontakt venligst Vinhuset" in danish


@pytest.fixture
def terms_chunks(shared_data: Path) -> list[ContextChunk]:
    """The Stellaholm terms as chunks, read in a sync fixture (outside the test's event loop)."""
    return policy_chunks(shared_data / "policies" / "stellaholm-terms.en.md")


async def test_the_reply_streams_word_by_word_and_reports_words_as_tokens(terms_chunks: list[ContextChunk]) -> None:
    request = ask("Can I return a bottle?", context=terms_chunks)
    provider = OfflineProvider()
    items = [item async for item in provider.stream(request)]
    deltas = [item.text for item in items if isinstance(item, TextDelta)]
    answer = provider.answer(request)
    assert "".join(deltas) == answer
    assert len(deltas) == len(answer.split()) > 20
    assert items[-1] == Usage(
        prompt_tokens=len("You answer for Vinhuset. Can I return a bottle?".split()),
        completion_tokens=len(deltas),
        estimated=True,
    )
    completion = await provider.complete(request)
    assert completion.text == answer


async def test_structured_output_is_refused_with_a_clear_error() -> None:
    request = replace(ask("Write a template", context=[]), response_format={"type": "json_object"})
    with pytest.raises(LLMResponseError, match="configure an LLM model"):
        await OfflineProvider().complete(request)
