"""Turns stored while the analytics were off get their topic and score from
`samtale analytics backfill --chatbot ID`; running it again finds nothing left to do."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from samtale.analytics.cli import analytics_app
from samtale.services import Services
from samtale.settings import get_settings
from samtale.storage.models import ConversationAnalytics
from tests.analytics.conftest import shop_topics_document
from tests.conversation.helpers import add_chatbot
from tests.store.helpers import conversation


async def test_backfill_analyses_stored_turns_once(
    client: httpx.AsyncClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert not services.settings.analytics_enabled  # the turns below are stored without analytics
    await add_chatbot(services, id="butik", name="Butik", language="da", topics=shop_topics_document()["topics"])
    first = await conversation(client, "Hvad koster fragten?", "Min rabatkode virker ikke", chatbot="butik")
    second = await conversation(client, "I forgot my password", chatbot="butik", user="bob")
    await services.conversation.drain()
    await services.recorder.flush()
    monkeypatch.setenv("SAMTALE_DATABASE_URL", services.settings.database_url)
    monkeypatch.setenv("SAMTALE_ANALYTICS_EMBEDDER", "none")
    get_settings.cache_clear()
    runner = CliRunner()

    try:
        done = await asyncio.to_thread(runner.invoke, analytics_app, ["backfill", "--chatbot", "butik"])
        again = await asyncio.to_thread(runner.invoke, analytics_app, ["backfill", "--chatbot", "butik"])
    finally:
        get_settings.cache_clear()

    assert done.exit_code == 0, done.output
    assert "analysed 3 stored turns of chatbot 'butik'" in done.output
    assert "analysed 0 stored turns" in again.output
    async with services.db.session() as session:
        rows = (await session.scalars(select(ConversationAnalytics).order_by(ConversationAnalytics.created_at))).all()
    assert [(row.session_id, row.topic) for row in rows] == [
        (first["session_id"], "delivery"),
        (first["session_id"], "discounts_giftcards"),
        (second["session_id"], "account"),
    ]
    assert all(row.message_id is not None and row.score_source == "heuristic" for row in rows)
    assert [row.answered for row in rows] == [False, False, False]  # the offline answerer found nothing
