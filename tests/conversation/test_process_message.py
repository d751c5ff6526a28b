"""A shopper sends a message and reads the streamed answer: the conversation API of seed 002."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from samtale.services import Services
from samtale.storage.models import (
    ConversationProcessingMetrics,
    ConversationSession,
    Message,
    StreamingEvent,
    StreamingSession,
)
from tests.conversation.helpers import add_chatbot, answer_text, parse_sse, read_sse

PLAIN_SHOP = {
    "id": "plainshop",
    "name": "Plain Shop",
    "language": "en",
    "flows": [{"type": "main"}],
}


def message(text: str, **extra: Any) -> dict[str, Any]:
    return {"user_id": "shopper-1", "chatbot_id": "plainshop", "message_text": text, **extra}


@pytest.fixture
async def shop(services: Services) -> None:
    await add_chatbot(services, **PLAIN_SHOP)


async def test_process_message_answers_with_seed_fields_and_token_urls(client: httpx.AsyncClient, shop: None) -> None:
    response = await client.post("/api/process-message", json=message("Hello, do you ship to Aarhus?"))
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert body["flow_type"] == "main"
    stream_id = body["streaming_session_id"]
    assert body["streaming_url"] == f"/api/stream-events/{stream_id}?token={body['session_token']}"
    assert body["sse_url"] == f"/api/stream/{stream_id}?token={body['session_token']}"

    events = await read_sse(client, body["sse_url"])
    names = [event["event"] for event in events]
    assert names[0] == "start" and names[1] == "flow" and names[2] == "sources" and names[-1] == "end"
    assert [event["id"] for event in events] == list(range(1, len(events) + 1))
    assert events[0]["data"]["session_id"] == body["session_id"]
    assert answer_text(events).strip()
    end = events[-1]["data"]
    assert end["usage"]["completion_tokens"] > 0
    assert end["metrics"]["ttft_ms"] >= 0


async def test_polling_returns_the_same_events_as_sse(client: httpx.AsyncClient, shop: None) -> None:
    body = (await client.post("/api/process-message", json=message("What payment do you take?"))).json()
    sse = await read_sse(client, body["sse_url"])
    polled = (await client.get(body["streaming_url"] + "&after=0")).json()
    assert set(polled) == {"events", "session_status", "last_event_id", "has_more"}
    assert [(e["id"], e["event"], e["data"]) for e in polled["events"]] == [
        (e["id"], e["event"], e["data"]) for e in sse
    ]
    assert polled["session_status"] == "completed"
    assert polled["has_more"] is False
    assert polled["last_event_id"] == sse[-1]["id"]
    tail = (await client.get(body["streaming_url"] + "&after=3")).json()
    assert [e["id"] for e in tail["events"]] == [e["id"] for e in sse[3:]]


async def test_sse_resumes_right_after_last_event_id(client: httpx.AsyncClient, shop: None) -> None:
    body = (await client.post("/api/process-message", json=message("Tell me about delivery"))).json()
    full = await read_sse(client, body["sse_url"])
    middle = full[len(full) // 2]["id"]
    resumed = await read_sse(client, body["sse_url"], headers={"Last-Event-ID": str(middle)})
    assert [e["id"] for e in resumed] == [e["id"] for e in full if e["id"] > middle]
    by_query = await read_sse(client, body["sse_url"] + f"&last_event_id={middle}")
    assert [e["id"] for e in by_query] == [e["id"] for e in resumed]


async def test_streams_need_their_session_token(client: httpx.AsyncClient, shop: None) -> None:
    body = (await client.post("/api/process-message", json=message("Hi"))).json()
    stream_id = body["streaming_session_id"]
    await read_sse(client, body["sse_url"])
    no_token = await client.get(f"/api/stream-events/{stream_id}")
    assert no_token.status_code == 401
    assert no_token.json()["error"]["code"] == "unauthorized"
    wrong = await client.get(f"/api/stream/{stream_id}", params={"token": "not-the-token"})
    assert wrong.status_code == 403
    header = await client.get(f"/api/stream-events/{stream_id}", headers={"X-Session-Token": body["session_token"]})
    assert header.status_code == 200


async def test_accept_event_stream_streams_the_answer_directly(client: httpx.AsyncClient, shop: None) -> None:
    response = await client.post(
        "/api/process-message", json=message("Do you have gift cards?"), headers={"Accept": "text/event-stream"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["x-accel-buffering"] == "no"
    events = parse_sse(response.text)
    assert events[0]["event"] == "start" and events[-1]["event"] == "end"
    assert response.headers["x-session-id"] == events[0]["data"]["session_id"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (message("hi", chatbot_id="no-such-shop"), 404, "chatbot_not_found"),
        (message(""), 422, "invalid_input"),
        (message("   "), 422, "invalid_input"),
        (message("x" * 8001), 413, "payload_too_large"),
        ({"chatbot_id": "plainshop", "message_text": "no user"}, 422, "invalid_input"),
    ],
)
async def test_bad_input_gets_a_clear_json_error(
    client: httpx.AsyncClient, shop: None, body: dict[str, Any], status: int, code: str
) -> None:
    response = await client.post("/api/process-message", json=body)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == code
    assert error["message"]


async def test_malformed_json_and_unknown_stream(client: httpx.AsyncClient, shop: None) -> None:
    response = await client.post(
        "/api/process-message", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert "JSON" in response.json()["error"]["message"]
    unknown = await client.get("/api/stream-events/00000000-0000-0000-0000-000000000000", params={"token": "x"})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "stream_not_found"


async def test_each_turn_is_stored_with_its_events_and_timings(
    client: httpx.AsyncClient, services: Services, shop: None
) -> None:
    first = (await client.post("/api/process-message", json=message("Where are you located?"))).json()
    await read_sse(client, first["sse_url"])
    second = (
        await client.post(
            "/api/process-message",
            json=message("And opening hours?", session_id=first["session_id"]),
            headers={"X-Session-Token": first["session_token"]},
        )
    ).json()
    events = await read_sse(client, second["sse_url"])
    await services.conversation.drain()

    async with services.db.session() as session:
        conversation = await session.get(ConversationSession, first["session_id"])
        assert conversation is not None and conversation.chatbot_id == "plainshop"
        messages = (
            await session.scalars(
                select(Message).where(Message.session_id == first["session_id"]).order_by(Message.sequence)
            )
        ).all()
        assert [(m.sequence, m.role) for m in messages] == [
            (1, "user"),
            (2, "assistant"),
            (3, "user"),
            (4, "assistant"),
        ]
        assert messages[2].content == "And opening hours?"
        assert messages[3].content == answer_text(events)
        stored_stream = await session.get(StreamingSession, second["streaming_session_id"])
        assert stored_stream is not None and stored_stream.status == "completed"
        rows, event_count = (
            await session.execute(
                select(func.count(), func.sum(StreamingEvent.event_count)).where(
                    StreamingEvent.streaming_session_id == second["streaming_session_id"]
                )
            )
        ).one()
        assert event_count == len(events)
        assert rows < len(events)  # the answer's tokens are one row
        metrics = (
            await session.scalars(
                select(ConversationProcessingMetrics).where(
                    ConversationProcessingMetrics.streaming_session_id == second["streaming_session_id"]
                )
            )
        ).one()
    assert metrics.flow_type == "main" and metrics.provider == "offline" and metrics.status == "ok"
    assert metrics.ttft_ms is not None and metrics.total_ms >= metrics.ttft_ms
    assert metrics.completion_tokens > 0 and metrics.persist_ms is not None
    for phase in ("config_ms", "routing_ms", "retrieval_ms", "prompt_ms", "llm_ttft_ms", "stream_ms"):
        assert getattr(metrics, phase) is not None and getattr(metrics, phase) >= 0


async def test_a_stored_stream_is_served_after_it_left_memory(
    client: httpx.AsyncClient, services: Services, shop: None
) -> None:
    body = (await client.post("/api/process-message", json=message("Do you sell magnums?"))).json()
    live = await read_sse(client, body["sse_url"])
    await services.conversation.drain()
    services.hub.retention_s = 0
    services.hub.expire(now=float("inf"))
    assert services.hub.get(body["streaming_session_id"]) is None
    replay = await read_sse(client, body["sse_url"])
    assert [(e["id"], e["event"], e["data"]) for e in replay] == [(e["id"], e["event"], e["data"]) for e in live]
    polled = (await client.get(body["streaming_url"] + "&after=2")).json()
    assert polled["session_status"] == "completed" and polled["events"][0]["id"] == 3


async def test_a_session_of_another_user_is_not_continued(
    client: httpx.AsyncClient, services: Services, shop: None
) -> None:
    body = (await client.post("/api/process-message", json=message("hello"))).json()
    await read_sse(client, body["sse_url"])
    await services.conversation.drain()
    other = await client.post(
        "/api/process-message",
        json=message("show me the history", user_id="intruder", session_id=body["session_id"]),
        headers={"X-Session-Token": body["session_token"]},
    )
    assert other.status_code == 404  # even with the conversation's token: it is not this user's
    assert other.json()["error"]["code"] == "session_not_found"


async def test_health_endpoints(client: httpx.AsyncClient) -> None:
    health = await client.get("/health")
    assert health.json() == {"status": "ok", "model": "offline", "db": "ok"}
    conversation = (await client.get("/api/conversation-health")).json()
    assert conversation["status"] == "healthy" and conversation["database"] == "connected"
    assert conversation["active_streams"] == 0


async def test_conversation_config_is_public_and_has_no_secret(client: httpx.AsyncClient, services: Services) -> None:
    await add_chatbot(
        services,
        id="secretshop",
        name="Secret Shop",
        language="da",
        flows=[{"type": "main", "knowledge_index": "faq", "top_k": 3}],
        integrations=[{"name": "shop", "kind": "shopify", "settings": {"shop": "x"}, "secrets": {"token": "s3cr3t"}}],
    )
    response = await client.get("/api/conversation-config/secretshop")
    assert response.status_code == 200
    configuration = response.json()["configuration"]
    assert configuration["language"] == "da" and configuration["topKSettings"] == {"main": 3}
    assert "s3cr3t" not in response.text and 'token": "' not in response.text
    assert (await client.get("/api/conversation-config/nope")).status_code == 404
