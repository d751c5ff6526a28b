"""A shopper continues a conversation: with its session token, or as a verified shopper on any
device; nobody else can, whatever ids they know; one message at a time; a title from the start.

Through the public API in process, on SQLite (and PostgreSQL when ``SAMTALE_TEST_POSTGRES_URL``
is set), the answers coming from the fake OpenAI-compatible server on loopback so the test sees
the prompt each turn sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from samtale.chatbots.service import load_chatbot
from samtale.conversation.access import Credentials, user_hash_for
from samtale.conversation.titles import title_from_question
from samtale.llm.fake import FakeLLMServer
from samtale.services import Services
from samtale.storage.models import Chatbot, ConversationSession, Message, Shopper
from tests.conversation.helpers import add_chatbot, read_sse

SECRET = "shop-backend-signing-key-0123456789"


def shop(chatbot_id: str, base_url: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": chatbot_id,
        "name": chatbot_id.title(),
        "llm": {"provider": "openai", "model": "fake-model", "base_url": base_url},
        "flows": [{"type": "main"}],
        **extra,
    }


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer(replies=lambda body: f"answer {len(body['messages'])}") as server:
        yield server


@pytest.fixture
async def shops(services: Services, llm: FakeLLMServer) -> None:
    await add_chatbot(services, **shop("vinbar", llm.base_url, identity_secret=SECRET))
    await add_chatbot(services, **shop("olbar", llm.base_url))


async def say(
    client: httpx.AsyncClient, text: str, *, chatbot: str = "vinbar", user: str = "anna", **fields: Any
) -> httpx.Response:
    headers = fields.pop("headers", {})
    body = {"user_id": user, "chatbot_id": chatbot, "message_text": text, **fields}
    response = await client.post("/api/process-message", json=body, headers=headers)
    if response.status_code == 200:
        await read_sse(client, response.json()["sse_url"])  # read the answer to its end
    return response


def error_code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


def prompt_texts(llm: FakeLLMServer, request: int) -> list[str]:
    return [message["content"] for message in llm.chat_requests[request].json["messages"]]


async def stored_messages(services: Services, session_id: str) -> list[tuple[int, str, str]]:
    await services.conversation.drain()
    async with services.db.session() as session:
        rows = (
            await session.execute(
                select(Message.sequence, Message.role, Message.content)
                .where(Message.session_id == session_id)
                .order_by(Message.sequence)
            )
        ).all()
    return [(sequence, role, content) for sequence, role, content in rows]


async def test_the_token_of_the_first_turn_continues_the_conversation_and_nothing_less_does(
    client: httpx.AsyncClient, services: Services, shops: None, llm: FakeLLMServer
) -> None:
    first = (await say(client, "Do you have Barolo?")).json()
    session_id, token = first["session_id"], first["session_token"]

    refused = await say(client, "And the price?", session_id=session_id)
    assert refused.status_code == 401 and error_code(refused) == "session_token_required"
    wrong = await say(client, "And the price?", session_id=session_id, headers={"X-Session-Token": "guess"})
    assert wrong.status_code == 404 and error_code(wrong) == "session_not_found"

    second = await say(client, "And the price?", session_id=session_id, headers={"X-Session-Token": token})
    assert second.status_code == 200 and second.json()["session_token"] == token
    third = await say(client, "Is it in stock?", session_id=session_id, session_token=token)  # the body field
    assert third.status_code == 200

    assert "Do you have Barolo?" in prompt_texts(llm, 2) and "And the price?" in prompt_texts(llm, 2)
    stored = await stored_messages(services, session_id)
    assert [(sequence, role) for sequence, role, _ in stored] == [
        (1, "user"), (2, "assistant"), (3, "user"), (4, "assistant"), (5, "user"), (6, "assistant"),
    ]  # fmt: skip
    async with services.db.session() as session:
        conversation = await session.get(ConversationSession, session_id)
    assert conversation is not None
    assert conversation.title == title_from_question("Do you have Barolo?") == "Do you have Barolo?"
    assert conversation.message_count == 6 and conversation.last_message_at is not None


async def test_a_verified_shopper_continues_from_a_new_device_without_the_token(
    client: httpx.AsyncClient, services: Services, shops: None, llm: FakeLLMServer
) -> None:
    user_hash = user_hash_for(identity_secret=SECRET, user_id="anna")
    first = (await say(client, "Hi! I want a white for fish", headers={"X-User-Hash": user_hash})).json()

    # Another device: no token, only the shop backend's signature of the same user id.
    later = await say(client, "Something under 200 kr?", session_id=first["session_id"], user_hash=user_hash)
    assert later.status_code == 200
    assert later.json()["session_token"] != first["session_token"]  # a token for this answer's stream only
    assert "I want a white for fish" in " ".join(prompt_texts(llm, 1))

    forged = await say(client, "Show me Anna's chat", session_id=first["session_id"], user_hash="00" * 32)
    assert forged.status_code == 401 and error_code(forged) == "invalid_user_hash"
    other_user = await say(
        client,
        "Show me Anna's chat",
        user="bob",
        session_id=first["session_id"],
        user_hash=user_hash_for(identity_secret=SECRET, user_id="bob"),
    )
    assert other_user.status_code == 404  # verified, but as Bob: Anna's conversation stays unknown

    assert len(await stored_messages(services, first["session_id"])) == 4
    async with services.db.session() as session:
        anna = (await session.scalars(select(Shopper).where(Shopper.external_id == "anna"))).one()
    assert anna.chatbot_id == "vinbar" and anna.verified_at is not None and anna.last_seen_at is not None


async def test_a_user_hash_for_a_shop_without_an_identity_secret_is_refused(
    client: httpx.AsyncClient, shops: None
) -> None:
    signed = user_hash_for(identity_secret=SECRET, user_id="anna")
    response = await say(client, "Hello", chatbot="olbar", user_hash=signed)
    assert response.status_code == 401 and error_code(response) == "invalid_user_hash"


async def test_another_shops_conversation_cannot_be_continued_even_with_its_token(
    client: httpx.AsyncClient, services: Services, shops: None
) -> None:
    first = (await say(client, "Where is my order?")).json()
    crossed = await say(
        client,
        "What did she ask?",
        chatbot="olbar",
        session_id=first["session_id"],
        headers={"X-Session-Token": first["session_token"]},
    )
    assert crossed.status_code == 404 and error_code(crossed) == "session_not_found"
    assert "Where is my order" not in crossed.text and "vinbar" not in crossed.text
    assert len(await stored_messages(services, first["session_id"])) == 2


async def test_a_second_message_while_the_first_is_answered_is_refused_with_409(
    client: httpx.AsyncClient, services: Services
) -> None:
    async with FakeLLMServer(replies=[" ".join(f"w{i}" for i in range(40))], tokens_per_s=40) as slow:
        await add_chatbot(services, **shop("slowbar", slow.base_url))
        first = (await say(client, "Tell me about Riesling", chatbot="slowbar")).json()
        token = first["session_token"]
        started = await client.post(
            "/api/process-message",
            json={"user_id": "anna", "chatbot_id": "slowbar", "message_text": "And Chablis?",
                  "session_id": first["session_id"]},
            headers={"X-Session-Token": token},
        )  # fmt: skip
        assert started.status_code == 200
        busy = await client.post(
            "/api/process-message",
            json={"user_id": "anna", "chatbot_id": "slowbar", "message_text": "Hello??",
                  "session_id": first["session_id"]},
            headers={"X-Session-Token": token},
        )  # fmt: skip
        assert busy.status_code == 409
        assert busy.json()["error"]["code"] == "turn_in_progress"
        stranger = await client.post(
            "/api/process-message",
            json={"user_id": "anna", "chatbot_id": "slowbar", "message_text": "Hello??",
                  "session_id": first["session_id"]},
        )  # fmt: skip
        assert stranger.status_code == 401  # busy or not is not told without credentials
        await read_sse(client, started.json()["sse_url"])
        after = await say(client, "Thanks!", chatbot="slowbar", session_id=first["session_id"], session_token=token)
        assert after.status_code == 200
    stored = await stored_messages(services, first["session_id"])
    assert [sequence for sequence, _, _ in stored] == [1, 2, 3, 4, 5, 6]
    asked = [content for _, role, content in stored if role == "user"]
    assert asked == ["Tell me about Riesling", "And Chablis?", "Thanks!"]


async def test_turns_alternating_between_two_workers_see_each_others_turns(
    services: Services, shops: None, llm: FakeLLMServer
) -> None:
    """Two workers in process (each its own history cache) on one database: every turn's prompt
    holds every earlier turn, whichever worker answered it."""
    other = await asyncio.to_thread(Services.create, services.settings)
    await other.start(warm_up=False, scheduler=False)
    try:
        handle = await services.conversation.start_turn(chatbot_id="vinbar", user_id="anna", message="Turn one")
        session_id, token = handle.session_id, handle.session_token
        await services.conversation.drain()
        for worker, text in ((other, "Turn two"), (services, "Turn three"), (other, "Turn four")):
            await worker.conversation.start_turn(
                chatbot_id="vinbar",
                user_id="anna",
                message=text,
                session_id=session_id,
                credentials=Credentials(session_token=token),
            )
            await worker.conversation.drain()
        assert {"Turn one", "Turn two"} <= set(prompt_texts(llm, 2))  # turn three, on the first worker
        assert {"Turn one", "Turn two", "Turn three"} <= set(prompt_texts(llm, 3))
        assert services.conversation.sessions.history_reads >= 1  # its cached history was stale
    finally:
        await other.aclose()


async def test_the_identity_secret_is_stored_encrypted_and_never_exported(services: Services, shops: None) -> None:
    exported = await load_chatbot(db=services.db, chatbot_id="vinbar")
    assert exported.identity_secret == "<encrypted>"
    async with services.db.session() as session:
        row = await session.get(Chatbot, "vinbar")
    assert row is not None and SECRET not in str(row.config)
    assert row.identity_secret_encrypted is not None and SECRET.encode() not in row.identity_secret_encrypted
    assert await services.identity_secret_for("vinbar") == SECRET
    assert await services.identity_secret_for("olbar") is None


async def test_concurrent_first_and_second_turns_never_interleave(
    client: httpx.AsyncClient, services: Services, shops: None
) -> None:
    first = (await say(client, "One")).json()
    token = first["session_token"]

    async def attempt(text: str) -> int:
        response = await client.post(
            "/api/process-message",
            json={"user_id": "anna", "chatbot_id": "vinbar", "message_text": text, "session_id": first["session_id"]},
            headers={"X-Session-Token": token},
        )
        return response.status_code

    statuses = await asyncio.gather(*(attempt(f"Message {n}") for n in range(6)))
    assert set(statuses) <= {200, 409} and 200 in statuses
    stored = await stored_messages(services, first["session_id"])
    assert [sequence for sequence, _, _ in stored] == list(range(1, len(stored) + 1))
    assert len(stored) == 2 + 2 * statuses.count(200)
