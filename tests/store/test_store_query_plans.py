"""The shopper's list and a conversation's read are index searches, never a scan of the tables,
at the seed's size (a shopper's latest 20 of 10,000 conversations): the database's own query
plan (``EXPLAIN QUERY PLAN`` on SQLite, ``EXPLAIN`` on PostgreSQL) of the very statements the
routes ran.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event, insert, text

from samtale.llm.fake import FakeLLMServer
from samtale.services import Services
from samtale.storage.models import ConversationSession, Message
from tests.conversation.helpers import add_chatbot
from tests.store.helpers import SECRET, conversation, identity, shop, token


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer(replies=lambda body: "answer") as server:
        yield server


async def fill(services: Services, *, shoppers: int = 500, each: int = 20) -> None:
    """``shoppers × each`` conversations of two messages each, some pinned, some archived, some deleted."""
    now = datetime.now(UTC)
    sessions: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    for user in range(shoppers):
        for number in range(each):
            session_id = str(uuid.uuid4())
            at = now - timedelta(minutes=user * each + number + 10)
            sessions.append(
                {
                    "id": session_id, "chatbot_id": "vinbar", "user_id": f"shopper-{user}", "status": "active",
                    "title": f"Question {number}", "is_archived": number % 7 == 0, "is_pinned": number % 9 == 0,
                    "state": {}, "message_count": 2, "last_message_at": at, "created_at": at, "updated_at": at,
                    "deleted_at": at if number % 11 == 0 else None,
                }
            )  # fmt: skip
            for sequence, role in ((1, "user"), (2, "assistant")):
                messages.append(
                    {
                        "id": str(uuid.uuid4()), "chatbot_id": "vinbar", "session_id": session_id,
                        "sequence": sequence, "role": role, "content": f"{role} text", "status": "ok",
                        "flow_type": "main", "extra": {}, "is_edited": False, "created_at": at,
                    }
                )  # fmt: skip
    async with services.db.engine.begin() as conn:
        await conn.execute(insert(ConversationSession.__table__), sessions)  # type: ignore[arg-type]
        await conn.execute(insert(Message.__table__), messages)  # type: ignore[arg-type]
        await conn.execute(text("ANALYZE"))


@contextmanager
def statements(services: Services) -> Iterator[list[tuple[str, Any]]]:
    """The SELECTs the app sends to the database meanwhile, with their parameters."""
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    engine = services.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def plan(services: Services, statement: str, parameters: Any) -> str:
    sqlite = services.settings.is_sqlite
    async with services.db.engine.connect() as conn:
        rows = (
            await conn.exec_driver_sql(("EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN ") + statement, parameters)
        ).all()
    return "\n".join(str(row[-1]) for row in rows)


async def test_the_list_and_a_read_search_the_indexes(
    client: httpx.AsyncClient, services: Services, llm: FakeLLMServer
) -> None:
    await add_chatbot(services, **shop("vinbar", llm.base_url, identity_secret=SECRET))
    started = await conversation(client, "A real question", user="shopper-7")
    await services.conversation.drain()
    await fill(services)
    query, headers = identity("shopper-7")

    with statements(services) as listing:
        page = await client.get("/api/conversations", params=query, headers=headers)
    assert page.status_code == 200 and len(page.json()["conversations"]) == 17
    with statements(services) as reading:
        read = await client.get(f"/api/conversations/{started['session_id']}", headers=token(started))
    assert read.status_code == 200 and len(read.json()["messages"]) == 2

    list_plans = [await plan(services, sql, params) for sql, params in listing if "conversation_sessions" in sql]
    assert len(list_plans) == 2  # the pinned, then the others
    assert "ix_conversation_sessions_user_pinned" in list_plans[0]
    assert "ix_conversation_sessions_user_active" in list_plans[1]
    read_plans = [await plan(services, sql, params) for sql, params in reading]
    assert len(read_plans) == 2  # the conversation, then its messages: no N+1
    assert "uq_messages_session_sequence" in read_plans[1]
    for shown in list_plans + read_plans:
        assert "Seq Scan" not in shown and "SCAN conversation_sessions" not in shown and "SCAN messages" not in shown
