"""A new conversation's title: the shortened first question at once, then the LLM's summary.

Through the public API in process, on SQLite (and PostgreSQL when ``SAMTALE_TEST_POSTGRES_URL``
is set), the LLM being the fake OpenAI-compatible server on loopback; a chatbot on the offline
answerer keeps the shortened question.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from samtale.conversation.titles import title_from_question
from samtale.llm.fake import FakeLLMServer
from samtale.services import Services
from tests.conversation.helpers import add_chatbot
from tests.store.helpers import conversation, shop, token

QUESTION = "Hi! How long does delivery to Bornholm take, and what does the shipping of two cases of wine cost?"


def reply(body: dict[str, Any]) -> str:
    system = body["messages"][0]["content"]
    if "Write the title" in system:
        return '"Delivery and shipping to Bornholm."'
    if "Skriv titlen" in system:
        return "Titel: Levering til Bornholm"
    return "Two to three working days."


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer(replies=reply) as server:
        yield server


async def title_of(client: httpx.AsyncClient, started: dict[str, str]) -> str:
    response = await client.get(f"/api/conversations/{started['session_id']}", headers=token(started))
    assert response.status_code == 200, response.text
    return str(response.json()["title"])


async def test_the_llm_summarises_a_new_conversations_title_in_the_shops_language(
    client: httpx.AsyncClient, services: Services, llm: FakeLLMServer
) -> None:
    await add_chatbot(services, **shop("vinbar", llm.base_url, llm_titles=True))
    await add_chatbot(services, **shop("vinhus", llm.base_url, language="da", llm_titles=True))

    english = await conversation(client, QUESTION, chatbot="vinbar")
    danish = await conversation(client, "Hej, hvornår kommer min pakke til Bornholm?", chatbot="vinhus")
    await services.conversation.drain()

    assert await title_of(client, english) == "Delivery and shipping to Bornholm"
    assert await title_of(client, danish) == "Levering til Bornholm"
    asked = [r.json for r in llm.chat_requests if "titl" in r.json["messages"][0]["content"]]
    assert len(asked) == 2 and all(body["max_tokens"] <= 24 for body in asked)
    assert [m["content"] for m in asked[0]["messages"][1:]] == [QUESTION]


async def test_a_renamed_conversation_keeps_the_shoppers_title_and_offline_bots_keep_the_question(
    client: httpx.AsyncClient, services: Services, llm: FakeLLMServer
) -> None:
    await add_chatbot(services, **shop("vinbar", llm.base_url, llm_titles=True))
    await add_chatbot(services, id="offline-shop", name="Offline Shop", flows=[{"type": "main"}])

    renamed = await conversation(client, QUESTION, chatbot="vinbar")
    await services.conversation.drain()
    assert await title_of(client, renamed) == "Delivery and shipping to Bornholm"
    changed = await client.patch(
        f"/api/conversations/{renamed['session_id']}", json={"title": "Bornholm order"}, headers=token(renamed)
    )
    assert changed.status_code == 200
    # A second conversation's summary does not touch the first one's title.
    await conversation(client, "Do you sell Barolo?", chatbot="vinbar")
    await services.conversation.drain()
    assert await title_of(client, renamed) == "Bornholm order"

    asked_before = len(llm.chat_requests)
    offline = await conversation(client, QUESTION, chatbot="offline-shop")
    await services.conversation.drain()
    assert await title_of(client, offline) == title_from_question(QUESTION)
    assert len(llm.chat_requests) == asked_before  # the offline answerer has no model to ask
