"""Every stored turn gets a topic and a score in the background: a shopper's conversation on an
offline shop chatbot with the shipped topics, and one on a chatbot answering from the fake
OpenAI-compatible LLM, whose model picks the topic and judges the answer by structured output."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from samtale.analytics.worker import TurnFacts
from samtale.llm.fake import FakeLLMServer
from samtale.services import Services
from samtale.settings import Settings
from samtale.storage.models import ConversationAnalytics, Message
from tests.analytics.conftest import shop_topics_document
from tests.conftest import SettingsFactory
from tests.conversation.helpers import add_chatbot
from tests.store.helpers import conversation, shop


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    return make_settings(analytics_enabled=True, analytics_embedder="none")


def judge(body: dict[str, Any]) -> str:
    """The fake model: a topic or a score when asked for one by structured output, else an answer."""
    schema = (body.get("response_format") or {}).get("json_schema", {}).get("name")
    if schema == "topic":
        return json.dumps({"topic": "delivery"})
    if schema == "score":
        return json.dumps({"score": 4})
    return "Delivery takes two to three days."


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer(replies=judge) as server:
        yield server


async def analysed(services: Services) -> list[ConversationAnalytics]:
    await services.conversation.drain()
    await services.recorder.flush()
    await services.analytics.flush()
    async with services.db.session() as session:
        rows = (await session.scalars(select(ConversationAnalytics).order_by(ConversationAnalytics.created_at))).all()
        return list(rows)


async def test_each_turn_is_filed_under_a_topic_and_scored_offline(
    client: httpx.AsyncClient, services: Services
) -> None:
    topics = shop_topics_document()["topics"]
    await add_chatbot(services, id="butik", name="Butik", language="da", topics=topics)

    started = await conversation(
        client,
        "Hvad koster fragten?",
        "Hvad koster fragten til Norge?",
        "Kan jeg tale med et menneske?",
        chatbot="butik",
    )
    rows = await analysed(services)

    assert [row.topic for row in rows] == ["delivery", "delivery", "contact"]
    assert [row.topic_source for row in rows] == ["keywords", "keywords", "keywords"]
    assert all(0.0 < row.topic_confidence <= 1.0 for row in rows)
    assert {row.session_id for row in rows} == {started["session_id"]}
    # The offline answerer found nothing (no knowledge base): not answered, score 2 by the rubric;
    # the first question was asked again (score 1), the second was followed by asking for a person.
    assert [row.answered for row in rows] == [False, False, False]
    assert [(row.repeated, row.asked_for_person) for row in rows] == [(True, False), (False, True), (False, False)]
    assert [row.score for row in rows] == [1, 1, 2]
    assert {row.score_source for row in rows} == {"heuristic"}
    async with services.db.session() as session:
        assistant = (
            await session.scalars(
                select(Message.id).where(Message.session_id == started["session_id"], Message.role == "assistant")
            )
        ).all()
    assert sorted(row.message_id or "" for row in rows) == sorted(assistant)


async def test_a_chatbot_with_a_model_has_it_pick_the_topic_and_judge_the_answer(
    client: httpx.AsyncClient, services: Services, llm: FakeLLMServer
) -> None:
    await add_chatbot(services, **shop("lampe", llm.base_url, topics=shop_topics_document()["topics"]))

    await conversation(client, "How long does it take?", chatbot="lampe")
    rows = await analysed(services)

    assert [(row.topic, row.topic_source, row.topic_confidence) for row in rows] == [("delivery", "llm", 1.0)]
    assert [(row.score, row.score_source, row.answered) for row in rows] == [(4, "llm", True)]
    asked = [request.json["response_format"]["json_schema"]["name"] for request in llm.chat_requests[1:]]
    assert sorted(asked) == ["score", "topic"]


async def test_a_chatbot_without_topics_is_still_scored(client: httpx.AsyncClient, services: Services) -> None:
    await add_chatbot(services, id="bare", name="Bare")

    await conversation(client, "Hello there", chatbot="bare")
    rows = await analysed(services)

    assert [(row.topic, row.topic_source) for row in rows] == [(None, "none")]
    assert rows[0].score in {1, 2, 3, 4, 5}


async def test_a_worker_that_is_behind_classifies_and_scores_offline(
    client: httpx.AsyncClient, services: Services, llm: FakeLLMServer
) -> None:
    await add_chatbot(services, **shop("lampe", llm.base_url, topics=shop_topics_document()["topics"]))
    started = await conversation(client, "How long does it take?", chatbot="lampe")
    await analysed(services)
    asked_before = len(llm.chat_requests)
    backlog = [
        TurnFacts(
            chatbot_id="lampe", session_id=started["session_id"], streaming_session_id=f"backlog-{i}",
            user_id="anna", question="Hvad koster fragten til Norge?", answer="Fragten koster 79 kr.",
            language="da", status="ok", error_category=None, flow_type="main", route_key="main",
            speculative_hit=None, ttft_ms=10.0, best_score=None, sources=0, order_shown=False,
            started_at=datetime.now(UTC),
        )
        for i in range(150)
    ]  # fmt: skip

    await services.analytics.process(backlog)

    rows = [row for row in await analysed(services) if row.streaming_session_id.startswith("backlog-")]
    assert len(rows) == 150
    assert {(row.topic, row.topic_source, row.score_source) for row in rows} == {("delivery", "keywords", "heuristic")}
    assert len(llm.chat_requests) == asked_before  # the model was not asked about the backlog


async def test_turns_of_an_erased_conversation_or_a_removed_chatbot_are_left_out(
    client: httpx.AsyncClient, services: Services
) -> None:
    await add_chatbot(services, id="butik", name="Butik", topics=shop_topics_document()["topics"])
    kept = await conversation(client, "Hvad koster fragten?", chatbot="butik")
    await analysed(services)

    def turn(session_id: str, stream: str, chatbot_id: str = "butik") -> TurnFacts:
        return TurnFacts(
            chatbot_id=chatbot_id, session_id=session_id, streaming_session_id=stream, user_id="anna",
            question="Min rabatkode virker ikke", answer="Prøv igen.", language="da", status="ok",
            error_category=None, flow_type="main", route_key="main", speculative_hit=None, ttft_ms=None,
            best_score=None, sources=0, order_shown=False, started_at=datetime.now(UTC),
        )  # fmt: skip

    await services.analytics.process(
        [turn("erased-conversation", "gone-1"), turn(kept["session_id"], "kept-1"), turn("x", "gone-2", "no-such-bot")]
    )

    streams = {row.streaming_session_id for row in await analysed(services)}
    assert "kept-1" in streams and not streams & {"gone-1", "gone-2"}
