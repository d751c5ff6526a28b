"""A scripted day at a shop whose chatbot answers from the fake OpenAI-compatible LLM: six turns
in five conversations by three shoppers (one turn fails, two answers say they do not know, one is
rated down), then every figure of the analytics endpoint, its CSV export and the drill-down from a
figure to its conversations. The model also picks each turn's topic and judges each answer."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import numpy as np
import pytest
from sqlalchemy import select, update

from samtale.api.schemas_analytics import AnalyticsResponse
from samtale.chatbots.apikeys import create_api_key
from samtale.llm.fake import FakeLLMServer
from samtale.services import Services
from samtale.settings import Settings
from samtale.storage.models import ConversationAnalytics, ConversationProcessingMetrics
from tests.analytics.conftest import shop_topics_document
from tests.conftest import SettingsFactory
from tests.conversation.helpers import add_chatbot
from tests.store.helpers import conversation, say, shop, token

# question: (answer, topic the model picks, score the model gives)
SCRIPT = {
    "How much is shipping to Norway?": ("Shipping to Norway costs 79 kr.", "delivery", 5),
    "Can I pay with MobilePay?": ("Yes, MobilePay works at checkout.", "payment", 4),
    "Where is my order?": ("I don't know where your order is.", "order_status", 2),
    "where are my orders": ("I don't know where your order is.", "order_status", 2),
    "How do I return a jacket?": ("Returns are free within 30 days.", "returns_refunds", 4),
    "Hello?": ("Hello!", "other", 5),
}


def model(body: dict[str, Any]) -> str:
    """The fake model: answers the shop's questions, names topics and judges answers as scripted."""
    schema = (body.get("response_format") or {}).get("json_schema", {}).get("name")
    last = str(body["messages"][-1]["content"])
    question = next(q for q in sorted(SCRIPT, key=len, reverse=True) if q in last)
    answer, topic, score = SCRIPT[question]
    if schema == "topic":
        return json.dumps({"topic": topic})
    if schema == "score":
        return json.dumps({"score": score})
    return answer


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    return make_settings(analytics_enabled=True, analytics_embedder="none", llm_retries=0)


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer(replies=model, fail_first=1, fault="status", fault_status=500) as server:
        yield server


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


async def place(services: Services, session_id: str, *times: str) -> None:
    """Move a conversation's turns to the scripted day (the turns ran now; the day is fixed)."""
    async with services.db.session() as session:
        rows = (
            await session.scalars(
                select(ConversationAnalytics)
                .where(ConversationAnalytics.session_id == session_id)
                .order_by(ConversationAnalytics.created_at)
            )
        ).all()
        assert len(rows) == len(times)
        for row, moment in zip(rows, times, strict=True):
            await session.execute(
                update(ConversationAnalytics).where(ConversationAnalytics.id == row.id).values(created_at=at(moment))
            )


