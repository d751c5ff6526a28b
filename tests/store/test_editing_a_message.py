"""A shopper edits their last question: the earlier text is kept, the message says it was edited,
and the next turn's prompt, on whichever worker answers it, holds the edited text.

Through the public API in process, on SQLite (and PostgreSQL when ``SAMTALE_TEST_POSTGRES_URL``
is set); the fake OpenAI-compatible server on loopback shows each turn's prompt.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from samtale.api.schemas_conversations import ConversationMessage
from samtale.app import create_app
from samtale.llm.fake import FakeLLMServer
from samtale.services import Services
from samtale.storage.models import MessageEdit
from tests.conftest import SettingsFactory
from tests.conversation.helpers import add_chatbot, read_sse
from tests.store.helpers import SECRET, conforms, conversation, error_code, identity, say, shop, token


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer(replies=lambda body: f"answer {len(body['messages'])}") as server:
        yield server


@pytest.fixture
async def shops(services: Services, llm: FakeLLMServer) -> None:
    await add_chatbot(services, **shop("vinbar", llm.base_url, identity_secret=SECRET))


def prompt(llm: FakeLLMServer, request: int) -> list[str]:
    return [message["content"] for message in llm.chat_requests[request].json["messages"]]


async def messages(client: httpx.AsyncClient, started: dict[str, str]) -> list[dict]:
    response = await client.get(f"/api/conversations/{started['session_id']}", headers=token(started))
    assert response.status_code == 200, response.text
    return list(response.json()["messages"])


async def test_a_shopper_edits_their_last_question_and_the_next_turn_prompts_with_it(
    client: httpx.AsyncClient, services: Services, shops: None, llm: FakeLLMServer
) -> None:
    started = await conversation(client, "Do you have Barolo?", "Is it from 2016?")
    last_question = (await messages(client, started))[2]
    assert last_question["role"] == "user" and last_question["sequence"] == 3

    edited = await client.patch(
        f"/api/conversations/{started['session_id']}/messages/{last_question['id']}",
        json={"content": "  Is it from 2019?  "},
        headers=token(started),
    )
    assert edited.status_code == 200, edited.text
    conforms(ConversationMessage, edited.json())
    assert edited.json() == {**last_question, "content": "Is it from 2019?", "is_edited": True}
    read_back = await messages(client, started)
    assert read_back[2]["content"] == "Is it from 2019?" and read_back[2]["is_edited"] is True
    assert [m["is_edited"] for m in read_back] == [False, False, True, False]
    async with services.db.session() as session:
        kept = (await session.scalars(select(MessageEdit).where(MessageEdit.message_id == last_question["id"]))).all()
    assert [edit.previous_content for edit in kept] == ["Is it from 2016?"]

    again = await say(
        client, "And the price?", session_id=started["session_id"], session_token=started["session_token"]
    )
    assert again.status_code == 200
    sent = prompt(llm, 2)
    assert "Is it from 2019?" in sent and "Is it from 2016?" not in sent

    # The question before is no longer the last one: it cannot be edited any more.
    refused = await client.patch(
        f"/api/conversations/{started['session_id']}/messages/{last_question['id']}",
        json={"content": "Is it from 2020?"},
        headers=token(started),
    )
    assert refused.status_code == 409 and error_code(refused) == "message_not_editable"


async def test_only_the_last_user_message_of_the_conversation_can_be_edited(
    client: httpx.AsyncClient, services: Services, shops: None
) -> None:
    started = await conversation(client, "First question", "Second question")
    other = await conversation(client, "Another conversation")
    first, first_answer, second, second_answer = await messages(client, started)
    base = f"/api/conversations/{started['session_id']}/messages"

    for message in (first, first_answer, second_answer):
        refused = await client.patch(f"{base}/{message['id']}", json={"content": "Changed"}, headers=token(started))
        assert refused.status_code == 409 and error_code(refused) == "message_not_editable", message["role"]
    foreign = (await messages(client, other))[0]["id"]
    missing = await client.patch(f"{base}/{foreign}", json={"content": "Changed"}, headers=token(started))
    assert missing.status_code == 404 and error_code(missing) == "message_not_found"
    for body, status in (({"content": "   "}, 422), ({"content": ""}, 422), ({}, 422), ({"content": "x" * 8001}, 413)):
        response = await client.patch(f"{base}/{second['id']}", json=body, headers=token(started))
        assert response.status_code == status, body

    query, headers = identity("anna")
    by_identity = await client.patch(
        f"{base}/{second['id']}", params=query, headers=headers, json={"content": "Second question, edited"}
    )
    assert by_identity.status_code == 200 and by_identity.json()["is_edited"] is True
    unchanged = await client.patch(
        f"{base}/{second['id']}", json={"content": "Second question, edited"}, headers=token(started)
    )
    assert unchanged.status_code == 200
    async with services.db.session() as session:
        edits = (await session.scalars(select(MessageEdit.previous_content))).all()
    assert edits == ["Second question"]  # the same text again is no edit


async def test_an_edit_reaches_the_next_prompt_on_another_worker(
    services: Services, client: httpx.AsyncClient, shops: None, llm: FakeLLMServer
) -> None:
    """Two workers in process (each its own history cache) on one database: the first answers two
    turns (so it has the history cached), the edit goes through the second, and the first
    worker's next turn prompts with the edited text although the message count did not change."""
    other = await asyncio.to_thread(Services.create, services.settings)
    await other.start(warm_up=False, scheduler=False)
    try:
        started = await conversation(client, "Turn one", "Turn two, as first written")
        await services.conversation.drain()
        second = (await messages(client, started))[2]
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(services=other)), base_url="http://worker-two.test"
        ) as worker_two:
            edited = await worker_two.patch(
                f"/api/conversations/{started['session_id']}/messages/{second['id']}",
                json={"content": "Turn two, as edited"},
                headers=token(started),
            )
        assert edited.status_code == 200, edited.text
        reads_before = services.conversation.sessions.history_reads
        third = await say(
            client, "Turn three", session_id=started["session_id"], session_token=started["session_token"]
        )
        assert third.status_code == 200
        sent = prompt(llm, 2)  # the third turn, answered by the first worker
        assert {"Turn one", "Turn two, as edited"} <= set(sent) and "Turn two, as first written" not in sent
        assert services.conversation.sessions.history_reads == reads_before + 1  # its cache was stale
        fourth = await say(
            client, "Turn four", session_id=started["session_id"], session_token=started["session_token"]
        )
        assert fourth.status_code == 200
        assert services.conversation.sessions.history_reads == reads_before + 1  # a follow-up: cached again
        assert {"Turn two, as edited", "Turn three"} <= set(prompt(llm, 3))
    finally:
        await other.aclose()


