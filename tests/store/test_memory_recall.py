"""A chatbot with ``memory`` enabled recalls a verified shopper's relevant memories into the prompt
and lists them in a ``memory`` event; an unverified caller using the same user id gets none.

Through the public API in process, on SQLite (and PostgreSQL when ``SAMTALE_TEST_POSTGRES_URL``
is set); the fake OpenAI-compatible server on loopback records each prompt.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from samtale.conversation.access import user_hash_for
from samtale.llm.fake import FakeLLMServer
from samtale.services import Services
from tests.conversation.helpers import add_chatbot, read_sse

SECRET = "shop-backend-signing-key-0123456789"


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer(replies=["Try a Chablis."]) as server:
        yield server


@pytest.fixture
async def shops(services: Services, llm: FakeLLMServer) -> None:
    settings = {"provider": "openai", "model": "fake-model", "base_url": llm.base_url}
    await add_chatbot(
        services, id="wineshop", name="Wine", llm=settings, identity_secret=SECRET, memory={"enabled": True, "top_k": 2}
    )
    await add_chatbot(services, id="forgetful", name="Forgetful", llm=settings, identity_secret=SECRET)


def signed(user: str) -> str:
    return user_hash_for(identity_secret=SECRET, user_id=user)


async def remember(client: httpx.AsyncClient, chatbot: str, user: str, **memory: Any) -> str:
    response = await client.post(
        "/api/memories",
        params={"chatbot_id": chatbot, "user_id": user},
        headers={"X-User-Hash": signed(user)},
        json=memory,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def ask(client: httpx.AsyncClient, chatbot: str, text: str, **fields: Any) -> list[dict[str, Any]]:
    response = await client.post(
        "/api/process-message", json={"user_id": "anna", "chatbot_id": chatbot, "message_text": text, **fields}
    )
    assert response.status_code == 200, response.text
    return await read_sse(client, response.json()["sse_url"])


def system_prompt(llm: FakeLLMServer, request: int) -> str:
    return str(llm.chat_requests[request].json["messages"][0]["content"])


async def test_a_verified_shoppers_relevant_memories_reach_the_prompt_and_the_memory_event(
    client: httpx.AsyncClient, shops: None, llm: FakeLLMServer
) -> None:
    taste = await remember(client, "wineshop", "anna", question="Which wines do I like?", answer="Dry whites, no oak")
    allergy = await remember(client, "wineshop", "anna", question="Allergies?", answer="Sulfites", importance=5)
    await remember(client, "wineshop", "anna", question="Where do I live?", answer="Copenhagen", importance=1)

    events = await ask(client, "wineshop", "Which wine goes with fish?", user_hash=signed("anna"))
    names = [event["event"] for event in events]
    assert names.index("memory") < names.index("token")
    recalled = next(event["data"]["memories"] for event in events if event["event"] == "memory")
    assert [memory["id"] for memory in recalled] == [taste, allergy]  # a shared word first, then importance 5
    assert recalled[0]["answer"] == "Dry whites, no oak" and recalled[0]["score"] > 0 == recalled[1]["score"]
    prompt = system_prompt(llm, 0)
    assert "Dry whites, no oak" in prompt and "Sulfites" in prompt and "Copenhagen" not in prompt

    anonymous = await ask(client, "wineshop", "Which wine goes with fish?")  # Anna's user id, but not her signature
    assert "memory" not in [event["event"] for event in anonymous]
    assert "Dry whites" not in system_prompt(llm, 1)


async def test_a_chatbot_without_memory_recalls_nothing(
    client: httpx.AsyncClient, shops: None, llm: FakeLLMServer
) -> None:
    await remember(client, "forgetful", "anna", question="Which wines do I like?", answer="Dry whites", importance=5)
    events = await ask(client, "forgetful", "Which wine goes with fish?", user_hash=signed("anna"))
    assert "memory" not in [event["event"] for event in events]
    assert "Dry whites" not in system_prompt(llm, 0)
