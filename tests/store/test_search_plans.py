"""PostgreSQL answers every search from its indexes: with 100,000 stored messages, ``EXPLAIN`` of the
statements the search service runs (a shopper's search, staff searches for a rare word, a common
word and a phrase with filters, a memory search) never shows a sequential scan of ``messages``.

PostgreSQL only (``SAMTALE_TEST_POSTGRES_URL``); the messages are real text from ``../shared/data``
(Bitext customer-support utterances, wine descriptions).
"""

from __future__ import annotations

import csv
import json
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, insert, text
from sqlalchemy.ext.asyncio import AsyncEngine

from samtale.conversation.search.memories import search_memories
from samtale.conversation.search.messages import search_conversations, search_messages
from samtale.conversation.shoppers import shopper_id
from samtale.services import Services
from samtale.storage.models import ConversationSession, Memory, Message, Shopper
from tests.conftest import POSTGRES_ADMIN_URL, shared_data

pytestmark = pytest.mark.skipif(not POSTGRES_ADMIN_URL, reason="EXPLAIN plans are PostgreSQL's")

MESSAGES = 100_000
CHATBOTS = ("shop-a", "shop-b")


@pytest.fixture(scope="module")
def texts() -> tuple[list[str], list[str]]:
    """Shopper questions (Bitext) and assistant answers (wine descriptions), read before the loop runs."""
    with shared_data("intents", "bitext-train.csv").open(newline="", encoding="utf-8") as handle:
        questions = [row["utterance"] for row in csv.DictReader(handle)]
    with shared_data("catalog", "winemag-5k.csv").open(newline="", encoding="utf-8") as handle:
        answers = [row["description"] for row in csv.DictReader(handle)]
    return questions, answers


async def _store(services: Services, texts: tuple[list[str], list[str]]) -> None:
    """100,000 messages in 10-message conversations of 1,000 shoppers per chatbot, then ANALYZE."""
    questions, answers = texts
    rng = random.Random(5)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    async with services.db.engine.begin() as conn:
        for chatbot in CHATBOTS:
            await conn.execute(
                insert(Shopper),
                [{"id": shopper_id(chatbot_id=chatbot, user_id=f"u{n}"), "chatbot_id": chatbot, "external_id": f"u{n}",
                  "order_failed_attempts": 0, "order_failed_lookups": [], "created_at": start} for n in range(1000)],
            )  # fmt: skip
        sessions, messages = [], []
        for number in range(MESSAGES // 10):
            chatbot, user = CHATBOTS[number % 2], f"u{rng.randrange(1000)}"
            when = start + timedelta(minutes=number)
            sessions.append(
                {"id": f"s{number}", "chatbot_id": chatbot, "user_id": user, "title": f"Conversation {number}",
                 "shopper_id": shopper_id(chatbot_id=chatbot, user_id=user), "state": {}, "message_count": 10,
                 "created_at": when, "updated_at": when, "last_message_at": when}
            )  # fmt: skip
            messages.extend(
                {"id": f"s{number}-{sequence}", "chatbot_id": chatbot, "session_id": f"s{number}",
                 "sequence": sequence, "role": "user" if sequence % 2 else "assistant",
                 "content": rng.choice(questions if sequence % 2 else answers), "status": "ok", "extra": {},
                 "created_at": when + timedelta(seconds=sequence)}
                for sequence in range(1, 11)
            )  # fmt: skip
        await conn.execute(insert(ConversationSession), sessions)
        for first in range(0, len(messages), 20_000):
            await conn.execute(insert(Message), messages[first : first + 20_000])
        await conn.execute(
            insert(Memory),
            [{"id": f"mem{n}", "chatbot_id": "shop-a", "shopper_id": shopper_id(chatbot_id="shop-a", user_id="u1"),
              "question": rng.choice(questions), "answer": rng.choice(answers), "tags": ["wine"], "importance": 3,
              "language": "en", "created_at": start, "updated_at": start} for n in range(50)],
        )  # fmt: skip
    async with services.db.engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("ANALYZE"))


async def _plans(engine: AsyncEngine, search: Callable[[], Awaitable[Any]]) -> list[dict[str, Any]]:
    """The EXPLAIN plan of every SELECT ``search`` runs, with the parameters it ran them with."""
    captured: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            captured.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    try:
        await search()
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", capture)
    plans = []
    async with engine.connect() as conn:
        for statement, parameters in captured:
            result = await conn.exec_driver_sql(f"EXPLAIN (FORMAT JSON) {statement}", parameters)
            raw = result.scalar_one()
            plans.append((json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"])
    assert plans, "the search ran no SELECT"
    return plans


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan]
    for child in plan.get("Plans", []):
        found.extend(_nodes(child))
    return found


def _scans(plan: dict[str, Any]) -> list[tuple[str, str]]:
    found = [(plan["Node Type"], plan.get("Relation Name", ""))]
    for child in plan.get("Plans", []):
        found.extend(_scans(child))
    return found


async def test_every_search_reads_messages_through_an_index_at_100k_messages(
    services: Services, texts: tuple[list[str], list[str]]
) -> None:
    await _store(services, texts)
    db = services.db
    searches: dict[str, Callable[[], Awaitable[Any]]] = {
        "shopper": lambda: search_conversations(
            db=db, chatbot_id="shop-a", language="en", user_id="u1", query="refund"
        ),
        "staff, rare word": lambda: search_messages(db=db, chatbot_id="shop-a", language="en", query="Sicily"),
        "staff, common word": lambda: search_messages(db=db, chatbot_id="shop-a", language="en", query="fruit"),
        "staff, phrase and filters": lambda: search_messages(
            db=db,
            chatbot_id="shop-b",
            language="en",
            query='"cancel order"',
            user_id="u7",
            role="user",
            since=datetime(2026, 1, 2, tzinfo=UTC),
        ),
        "memory": lambda: search_memories(db=db, chatbot_id="shop-a", language="en", user_id="u1", query="wine"),
    }
    indexes: dict[str, set[str]] = {}
    for name, search in searches.items():
        for plan in await _plans(db.engine, search):
            scans = _scans(plan)
            assert ("Seq Scan", "messages") not in scans, f"{name}: {scans}"
            assert ("Seq Scan", "conversation_sessions") not in scans, f"{name}: {scans}"
            indexes.setdefault(name, set()).update(node["Index Name"] for node in _nodes(plan) if "Index Name" in node)
    assert "ix_messages_search" in indexes["staff, rare word"]  # the GIN index finds the few matches
    assert "ix_messages_search_recent" in indexes["staff, common word"]  # newest first, stopping at 1,000
    hits = await search_messages(db=db, chatbot_id="shop-a", language="en", query="fruit")
    assert len(hits) == 20 and all(hit.snippet.count("<mark>") >= 1 for hit in hits)