async def test_an_edit_while_the_next_answer_is_generated_is_refused(
    client: httpx.AsyncClient, services: Services
) -> None:
    async with FakeLLMServer(replies=[" ".join(f"w{i}" for i in range(40))], tokens_per_s=40) as slow:
        await add_chatbot(services, **shop("slowbar", slow.base_url))
        first = (await say(client, "Tell me about Riesling", chatbot="slowbar")).json()
        started = {"session_id": first["session_id"], "session_token": first["session_token"]}
        question = (await messages(client, started))[0]
        running = await client.post(
            "/api/process-message",
            json={"user_id": "anna", "chatbot_id": "slowbar", "message_text": "And Chablis?",
                  "session_id": started["session_id"]},
            headers=token(started),
        )  # fmt: skip
        assert running.status_code == 200
        busy = await client.patch(
            f"/api/conversations/{started['session_id']}/messages/{question['id']}",
            json={"content": "Tell me about Grüner Veltliner"},
            headers=token(started),
        )
        assert busy.status_code == 409 and error_code(busy) == "turn_in_progress"
        await read_sse(client, running.json()["sse_url"])
    assert [m["content"] for m in await messages(client, started) if m["role"] == "user"] == [
        "Tell me about Riesling",
        "And Chablis?",
    ]


async def test_with_redis_an_edit_on_one_worker_reaches_the_next_prompt_on_the_other(
    make_settings: SettingsFactory, redis_url: str, llm: FakeLLMServer
) -> None:
    """Two workers sharing the database and Redis (turn locks, stream hub, caches), as behind a
    load balancer: the turns go to the first, the edit to the second."""
    settings = make_settings(redis_url=redis_url)
    workers = [await asyncio.to_thread(Services.create, settings) for _ in range(2)]
    for worker in workers:
        await worker.start(warm_up=False, scheduler=False)
    one, two = workers
    try:
        await add_chatbot(one, **shop("vinbar", llm.base_url))
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(services=one)), base_url="http://one") as a,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(services=two)), base_url="http://two") as b,
        ):
            started = await conversation(a, "Turn one", "Turn two, as first written")
            second = (await messages(b, started))[2]  # read through the other worker, right after the end event
            assert second["content"] == "Turn two, as first written"
            edited = await b.patch(
                f"/api/conversations/{started['session_id']}/messages/{second['id']}",
                json={"content": "Turn two, as edited"},
                headers=token(started),
            )
            assert edited.status_code == 200, edited.text
            third = await say(a, "Turn three", session_id=started["session_id"], session_token=started["session_token"])
            assert third.status_code == 200
        sent = prompt(llm, 2)
        assert "Turn two, as edited" in sent and "Turn two, as first written" not in sent
    finally:
        for worker in workers:
            await worker.aclose()


async def test_an_edited_question_and_a_renamed_conversation_are_found_by_their_new_words(
    client: httpx.AsyncClient, shops: None
) -> None:
    started = await conversation(client, "Do you sell Barolo?", "Is the Barolo from Piemonte?")
    last_question = (await messages(client, started))[2]
    query, headers = identity("anna")

    async def found(words: str) -> set[str]:
        response = await client.get("/api/conversations/search", params={**query, "q": words}, headers=headers)
        assert response.status_code == 200, response.text
        return {hit["message_id"] for hit in response.json()["results"]}

    assert last_question["id"] in await found("Piemonte")
    edited = await client.patch(
        f"/api/conversations/{started['session_id']}/messages/{last_question['id']}",
        json={"content": "Is the Barolo from Langhe?"},
        headers=token(started),
    )
    assert edited.status_code == 200, edited.text
    assert last_question["id"] not in await found("Piemonte")
    assert last_question["id"] in await found("Langhe")

    renamed = await client.patch(
        f"/api/conversations/{started['session_id']}", json={"title": "Nebbiolo questions"}, headers=token(started)
    )
    assert renamed.status_code == 200, renamed.text
    by_title = await client.get("/api/conversations/search", params={**query, "q": "nebbiolo"}, headers=headers)
    assert started["session_id"] in {hit["conversation_id"] for hit in by_title.json()["results"]}
