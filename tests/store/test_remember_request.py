"""A verified shopper says "remember that I prefer dry whites": the chatbot's model writes the memory,
the turn's ``memory`` event names it as ``created``, and the shopper's memories list it.

Through the public API in process, on SQLite (and PostgreSQL when ``SAMTALE_TEST_POSTGRES_URL``
is set); the fake OpenAI-compatible server on loopback writes the memory's JSON when asked.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from samtale.conversation.access import user_hash_for
from samtale.conversation.remember import asks_to_remember
from samtale.llm.fake import FakeLLMServer
from samtale.services import Services
from tests.conversation.helpers import add_chatbot, read_sse

SECRET = "shop-backend-signing-key-0123456789"
MEMORY = {
    "question": "Which wines does the shopper prefer?",
    "answer": "Dry white wines from Alsace",
    "tags": ["Wine", "white wine"],
    "importance": 4,
}


def reply(body: dict[str, Any]) -> str:
    system = body["messages"][0]["content"]
    if system.startswith("The shopper asks you to remember"):
        return json.dumps(MEMORY)
    if system.startswith("Kunden beder dig huske"):
        return "```json\n" + json.dumps({**MEMORY, "answer": "Tørre hvidvine fra Alsace", "tags": ["vin"]}) + "\n```"
    return "Noted!"


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer(replies=reply) as server:
        yield server


@pytest.fixture
async def shops(services: Services, llm: FakeLLMServer) -> None:
    model = {"provider": "openai", "model": "fake-model", "base_url": llm.base_url}
    common = {"identity_secret": SECRET, "memory": {"enabled": True}}
    await add_chatbot(services, id="wineshop", name="Wine", llm=model, **common)
    await add_chatbot(services, id="vinhus", name="Vinhus", language="da", llm=model, **common)
    await add_chatbot(services, id="offline", name="Offline", **common)


def signed(user: str) -> str:
    return user_hash_for(identity_secret=SECRET, user_id=user)


async def say(client: httpx.AsyncClient, chatbot: str, text: str, **fields: Any) -> list[dict[str, Any]]:
    body = {"user_id": "anna", "chatbot_id": chatbot, "message_text": text, **fields}
    response = await client.post("/api/process-message", json=body)
    assert response.status_code == 200, response.text
    return await read_sse(client, response.json()["sse_url"])


async def memories(client: httpx.AsyncClient, chatbot: str) -> list[dict[str, Any]]:
    response = await client.get(
        "/api/memories", params={"chatbot_id": chatbot, "user_id": "anna"}, headers={"X-User-Hash": signed("anna")}
    )
    assert response.status_code == 200, response.text
    return list(response.json()["memories"])


def memory_event(events: list[dict[str, Any]]) -> dict[str, Any]:
    return next(event["data"] for event in events if event["event"] == "memory")


async def test_a_verified_shopper_asks_to_be_remembered_and_the_memory_is_kept(
    client: httpx.AsyncClient, shops: None, llm: FakeLLMServer
) -> None:
    events = await say(
        client, "wineshop", "Please remember that I prefer dry white wines from Alsace.", user_hash=signed("anna")
    )
    created = memory_event(events)["created"]
    assert created["question"] == MEMORY["question"] and created["answer"] == MEMORY["answer"]
    assert created["importance"] == 4
    assert created["id"] in [memory["id"] for memory in memory_event(events)["memories"]]  # recalled at once
    kept = await memories(client, "wineshop")
    assert [(m["question"], m["answer"], m["tags"]) for m in kept] == [
        (MEMORY["question"], MEMORY["answer"], ["wine", "white wine"])
    ]
    asked = [r.json for r in llm.chat_requests if r.json.get("response_format", {}).get("type") == "json_schema"]
    assert len(asked) == 1 and asked[0]["messages"][-1]["content"].startswith("Please remember")

    danish = await say(client, "vinhus", "Hej! Husk at jeg kun drikker tørre hvidvine.", user_hash=signed("anna"))
    assert memory_event(danish)["created"]["answer"] == "Tørre hvidvine fra Alsace"
    assert [m["tags"] for m in await memories(client, "vinhus")] == [["vin"]]


async def test_nothing_is_remembered_for_an_unverified_caller_an_offline_bot_or_an_ordinary_question(
    client: httpx.AsyncClient, shops: None, llm: FakeLLMServer
) -> None:
    unverified = await say(client, "wineshop", "Remember that I prefer dry white wines.")
    assert "memory" not in [event["event"] for event in unverified]
    offline = await say(client, "offline", "Remember that I prefer dry white wines.", user_hash=signed("anna"))
    assert "created" not in memory_event(offline)
    question = "Do you remember the Riesling you had last year?"
    ordinary = await say(client, "wineshop", question, user_hash=signed("anna"))
    assert "created" not in memory_event(ordinary)
    assert await memories(client, "wineshop") == [] and await memories(client, "offline") == []
    assert not any(r.json.get("response_format") for r in llm.chat_requests)


def test_the_cues_that_ask_to_be_remembered() -> None:
    for text in (
        "remember that I live in Aarhus",
        "Thanks. Please remember: no sulfites",
        "Keep in mind that I am vegan",
        "Husk at jeg bor i Aarhus",
        "Tak! Husk, at jeg ikke tåler sulfitter",
        "Glem ikke at jeg er veganer",
    ):
        assert asks_to_remember(text), text
    for text in ("Do you remember my last order?", "I can't remember my order number", "Husker du min ordre?"):
        assert not asks_to_remember(text), text
