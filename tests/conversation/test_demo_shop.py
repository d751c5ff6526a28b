"""The demo shop as a newcomer meets it: routing to flows, the catalogue, and order tracking."""

from __future__ import annotations

import httpx
import pytest

from samtale.demo.loader import load_demo
from samtale.services import Services
from samtale.settings import Settings
from tests.conversation.helpers import answer_text, read_sse


@pytest.fixture
async def demo(services: Services, settings: Settings) -> None:
    await load_demo(settings=settings)


TOKENS: dict[str, str] = {}
"""Session tokens by session id, as the widget keeps them (continuing a conversation needs its token)."""


async def turn(client: httpx.AsyncClient, text: str, session_id: str | None = None) -> tuple[list[dict], str]:
    body = {"user_id": "demo-user", "chatbot_id": "vinhuset", "message_text": text, "session_id": session_id}
    headers = {"X-Session-Token": TOKENS[session_id]} if session_id is not None else {}
    started = (await client.post("/api/process-message", json=body, headers=headers)).json()
    TOKENS.setdefault(started["session_id"], started["session_token"])
    return await read_sse(client, started["sse_url"]), started["session_id"]


def flow_of(events: list[dict]) -> str:
    return next(event["data"]["route_key"] for event in events if event["event"] == "flow")


async def test_a_wine_question_goes_to_the_product_flow_and_names_catalogue_wines(
    client: httpx.AsyncClient, demo: None
) -> None:
    events, _ = await turn(client, "Do you have a red from Italy?")
    assert flow_of(events) == "product"
    sources = next(event["data"]["sources"] for event in events if event["event"] == "sources")
    assert any("Italy" in source["snippet"] for source in sources)
    answer = answer_text(events)
    assert "Automatic answer" in answer or "automatic" in answer.lower()
    assert any(title in answer for title in ("Tignanello", "Chianti", "Barolo", "Amarone", "Etna"))


async def test_a_policy_question_stays_in_main_and_quotes_the_terms(client: httpx.AsyncClient, demo: None) -> None:
    events, _ = await turn(client, "What is your return policy?")
    assert flow_of(events) == "main"
    assert "14" in answer_text(events)


async def test_order_tracking_asks_verifies_and_shows_the_tracking_link(client: httpx.AsyncClient, demo: None) -> None:
    events, session_id = await turn(client, "Where is my order?")
    assert flow_of(events) == "order"
    assert "order number" in answer_text(events).lower()
    assert not any(event["event"] == "order" for event in events)

    events, _ = await turn(client, "Where is my order #1001? My email is jane@example.com", session_id)
    assert flow_of(events) == "order"
    order = next(event["data"]["order"] for event in events if event["event"] == "order")
    tracking_url = order["shipments"][0]["tracking_url"]
    assert tracking_url and tracking_url in answer_text(events)
    assert "jane@example.com" not in str(order)


async def test_a_wrong_email_reveals_nothing(client: httpx.AsyncClient, demo: None) -> None:
    wrong, _ = await turn(client, "Where is my order #1002? My email is jane@example.com")
    unknown, _ = await turn(client, "Where is my order #9999? My email is jane@example.com")
    assert not any(event["event"] == "order" for event in wrong + unknown)
    assert answer_text(wrong) == answer_text(unknown)


async def test_a_price_limit_and_a_country_become_filters_on_the_catalogue(
    client: httpx.AsyncClient, demo: None
) -> None:
    events, _ = await turn(client, "Do you have an Italian wine under 300 kr?")
    assert flow_of(events) == "product"
    sources_event = next(event["data"] for event in events if event["event"] == "sources")
    assert sources_event["filters"]["source"] == "rules"
    conditions = sources_event["filters"]["conditions"]
    assert "price" in conditions and "country" in conditions, conditions
    assert sources_event["sources"], "the demo catalogue has Italian wines under 300 kr"
    for source in sources_event["sources"]:
        assert "Italy" in source["snippet"] or source["index"] != "products"


async def test_a_price_limit_nothing_meets_says_so_rather_than_offering_dearer_wines(
    client: httpx.AsyncClient, demo: None
) -> None:
    events, _ = await turn(client, "Do you have a wine from Italy under 20 kr?")
    assert flow_of(events) == "product"
    sources_event = next(event["data"] for event in events if event["event"] == "sources")
    assert sources_event["filters"]["conditions"]["price"]
    assert sources_event["sources"] == []
    assert "could not find anything" in answer_text(events)
