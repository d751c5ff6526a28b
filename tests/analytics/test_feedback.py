"""A shopper rates answers and the conversation (`POST /api/feedback` with the session token); the
shop's staff see each rating beside its answer, the turn's topic and score, and the CSAT."""

from __future__ import annotations

import httpx
import pytest

from samtale.api.schemas_conversations import StaffConversationResponse
from samtale.chatbots.apikeys import create_api_key
from samtale.services import Services
from samtale.settings import Settings
from tests.analytics.conftest import shop_topics_document
from tests.conftest import SettingsFactory
from tests.conversation.helpers import add_chatbot
from tests.store.helpers import conforms, conversation, error_code, token


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    return make_settings(analytics_enabled=True, analytics_embedder="none")


async def staff_view(client: httpx.AsyncClient, services: Services, session_id: str) -> dict:
    await services.conversation.drain()
    await services.recorder.flush()
    await services.analytics.flush()
    key = await create_api_key(db=services.db, name="staff", is_admin=True, chatbot_id="butik")
    response = await client.get(
        f"/api/admin/chatbots/butik/conversations/{session_id}", headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 200, response.text
    body: dict = response.json()
    conforms(StaffConversationResponse, body)
    return body


async def test_a_shopper_rates_answers_and_the_conversation_and_staff_see_it(
    client: httpx.AsyncClient, services: Services
) -> None:
    await add_chatbot(services, id="butik", name="Butik", topics=shop_topics_document()["topics"])
    started = await conversation(
        client, "How much is shipping to Norway?", "Can I pay with MobilePay?", chatbot="butik"
    )
    before = await staff_view(client, services, started["session_id"])
    first, second = [m for m in before["messages"] if m["role"] == "assistant"]
    assert first["analytics"]["topic"] == "delivery" and second["analytics"]["topic"] == "payment"
    assert first["feedback"] is None and before["csat"] is None

    down = await client.post(
        "/api/feedback",
        json={"message_id": first["id"], "rating": "down", "comment": "<b>not helpful</b>"},
        headers=token(started),
    )
    up = await client.post("/api/feedback", json={"message_id": first["id"], "rating": "up"}, headers=token(started))
    by_stream = await client.post(
        "/api/feedback",
        json={"streaming_session_id": second["streaming_session_id"], "rating": "down"},
        headers=token(started),
    )
    csat = await client.post(
        "/api/feedback", json={"session_id": started["session_id"], "csat": 4, "comment": "ok"}, headers=token(started)
    )
    again = await client.post(
        "/api/feedback", json={"session_id": started["session_id"], "csat": 5}, headers=token(started)
    )

    assert [r.status_code for r in (down, up, by_stream, csat, again)] == [200] * 5
    assert (down.json()["replaced"], up.json()["replaced"]) == (False, True)
    assert by_stream.json()["message_id"] == second["id"]
    assert (csat.json()["kind"], csat.json()["replaced"], again.json()["replaced"]) == ("csat", False, True)
    after = await staff_view(client, services, started["session_id"])
    first, second = [m for m in after["messages"] if m["role"] == "assistant"]
    assert (first["feedback"]["rating"], first["feedback"]["comment"]) == ("up", None)
    assert (first["analytics"]["score"], first["analytics"]["score_source"]) == (5, "feedback")
    assert (second["feedback"]["rating"], second["analytics"]["score"]) == ("down", 1)
    assert after["csat"]["csat"] == 5
    assert [m["feedback"] for m in after["messages"] if m["role"] == "user"] == [None, None]


async def test_feedback_needs_the_conversations_token_and_an_answer(
    client: httpx.AsyncClient, services: Services
) -> None:
    await add_chatbot(services, id="butik", name="Butik")
    mine = await conversation(client, "Hello", chatbot="butik")
    theirs = await conversation(client, "Hi", chatbot="butik", user="bob")
    view = await staff_view(client, services, mine["session_id"])
    question, answer = view["messages"]

    no_token = await client.post("/api/feedback", json={"message_id": answer["id"], "rating": "up"})
    wrong_token = await client.post(
        "/api/feedback", json={"message_id": answer["id"], "rating": "up"}, headers=token(theirs)
    )
    own_message = await client.post(
        "/api/feedback", json={"message_id": question["id"], "rating": "up"}, headers=token(mine)
    )
    unknown = await client.post("/api/feedback", json={"message_id": "nope", "rating": "up"}, headers=token(mine))
    both = await client.post(
        "/api/feedback",
        json={"message_id": answer["id"], "rating": "up", "session_id": mine["session_id"], "csat": 3},
        headers=token(mine),
    )
    bad_csat = await client.post(
        "/api/feedback", json={"session_id": mine["session_id"], "csat": 6}, headers=token(mine)
    )

    assert (no_token.status_code, error_code(no_token)) == (401, "session_token_required")
    assert (wrong_token.status_code, error_code(wrong_token)) == (404, "session_not_found")
    assert (own_message.status_code, error_code(own_message)) == (422, "feedback_target_invalid")
    assert (unknown.status_code, error_code(unknown)) == (404, "message_not_found")
    assert both.status_code == 422 and bad_csat.status_code == 422
