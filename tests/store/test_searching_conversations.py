"""Shoppers search their own conversations, staff search a chatbot's messages, in the chatbot's
language (*leveringen* finds *levering*), with marked snippets; nobody reaches another shopper's
or another shop's messages, whatever they type.

Through the public API in process, on SQLite (and PostgreSQL when ``SAMTALE_TEST_POSTGRES_URL``
is set); the assistant's answers come from the fake OpenAI-compatible server on loopback.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from samtale.chatbots.apikeys import create_api_key
from samtale.conversation.access import user_hash_for
from samtale.conversation.search.indexing import reindex_message
from samtale.llm.fake import FakeLLMServer
from samtale.services import Services
from samtale.storage.models import ConversationSession, Message
from tests.conversation.helpers import add_chatbot, read_sse

SECRET = "shop-backend-signing-key-0123456789"
REPLIES = {
    "Hvornår kommer leveringen af min rødvin?": "Levering tager normalt 2-3 hverdage.",
    "Kan jeg returnere en vin?": "Ja, du kan returnere uåbnede flasker inden for 30 dage.",
    "My deliveries are always late": "Sorry! A delivery usually takes 2 to 3 working days.",
    "Do you sell Barolo from Piedmont?": "Yes, we have three Barolos from Piedmont.",
}


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer(replies=lambda body: REPLIES.get(body["messages"][-1]["content"], "Gladly.")) as server:
        yield server


@pytest.fixture
async def shops(services: Services, llm: FakeLLMServer) -> None:
    llm_settings = {"provider": "openai", "model": "fake-model", "base_url": llm.base_url}
    shop = {"llm": llm_settings, "identity_secret": SECRET}
    await add_chatbot(services, id="vinhus", name="Vinhus", language="da", **shop)
    await add_chatbot(services, id="wineshop", name="Wine", language="en", **shop)


def signed(chatbot: str, user: str) -> dict[str, str]:
    return {"chatbot_id": chatbot, "user_id": user, "user_hash": user_hash_for(identity_secret=SECRET, user_id=user)}


async def say(client: httpx.AsyncClient, text: str, *, chatbot: str, user: str, **fields: Any) -> dict[str, Any]:
    body = {"user_id": user, "chatbot_id": chatbot, "message_text": text, **fields}
    response = await client.post("/api/process-message", json=body)
    assert response.status_code == 200, response.text
    await read_sse(client, response.json()["sse_url"])
    return dict(response.json())


async def search(client: httpx.AsyncClient, q: str, *, chatbot: str, user: str, **params: Any) -> httpx.Response:
    return await client.get("/api/conversations/search", params={"q": q, **signed(chatbot, user), **params})


async def test_a_danish_shopper_finds_leveringen_by_levering_and_only_in_their_own_conversations(
    client: httpx.AsyncClient, services: Services, shops: None
) -> None:
    anna = await say(client, "Hvornår kommer leveringen af min rødvin?", chatbot="vinhus", user="anna")
    await say(client, "Kan jeg returnere en vin?", chatbot="vinhus", user="anna")
    await say(client, "Hvornår kommer leveringen af min rødvin?", chatbot="vinhus", user="bo")  # another shopper
    await services.conversation.drain()

    found = await search(client, "levering", chatbot="vinhus", user="anna")
    assert found.status_code == 200, found.text
    results = found.json()["results"]
    assert results[0]["kind"] == "title" and results[0]["conversation_id"] == anna["session_id"]
    assert "<mark>leveringen</mark>" in results[0]["snippet"]
    messages = [hit for hit in results if hit["kind"] == "message"]
    assert {hit["role"] for hit in messages} == {"user", "assistant"}  # the question and the answer
    assert {hit["conversation_id"] for hit in results} == {anna["session_id"]}  # never Bo's
    assert any("<mark>leveringen</mark>" in hit["snippet"] for hit in messages)
    assert any("<mark>Levering</mark>" in hit["snippet"] for hit in messages)
    assert all(hit["score"] > 0 and hit["created_at"].endswith("+00:00") for hit in results)

    the_other_way = (await search(client, "leveringen", chatbot="vinhus", user="anna")).json()["results"]
    assert any("<mark>Levering</mark> tager" in hit["snippet"] for hit in the_other_way)
    phrase = (await search(client, '"returnere uåbnede"', chatbot="vinhus", user="anna")).json()["results"]
    assert [hit["snippet"] for hit in phrase] == [
        "Ja, du kan <mark>returnere</mark> <mark>uåbnede</mark> flasker inden for 30 dage."
    ]
    excluded = (await search(client, "levering -rødvin", chatbot="vinhus", user="anna")).json()["results"]
    assert [hit["role"] for hit in excluded] == ["assistant"]


async def test_an_english_shopper_finds_delivery_by_deliveries_and_a_deleted_conversation_is_gone(
    client: httpx.AsyncClient, services: Services, shops: None
) -> None:
    late = await say(client, "My deliveries are always late", chatbot="wineshop", user="sam")
    barolo = await say(client, "Do you sell Barolo from Piedmont?", chatbot="wineshop", user="sam")
    await services.conversation.drain()

    hits = (await search(client, "delivery", chatbot="wineshop", user="sam")).json()["results"]
    assert {hit["conversation_id"] for hit in hits} == {late["session_id"]}
    assert any("A <mark>delivery</mark> usually" in hit["snippet"] for hit in hits)
    by_title = (await search(client, "barol", chatbot="wineshop", user="sam")).json()["results"]
    assert by_title[0] == {**by_title[0], "kind": "title", "conversation_id": barolo["session_id"]}
    assert by_title[0]["snippet"] == "Do you sell <mark>Barol</mark>o from Piedmont?"  # a title holds it as typed

    async with services.db.session() as session:
        await session.execute(
            update(ConversationSession)
            .where(ConversationSession.id == late["session_id"])
            .values(deleted_at=datetime.now(UTC))
        )
    assert (await search(client, "delivery", chatbot="wineshop", user="sam")).json()["results"] == []
    assert (await search(client, "the of and", chatbot="wineshop", user="sam")).json()["results"] == []


async def test_searching_needs_the_verified_identity_and_never_crosses_shops(
    client: httpx.AsyncClient, services: Services, shops: None
) -> None:
    await say(client, "Hvornår kommer leveringen af min rødvin?", chatbot="vinhus", user="anna")
    await services.conversation.drain()
    plain = {"q": "levering", "chatbot_id": "vinhus", "user_id": "anna"}
    unsigned = await client.get("/api/conversations/search", params=plain)
    assert unsigned.status_code == 401 and unsigned.json()["error"]["code"] == "user_hash_required"
    forged = await client.get("/api/conversations/search", params=plain, headers={"X-User-Hash": "0" * 64})
    assert forged.status_code == 401 and forged.json()["error"]["code"] == "invalid_user_hash"
    # Anna's signature is the same key at the other shop: she exists there, but has said nothing there.
    elsewhere = await search(client, "levering", chatbot="wineshop", user="anna")
    assert elsewhere.status_code == 200 and elsewhere.json()["results"] == []
    unknown = await search(client, "levering", chatbot="no-such-shop", user="anna")
    assert unknown.status_code == 404


@pytest.mark.parametrize(
    "hostile",
    [
        '"', '""', "levering\"", "NEAR(levering vin)", "scope : levering", "{scope}: x", "body:levering",
        "levering AND", "OR", "-", "--levering", "^levering", "levering*", "(((", "'; DROP TABLE messages; --",
        "\\", "%", "_", "ucvinhus", "c76696e687573", "!!! ??? ...", "ø" * 200, "a:b:c", "x OR y -z \"open",
    ],
)  # fmt: skip
async def test_any_input_is_a_search_never_a_syntax_error_nor_a_way_into_other_tenants(
    client: httpx.AsyncClient, services: Services, shops: None, hostile: str
) -> None:
    anna = await say(client, "Kan jeg returnere en vin?", chatbot="vinhus", user="anna")
    await say(client, "Hvornår kommer leveringen af min rødvin?", chatbot="vinhus", user="bo")
    await services.conversation.drain()
    response = await search(client, hostile, chatbot="vinhus", user="anna")
    assert response.status_code == 200, response.text
    assert {hit["conversation_id"] for hit in response.json()["results"]} <= {anna["session_id"]}  # Bo's stay his
    key = await create_api_key(db=services.db, name="staff", is_admin=True, chatbot_id="wineshop")
    url = "/api/admin/chatbots/wineshop/messages/search"
    staff = await client.get(url, params={"q": hostile}, headers={"Authorization": f"Bearer {key}"})
    assert staff.status_code == 200 and staff.json()["results"] == []  # the other shop's words stay there


async def test_staff_search_a_chatbots_messages_with_filters_and_only_with_a_key_that_covers_it(
    client: httpx.AsyncClient, services: Services, shops: None
) -> None:
    anna = await say(client, "Hvornår kommer leveringen af min rødvin?", chatbot="vinhus", user="anna")
    bo = await say(client, "Hvornår kommer leveringen af min rødvin?", chatbot="vinhus", user="bo")
    await say(client, "My deliveries are always late", chatbot="wineshop", user="sam")
    await services.conversation.drain()
    key = await create_api_key(db=services.db, name="vinhus staff", is_admin=True, chatbot_id="vinhus")
    staff = {"Authorization": f"Bearer {key}"}
    url = "/api/admin/chatbots/vinhus/messages/search"

    everything = (await client.get(url, params={"q": "levering"}, headers=staff)).json()["results"]
    assert len(everything) == 4 and {hit["user_id"] for hit in everything} == {"anna", "bo"}
    assert {hit["conversation_id"] for hit in everything} == {anna["session_id"], bo["session_id"]}
    answers = (await client.get(url, params={"q": "levering", "role": "assistant"}, headers=staff)).json()["results"]
    assert [hit["role"] for hit in answers] == ["assistant", "assistant"]
    one = await client.get(url, params={"q": "levering", "user_id": "bo", "role": "user", "limit": 5}, headers=staff)
    assert [(hit["user_id"], hit["role"]) for hit in one.json()["results"]] == [("bo", "user")]
    now = datetime.now(UTC)
    past = {"q": "levering", "to": (now - timedelta(days=1)).isoformat()}
    assert (await client.get(url, params=past, headers=staff)).json()["results"] == []
    hour = timedelta(hours=1)
    window = {"q": "levering", "from": (now - hour).isoformat(), "to": (now + hour).isoformat()}
    assert len((await client.get(url, params=window, headers=staff)).json()["results"]) == 4
    limited = (await client.get(url, params={"q": "levering", "limit": 1}, headers=staff)).json()["results"]
    assert len(limited) == 1

    other = await client.get("/api/admin/chatbots/wineshop/messages/search", params={"q": "delivery"}, headers=staff)
    assert other.status_code == 403
    assert (await client.get(url, params={"q": "levering"})).status_code == 401
    everyone = {"Authorization": f"Bearer {await create_api_key(db=services.db, name='ops', is_admin=True)}"}
    missing = await client.get("/api/admin/chatbots/no-such-shop/messages/search", params={"q": "x"}, headers=everyone)
    assert missing.status_code == 404
    assert (await client.get(url, params={"q": "levering", "role": "system"}, headers=staff)).status_code == 422


async def test_an_edited_message_is_found_by_its_new_words_only(
    client: httpx.AsyncClient, services: Services, shops: None
) -> None:
    """The edit route is another slice's: it updates ``content`` in place and calls
    ``reindex_message`` in the same transaction (a no-op on PostgreSQL, whose column is generated)."""
    sam = await say(client, "My deliveries are always late", chatbot="wineshop", user="sam")
    await services.conversation.drain()
    async with services.db.engine.begin() as conn:
        await conn.execute(
            update(Message)
            .where(Message.session_id == sam["session_id"], Message.sequence == 1)
            .values(content="My parcel is always late", is_edited=True)
        )
        question = (
            await conn.execute(
                Message.__table__.select().where(Message.session_id == sam["session_id"], Message.sequence == 1)
            )
        ).one()
        await reindex_message(conn, chatbot_id="wineshop", message_id=question.id)

    parcel = (await search(client, "parcels", chatbot="wineshop", user="sam")).json()["results"]
    assert [(hit["kind"], hit["message_id"]) for hit in parcel] == [("message", question.id)]
    assert parcel[0]["snippet"] == "My <mark>parcel</mark> is always late"
    deliveries = (await search(client, "deliveries", chatbot="wineshop", user="sam")).json()["results"]
    assert question.id not in {hit["message_id"] for hit in deliveries}
