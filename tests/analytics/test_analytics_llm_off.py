"""With ``SAMTALE_ANALYTICS_LLM=false`` a chatbot's model answers shoppers but is never asked about
its turns: topics and scores come from the offline classifier and the heuristic."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from samtale.llm.fake import FakeLLMServer
from samtale.services import Services
from samtale.settings import Settings
from tests.analytics.conftest import shop_topics_document
from tests.analytics.test_worker import analysed
from tests.conftest import SettingsFactory
from tests.conversation.helpers import add_chatbot
from tests.store.helpers import conversation, shop


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    return make_settings(analytics_enabled=True, analytics_embedder="none", analytics_llm=False)


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer(replies=["Shipping to Norway costs 79 kr."]) as server:
        yield server


async def test_the_model_is_not_asked_about_turns(
    client: httpx.AsyncClient, services: Services, llm: FakeLLMServer
) -> None:
    await add_chatbot(services, **shop("lampe", llm.base_url, topics=shop_topics_document()["topics"]))

    await conversation(client, "How much is shipping to Norway?", chatbot="lampe")
    rows = await analysed(services)

    assert [(row.topic, row.score_source) for row in rows] == [("delivery", "heuristic")]
    assert rows[0].topic_source in {"examples", "keywords"}
    assert len(llm.chat_requests) == 1  # the answer alone
