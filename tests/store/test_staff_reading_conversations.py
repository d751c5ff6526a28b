"""The shop's staff read its conversations: a list by shopper, date and flow, one conversation with
the sources, timings and order behind every answer; a key of another shop sees none of it.

Through the public API in process, on SQLite (and PostgreSQL when ``SAMTALE_TEST_POSTGRES_URL``
is set). The full read uses the demo wine shop (knowledge bases and the Shopify simulator).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import update

from samtale.api.schemas_conversations import StaffConversationListResponse, StaffConversationResponse
from samtale.chatbots.apikeys import create_api_key
from samtale.demo.loader import load_demo
from samtale.llm.fake import FakeLLMServer
from samtale.services import Services
from samtale.settings import Settings
from samtale.storage.models import ConversationSession
from tests.conversation.helpers import add_chatbot
from tests.store.helpers import SECRET, conforms, conversation, error_code, identity, shop


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer(replies=lambda body: f"answer {len(body['messages'])}") as server:
        yield server


@pytest.fixture
async def shops(services: Services, llm: FakeLLMServer) -> None:
    routing = {"strategy": "keywords", "keywords": [{"route_key": "product", "pattern": r"\bwine\b"}]}
    flows = [{"type": "main"}, {"type": "flow3", "route_key": "product"}]
    await add_chatbot(services, **shop("vinbar", llm.base_url, identity_secret=SECRET, flows=flows, routing=routing))
    await add_chatbot(services, **shop("olbar", llm.base_url))


async def admin_key(services: Services, chatbot_id: str | None = None) -> dict[str, str]:
    key = await create_api_key(db=services.db, name=f"staff-{chatbot_id}", is_admin=True, chatbot_id=chatbot_id)
    return {"Authorization": f"Bearer {key}"}


async def backdate(services: Services, session_id: str, days: float) -> None:
    async with services.db.session() as session:
        await session.execute(
            update(ConversationSession)
            .where(ConversationSession.id == session_id)
            .values(last_message_at=datetime.now(UTC) - timedelta(days=days))
        )


async def test_staff_list_a_shops_conversations_by_shopper_date_and_flow(
    client: httpx.AsyncClient, services: Services, shops: None
) -> None:
    wine = await conversation(client, "Which wine goes with fish?")
    shipping = await conversation(client, "What does shipping cost?")
    bobs = await conversation(client, "A red wine for Bob", user="bob")
    await conversation(client, "Another shop's shopper", chatbot="olbar")
    await services.conversation.drain()
    await backdate(services, shipping["session_id"], days=10)
    staff = await admin_key(services, "vinbar")
    url = "/api/admin/chatbots/vinbar/conversations"

    async def ids(**params: str) -> list[str]:
        response = await client.get(url, params=params, headers=staff)
        assert response.status_code == 200, response.text
        return [c["id"] for c in response.json()["conversations"]]

    listing = (await client.get(url, headers=staff)).json()
    conforms(StaffConversationListResponse, listing)
    everything = listing["conversations"]
    assert [c["id"] for c in everything] == [bobs["session_id"], wine["session_id"], shipping["session_id"]]
    assert everything[0]["user_id"] == "bob" and everything[0]["title"] == "A red wine for Bob"
    assert everything[0]["message_count"] == 2 and everything[0]["status"] == "active"
    assert await ids(user_id="anna") == [wine["session_id"], shipping["session_id"]]
    assert await ids(flow="flow3") == [bobs["session_id"], wine["session_id"]]
    assert await ids(flow="main") == [shipping["session_id"]]
    today = datetime.now(UTC).date()
    ten_days_ago = (today - timedelta(days=10)).isoformat()
    assert await ids(**{"from": today.isoformat()}) == [bobs["session_id"], wine["session_id"]]
    assert await ids(**{"from": ten_days_ago, "to": ten_days_ago}) == [shipping["session_id"]]
    assert await ids(**{"to": (today - timedelta(days=1)).isoformat(), "user_id": "anna"}) == [shipping["session_id"]]
    # q: the conversations whose messages match, stemmed ("wines" finds "wine"), still newest first.
    assert await ids(q="wines") == [bobs["session_id"], wine["session_id"]]
    assert await ids(q="wines", user_id="anna") == [wine["session_id"]]
    assert await ids(q="shipping costs") == [shipping["session_id"]]
    assert await ids(q="champagne") == []

    first = (await client.get(url, params={"limit": "2"}, headers=staff)).json()
    second = (await client.get(url, params={"limit": "2", "cursor": first["next_cursor"]}, headers=staff)).json()
    assert [c["id"] for c in first["conversations"] + second["conversations"]] == [c["id"] for c in everything]
    assert second["next_cursor"] is None

    query, headers = identity("anna")
    shoppers_cursor = (await client.get("/api/conversations", params={**query, "limit": "1"}, headers=headers)).json()[
        "next_cursor"
    ]
    for params in (
        {"cursor": shoppers_cursor},  # a cursor of the shopper's list
        {"cursor": "garbage"},
        {"from": today.isoformat(), "to": ten_days_ago},
        {"from": "yesterday"},
        {"flow": "nonsense"},
        {"limit": "500"},
    ):
        refused = await client.get(url, params=params, headers=staff)
        assert refused.status_code == 422, params
    assert error_code(await client.get(url, params={"cursor": shoppers_cursor}, headers=staff)) == "invalid_cursor"


async def test_a_key_of_another_shop_sees_none_of_its_conversations(
    client: httpx.AsyncClient, services: Services, shops: None
) -> None:
    vinbar = await conversation(client, "Vinbar's private question")
    olbar = await conversation(client, "Olbar's question", chatbot="olbar")
    await services.conversation.drain()
    olbar_staff = await admin_key(services, "olbar")
    shopper_key = {"Authorization": f"Bearer {await create_api_key(db=services.db, name='w', is_admin=False)}"}

    for method, path in (
        ("GET", "/api/admin/chatbots/vinbar/conversations"),
        ("GET", f"/api/admin/chatbots/vinbar/conversations/{vinbar['session_id']}"),
        ("DELETE", "/api/admin/chatbots/vinbar/users/anna"),
    ):
        refused = await client.request(method, path, headers=olbar_staff)
        assert refused.status_code == 403 and "Vinbar's private question" not in refused.text, path
        assert (await client.request(method, path, headers=shopper_key)).status_code == 403
        assert (await client.request(method, path)).status_code == 401

    guessed = await client.get(f"/api/admin/chatbots/olbar/conversations/{vinbar['session_id']}", headers=olbar_staff)
    assert guessed.status_code == 404 and error_code(guessed) == "session_not_found"
    assert "Vinbar" not in guessed.text
    listed = (await client.get("/api/admin/chatbots/olbar/conversations", headers=olbar_staff)).json()
    assert [c["id"] for c in listed["conversations"]] == [olbar["session_id"]]
    own = await client.get(f"/api/admin/chatbots/olbar/conversations/{olbar['session_id']}", headers=olbar_staff)
    assert own.status_code == 200 and own.json()["chatbot_id"] == "olbar"
    everywhere = await admin_key(services)
    read = await client.get(f"/api/admin/chatbots/vinbar/conversations/{vinbar['session_id']}", headers=everywhere)
    assert read.status_code == 200 and read.json()["messages"][0]["content"] == "Vinbar's private question"


@pytest.fixture
async def demo(services: Services, settings: Settings) -> None:
    await load_demo(settings=settings)


async def test_staff_read_a_conversation_with_the_sources_timings_and_order_behind_each_answer(
    client: httpx.AsyncClient, services: Services, demo: None
) -> None:
    started = await conversation(
        client,
        "What is your return policy?",
        "Where is my order #1001? My email is jane@example.com",
        chatbot="vinhuset",
        user="jane",
    )
    await services.conversation.drain()
    staff = await admin_key(services, "vinhuset")
    response = await client.get(f"/api/admin/chatbots/vinhuset/conversations/{started['session_id']}", headers=staff)
    assert response.status_code == 200, response.text
    body = response.json()
    conforms(StaffConversationResponse, body)
    assert body["id"] == started["session_id"] and body["user_id"] == "jane" and body["chatbot_id"] == "vinhuset"
    assert body["flows"] == ["main", "apiflow"] and body["message_count"] == 4
    question, policy, order_question, order_answer = body["messages"]
    assert [m["sequence"] for m in body["messages"]] == [1, 2, 3, 4]
    assert question["role"] == "user" and question["sources"] == [] and question["timings"] is None

    assert policy["flow_type"] == "main" and policy["status"] == "ok" and policy["sources"]
    best = policy["sources"][0]
    assert best["rank"] == 1 and best["index_name"] == "policies" and 0 < best["score"] <= 1
    assert [s["rank"] for s in policy["sources"]] == list(range(1, len(policy["sources"]) + 1))
    timings = policy["timings"]
    assert timings["flow_type"] == "main" and timings["provider"] == "offline" and timings["status"] == "ok"
    phases = timings["phases_ms"]
    assert phases["total_ms"] > 0 and phases["retrieval_ms"] >= 0 and phases["ttft_ms"] is not None
    assert phases["total_ms"] >= phases["ttft_ms"]
    assert policy["order"] is None

    assert order_question["flow_type"] == "apiflow" and order_answer["flow_type"] == "apiflow"
    shown = order_answer["order"]
    assert shown["order_number"] == "#1001" and shown["shipments"][0]["tracking_url"]
    assert "jane@example.com" not in str(shown)
    assert order_answer["timings"]["phases_ms"]["order_ms"] > 0