async def test_a_scripted_day_gives_every_figure(
    client: httpx.AsyncClient, services: Services, llm: FakeLLMServer
) -> None:
    flows = [{"type": "main"}, {"type": "flow2", "route_key": "shipping"}]
    routing = {"strategy": "keywords", "keywords": [{"route_key": "shipping", "pattern": r"\b(shipping|return)\b"}]}
    document = shop("dag", llm.base_url, flows=flows, routing=routing, topics=shop_topics_document()["topics"])
    await add_chatbot(services, **document)
    failed = await say(client, "Hello?", chatbot="dag", user="carl")  # the model's first answer is an HTTP 500
    carl = {"session_id": failed.json()["session_id"], "session_token": failed.json()["session_token"]}
    anna = await conversation(client, "How much is shipping to Norway?", "Can I pay with MobilePay?", chatbot="dag")
    bob = await conversation(client, "Where is my order?", chatbot="dag", user="bob")
    jacket = await conversation(client, "How do I return a jacket?", chatbot="dag")
    again = await conversation(client, "where are my orders", chatbot="dag", user="bob")
    await services.conversation.drain()
    await services.recorder.flush()
    await services.analytics.flush()
    # The day, in Copenhagen (UTC+2 in June): Carl at 23:00 the evening before, the rest on the 15th.
    await place(services, carl["session_id"], "2026-06-14T21:00:00")
    await place(services, anna["session_id"], "2026-06-14T22:30:00", "2026-06-14T22:31:00")
    await place(services, bob["session_id"], "2026-06-15T08:00:00")
    await place(services, jacket["session_id"], "2026-06-15T09:00:00")
    await place(services, again["session_id"], "2026-06-15T10:00:00")
    staff = {
        "Authorization": f"Bearer {await create_api_key(db=services.db, name='s', is_admin=True, chatbot_id='dag')}"
    }
    conversation_url = "/api/admin/chatbots/dag/conversations"
    anna_first = (await client.get(f"{conversation_url}/{anna['session_id']}", headers=staff)).json()["messages"][1]
    jacket_answer = (await client.get(f"{conversation_url}/{jacket['session_id']}", headers=staff)).json()["messages"][
        1
    ]
    rated = [
        await client.post("/api/feedback", json={"message_id": anna_first["id"], "rating": "up"}, headers=token(anna)),
        await client.post(
            "/api/feedback", json={"message_id": jacket_answer["id"], "rating": "down"}, headers=token(jacket)
        ),
        await client.post("/api/feedback", json={"session_id": anna["session_id"], "csat": 5}, headers=token(anna)),
        await client.post("/api/feedback", json={"session_id": jacket["session_id"], "csat": 2}, headers=token(jacket)),
    ]
    assert [response.status_code for response in rated] == [200] * 4
    async with services.db.session() as session:
        metrics = ConversationProcessingMetrics
        timed = (
            await session.execute(
                select(metrics.route_key, metrics.ttft_ms).where(
                    metrics.chatbot_id == "dag", metrics.ttft_ms.is_not(None)
                )
            )
        ).all()
        ttfts = [ttft for _key, ttft in timed]
        flow_ttfts = {key: [ttft for k, ttft in timed if k == key] for key in ("main", "shipping")}
        failed_category = (
            await session.scalars(
                select(ConversationProcessingMetrics.error_category).where(
                    ConversationProcessingMetrics.session_id == carl["session_id"]
                )
            )
        ).one()
    p50, p95 = np.percentile(np.asarray(ttfts), [50, 95])

    response = await client.get(
        "/api/admin/chatbots/dag/analytics",
        params={"from": "2026-06-14", "to": "2026-06-15", "tz": "Europe/Copenhagen"},
        headers=staff,
    )

    assert response.status_code == 200, response.text
    figures = response.json()
    AnalyticsResponse.model_validate(figures)
    assert (figures["from"], figures["to"], figures["tz"]) == ("2026-06-14", "2026-06-15", "Europe/Copenhagen")
    assert (figures["conversations"], figures["messages"], figures["users"]) == (5, 6, 3)
    assert figures["by_day"] == [
        {"date": "2026-06-14", "conversations": 1, "messages": 1},
        {"date": "2026-06-15", "conversations": 4, "messages": 5},
    ]
    assert figures["topics"] == {"delivery": 1, "payment": 1, "order_status": 2, "returns_refunds": 1, "other": 1}
    assert figures["flows"] == {"main": 4, "shipping": 2}
    assert figures["ttft_ms"] == {"p50": round(float(p50), 2), "p95": round(float(p95), 2)}
    assert len(ttfts) == 5  # the failed turn had no first token
    assert figures["feedback"] == {"up": 1, "down": 1}
    assert figures["csat"] == {"mean": 3.5, "count": 2}
    # Scores: 5 (rated up) + 4 + 2 + 1 (rated down) + 1 (failed) + 2 = 15 over 6 turns.
    assert figures["score"] == {"mean": 2.5}
    assert figures["errors"] == {failed_category: 1}
    assert failed_category is not None
    assert figures["speculative_hit_rate"] is None  # keyword routing decides at once: nothing speculative
    assert figures["flow_performance"] == {
        "main": {
            "turns": 4,
            "errors": 1,
            "score_mean": 2.25,
            "ttft_p50_ms": round(float(np.percentile(flow_ttfts["main"], 50)), 2),
            "speculative_hit_rate": None,
        },
        "shipping": {
            "turns": 2,
            "errors": 0,
            "score_mean": 3.0,
            "ttft_p50_ms": round(float(np.percentile(flow_ttfts["shipping"], 50)), 2),
            "speculative_hit_rate": None,
        },
    }
    assert figures["knowledge_gaps"] == [
        {"question": "where are my orders", "topic": "order_status", "count": 2, "best_score": None},
        {"question": "How do I return a jacket?", "topic": "returns_refunds", "count": 1, "best_score": None},
    ]

    utc_day = (
        await client.get(
            "/api/admin/chatbots/dag/analytics", params={"from": "2026-06-15", "to": "2026-06-15"}, headers=staff
        )
    ).json()
    assert (utc_day["conversations"], utc_day["messages"], utc_day["by_day"]) == (
        3,
        3,
        [{"date": "2026-06-15", "conversations": 3, "messages": 3}],
    )
    narrowed = (
        await client.get(
            "/api/admin/chatbots/dag/analytics",
            params={"from": "2026-06-14", "to": "2026-06-15", "tz": "Europe/Copenhagen", "flow": "shipping"},
            headers=staff,
        )
    ).json()
    assert (narrowed["conversations"], narrowed["messages"], narrowed["topics"]) == (
        2,
        2,
        {"delivery": 1, "returns_refunds": 1},
    )

    export = await client.get(
        "/api/admin/chatbots/dag/analytics/export.csv",
        params={"from": "2026-06-14", "to": "2026-06-15", "tz": "Europe/Copenhagen"},
        headers=staff,
    )
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert [(r["conversation_id"], r["messages"], r["topic"], r["score"], r["flows"]) for r in rows] == [
        (carl["session_id"], "1", "other", "1.0", "main"),
        (anna["session_id"], "2", "delivery", "4.5", "shipping|main"),
        (bob["session_id"], "1", "order_status", "2.0", "main"),
        (jacket["session_id"], "1", "returns_refunds", "1.0", "shipping"),
        (again["session_id"], "1", "order_status", "2.0", "main"),
    ]
    assert [(r["feedback_up"], r["feedback_down"], r["csat"]) for r in rows] == [
        ("0", "0", ""),
        ("1", "0", "5"),
        ("0", "0", ""),
        ("0", "1", "2"),
        ("0", "0", ""),
    ]
    assert rows[0]["first_ttft_ms"] == "" and float(rows[1]["first_ttft_ms"]) > 0
    assert rows[1]["started"] == "2026-06-14T22:30:00+00:00"

    async def listed(**params: Any) -> set[str]:
        response = await client.get(conversation_url, params=params, headers=staff)
        assert response.status_code == 200, response.text
        return {c["id"] for c in response.json()["conversations"]}

    assert await listed(topic="order_status") == {bob["session_id"], again["session_id"]}
    assert await listed(feedback="down") == {jacket["session_id"]}
    assert await listed(score_max=1) == {jacket["session_id"], carl["session_id"]}
    assert await listed(score_min=5) == {anna["session_id"]}
    assert await listed(score_min=3, score_max=4) == {anna["session_id"]}
    refused = await client.get(conversation_url, params={"score_min": 4, "score_max": 2}, headers=staff)
    assert refused.status_code == 422
    bad_zone = await client.get("/api/admin/chatbots/dag/analytics", params={"tz": "Mars/Olympus"}, headers=staff)
    assert bad_zone.status_code == 422
    too_early = await client.get(
        "/api/admin/chatbots/dag/analytics",
        params={"from": "0001-01-01", "to": "0001-01-02", "tz": "Europe/Copenhagen"},
        headers=staff,
    )
    assert too_early.status_code == 422
