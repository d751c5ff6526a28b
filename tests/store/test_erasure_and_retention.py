"""Privacy: staff erase a shopper (GDPR right to erasure) and are told what was removed; the
scheduled retention job removes conversations past their chatbot's ``retention_days`` and
deleted ones past the grace period; nothing else is touched.

Through the public API in process and the maintenance job as the scheduler runs it, on SQLite
(and PostgreSQL when ``SAMTALE_TEST_POSTGRES_URL`` is set).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

import samtale.demo
from samtale.api.schemas_conversations import ErasureResponse
from samtale.chatbots.apikeys import create_api_key
from samtale.conversation.retention import purge_conversations
from samtale.conversation.shoppers import shopper_id
from samtale.files.service import store_file
from samtale.knowledge.ingest import ingest_paths
from samtale.llm.fake import FakeLLMServer
from samtale.observability.maintenance import purge_old_streams
from samtale.services import Services
from samtale.settings import Settings
from samtale.storage.models import (
    ContextChunkUsed,
    ConversationAnalytics,
    ConversationCsat,
    ConversationProcessingMetrics,
    ConversationSession,
    ErrorLog,
    MaintenanceRun,
    Message,
    MessageEdit,
    MessageFeedback,
    Shopper,
    StreamingEvent,
    StreamingSession,
)
from tests.conftest import SettingsFactory
from tests.conversation.helpers import add_chatbot
from tests.store.helpers import SECRET, conforms, conversation, identity, say, shop, token

POLICIES = Path(samtale.demo.__file__).parent / "policies.en.md"


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    # The analytics worker on: a shopper's turns' analytics, ratings and CSAT are theirs too.
    return make_settings(analytics_enabled=True, analytics_embedder="none")


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLMServer]:
    # The first answer is cut after one token: that turn fails and is logged in error_logs.
    async with FakeLLMServer(replies=lambda body: "an answer of five words", fail_first=1, fault="cut") as server:
        yield server


async def admin(services: Services) -> dict[str, str]:
    return {"Authorization": f"Bearer {await create_api_key(db=services.db, name='dpo', is_admin=True)}"}


async def rows_of(services: Services, session_ids: list[str]) -> dict[str, int]:
    """How many rows each table holds for these conversations."""
    messages = select(Message.id).where(Message.session_id.in_(session_ids))
    streams = select(StreamingSession.id).where(StreamingSession.conversation_session_id.in_(session_ids))
    queries: dict[str, Any] = {
        "conversations": select(func.count()).where(ConversationSession.id.in_(session_ids)),
        "messages": select(func.count()).where(Message.session_id.in_(session_ids)),
        "message_edits": select(func.count()).where(MessageEdit.message_id.in_(messages)),
        "context_chunks": select(func.count()).where(ContextChunkUsed.message_id.in_(messages)),
        "streaming_sessions": select(func.count()).where(StreamingSession.conversation_session_id.in_(session_ids)),
        "streaming_events": select(func.count()).where(StreamingEvent.streaming_session_id.in_(streams)),
        "processing_metrics": select(func.count()).where(ConversationProcessingMetrics.session_id.in_(session_ids)),
        "error_logs": select(func.count()).where(ErrorLog.context["streaming_session_id"].as_string().in_(streams)),
        "conversation_analytics": select(func.count()).where(ConversationAnalytics.session_id.in_(session_ids)),
        "message_feedback": select(func.count()).where(MessageFeedback.session_id.in_(session_ids)),
        "conversation_csat": select(func.count()).where(ConversationCsat.session_id.in_(session_ids)),
    }
    async with services.db.session() as session:
        return {name: int((await session.execute(query)).scalar_one()) for name, query in queries.items()}


async def shoppers(services: Services) -> set[str]:
    async with services.db.session() as session:
        return set((await session.scalars(select(Shopper.external_id))).all())


async def test_erasing_a_shopper_removes_everything_stored_of_them_and_says_what(
    client: httpx.AsyncClient, services: Services, llm: FakeLLMServer
) -> None:
    await add_chatbot(
        services,
        **shop("vinbar", llm.base_url, identity_secret=SECRET, flows=[{"type": "main", "knowledge_index": "policies"}]),
    )
    await ingest_paths(
        db=services.db, embedder=services.embedder, chatbot_id="vinbar", index_name="policies", paths=[POLICIES]
    )
    failed = await conversation(client, "Hello, is anyone there?")  # cut off: an error-log row
    policy = await conversation(client, "What is your return policy?", "How long does delivery take?")
    forgotten = await conversation(client, "Please forget this conversation")
    bobs = await conversation(client, "What is your return policy? Bob asks", user="bob")
    await services.conversation.drain()
    messages = (await client.get(f"/api/conversations/{policy['session_id']}", headers=token(policy))).json()[
        "messages"
    ]
    edited = await client.patch(
        f"/api/conversations/{policy['session_id']}/messages/{messages[2]['id']}",
        json={"content": "How long does delivery to Aarhus take?"},
        headers=token(policy),
    )
    assert edited.status_code == 200
    rated = await client.post(
        "/api/feedback", json={"message_id": messages[1]["id"], "rating": "down"}, headers=token(policy)
    )
    scored = await client.post(
        "/api/feedback", json={"session_id": policy["session_id"], "csat": 2}, headers=token(policy)
    )
    assert (rated.status_code, scored.status_code) == (200, 200)
    await services.recorder.flush()
    await services.analytics.flush()
    assert (
        await client.delete(f"/api/conversations/{forgotten['session_id']}", headers=token(forgotten))
    ).status_code == 204
    annas = [failed["session_id"], policy["session_id"], forgotten["session_id"]]
    held = await rows_of(services, annas)
    assert held["conversations"] == 3 and held["messages"] == 8 and held["message_edits"] == 1
    assert held["context_chunks"] > 0 and held["streaming_events"] > 0 and held["error_logs"] == 1
    assert held["processing_metrics"] == 4 and held["streaming_sessions"] == 4
    assert held["conversation_analytics"] == 4 and held["message_feedback"] == 1 and held["conversation_csat"] == 1
    bob_before = await rows_of(services, [bobs["session_id"]])
    # Anna sent a photo of a damaged parcel; Bob sent one too.
    photo = b"\xff\xd8\xff\xe0 a damaged parcel \xff\xd9"
    uploads = {
        user: await store_file(
            db=services.db, storage=services.files, chatbot_id="vinbar", data=photo + user.encode(),
            name="parcel.jpg", mime="image/jpeg", max_bytes=services.settings.max_upload_bytes,
            shopper_id=shopper_id(chatbot_id="vinbar", user_id=user), conversation_session_id=session["session_id"],
        )
        for user, session in (("anna", policy), ("bob", bobs))
    }  # fmt: skip

    query, headers = identity("anna")
    remembered = await client.post(
        "/api/memories", params=query, headers=headers, json={"question": "Which wine?", "answer": "Dry Riesling"}
    )
    assert remembered.status_code == 201, remembered.text

    staff = await admin(services)
    erased = await client.delete("/api/admin/chatbots/vinbar/users/anna", headers=staff)
    assert erased.status_code == 200, erased.text
    conforms(ErasureResponse, erased.json())
    removed = {**held, "files": 1, "memories": 1, "users": 1}
    assert erased.json() == {"chatbot_id": "vinbar", "user_id": "anna", "removed": removed}
    assert not await services.files.exists(uploads["anna"].file.storage_key)  # the bytes, not only the row
    assert await services.files.exists(uploads["bob"].file.storage_key)

    assert await rows_of(services, annas) == dict.fromkeys(held, 0)
    assert await rows_of(services, [bobs["session_id"]]) == bob_before
    assert await shoppers(services) == {"bob"}
    query, headers = identity("anna")
    listed = await client.get("/api/conversations", params=query, headers=headers)
    assert listed.status_code == 200 and listed.json()["conversations"] == []
    assert (await client.get(f"/api/conversations/{policy['session_id']}", headers=token(policy))).status_code == 404

    again = await client.delete("/api/admin/chatbots/vinbar/users/anna", headers=staff)
    assert again.status_code == 200 and set(again.json()["removed"].values()) == {0}


async def test_the_retention_job_removes_what_is_due_and_keeps_the_rest(
    client: httpx.AsyncClient, services: Services
) -> None:
    async with FakeLLMServer(replies=lambda body: "answer") as llm:
        await add_chatbot(services, **shop("vinbar", llm.base_url, retention_days=30))
        await add_chatbot(services, **shop("olbar", llm.base_url))
        expired = await conversation(client, "An old question at Vinbar")
        recent = await conversation(client, "A recent question at Vinbar")
        ancient = await conversation(client, "An ancient question at Olbar", chatbot="olbar")
        deleted_long_ago = await conversation(client, "Deleted long ago", chatbot="olbar")
        deleted_lately = await conversation(client, "Deleted yesterday", chatbot="olbar")
        await services.conversation.drain()
    for started in (deleted_long_ago, deleted_lately):
        assert (
            await client.delete(f"/api/conversations/{started['session_id']}", headers=token(started))
        ).status_code == 204
    now = datetime.now(UTC)
    async with services.db.session() as session:
        for started, days in ((expired, 31), (recent, 29), (ancient, 400)):
            await session.execute(
                update(ConversationSession)
                .where(ConversationSession.id == started["session_id"])
                .values(last_message_at=now - timedelta(days=days), created_at=now - timedelta(days=days))
            )
        for started, days in ((deleted_long_ago, 31), (deleted_lately, 1)):
            await session.execute(
                update(ConversationSession)
                .where(ConversationSession.id == started["session_id"])
                .values(deleted_at=now - timedelta(days=days))
            )

    receipt = await store_file(
        db=services.db, storage=services.files, chatbot_id="vinbar", data=b"%PDF-1.7 an old receipt",
        name="receipt.pdf", mime="application/pdf", max_bytes=services.settings.max_upload_bytes,
        conversation_session_id=expired["session_id"],
    )  # fmt: skip

    scheduler = services.scheduler
    assert scheduler is not None
    job = scheduler.scheduler.get_job("conversation_retention")
    assert job is not None and str(job.trigger).startswith("cron[") and "hour='4'" in str(job.trigger)
    result = await scheduler.run_conversation_retention()

    assert result is not None and result["conversations"] == 2 and result["messages"] == 4
    assert result["files"] == 1 and not await services.files.exists(receipt.file.storage_key)
    assert result["streaming_sessions"] == 2 and result["processing_metrics"] == 2 and result["streaming_events"] > 0
    async with services.db.session() as session:
        left = set((await session.scalars(select(ConversationSession.id))).all())
        runs = (
            await session.scalars(select(MaintenanceRun).where(MaintenanceRun.job == "conversation_retention"))
        ).all()
    assert left == {recent["session_id"], ancient["session_id"], deleted_lately["session_id"]}
    assert [(run.status, run.result) for run in runs] == [("ok", result)]
    assert await rows_of(services, [expired["session_id"], deleted_long_ago["session_id"]]) == dict.fromkeys(
        await rows_of(services, []), 0
    )

    # The grace period is a setting: with none, the conversation deleted yesterday goes too.
    assert (await purge_conversations(db=services.db, grace_days=0))["conversations"] == 1
    assert (await say(client, "Still here?", chatbot="olbar", session_id=ancient["session_id"],
                      session_token=ancient["session_token"])).status_code == 200  # fmt: skip


async def test_retention_days_is_part_of_the_chatbot_document(client: httpx.AsyncClient, services: Services) -> None:
    staff = await admin(services)
    document = {"id": "vinbar", "name": "Vinbar", "flows": [{"type": "main"}], "retention_days": 90}
    saved = await client.put("/api/admin/chatbots/vinbar", json=document, headers=staff)
    assert saved.status_code == 200, saved.text
    assert (await client.get("/api/admin/chatbots/vinbar", headers=staff)).json()["retention_days"] == 90
    for days in (0, -5, "a year"):
        refused = await client.put(
            "/api/admin/chatbots/vinbar", json={**document, "retention_days": days}, headers=staff
        )
        assert refused.status_code == 422, days
    kept_forever = await client.put(
        "/api/admin/chatbots/vinbar", json={k: v for k, v in document.items() if k != "retention_days"}, headers=staff
    )
    assert kept_forever.status_code == 200
    assert "retention_days" not in (await client.get("/api/admin/chatbots/vinbar", headers=staff)).json()


async def test_erasure_finds_a_turns_metrics_and_error_log_after_its_stream_rows_are_cleaned_up(
    client: httpx.AsyncClient, services: Services, llm: FakeLLMServer
) -> None:
    await add_chatbot(services, **shop("vinbar", llm.base_url))
    failed = await conversation(client, "Hello, is anyone there?")  # cut off: an error-log row
    await services.conversation.drain()
    removed_streams = await purge_old_streams(db=services.db, retention_s=1e-6)  # the hourly stream_cleanup
    assert removed_streams["streaming_sessions"] == 1
    held = await rows_of(services, [failed["session_id"]])
    assert held["error_logs"] == 0  # the test's own count goes through the stream rows, now gone

    erased = await client.delete("/api/admin/chatbots/vinbar/users/anna", headers=await admin(services))
    removed = erased.json()["removed"]
    assert removed["error_logs"] == 1 and removed["processing_metrics"] == 1 and removed["messages"] == 2
    async with services.db.session() as session:
        assert (await session.execute(select(func.count()).select_from(ErrorLog))).scalar_one() == 0
        assert (
            await session.execute(select(func.count()).select_from(ConversationProcessingMetrics))
        ).scalar_one() == 0
