"""`samtale analytics eval` with the shipped shop-topics chatbot on a migrated SQLite database:
the development questions (English and Danish, real-style shop FAQ questions written for samtale)
are classified offline at the issue's bar, and the demo chatbots carry the same twelve topics."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from samtale.analytics.cli import analytics_app
from samtale.chatbots.schema import ChatbotConfig
from samtale.settings import get_settings
from samtale.storage.db import create_database
from samtale.storage.migrate import upgrade_database
from samtale.storage.models import Chatbot
from tests.analytics.conftest import ROOT, TOPICS_DEV, shop_topics_document

TWELVE = [
    "order_status",
    "order_change",
    "delivery",
    "returns_refunds",
    "payment",
    "invoice",
    "discounts_giftcards",
    "product",
    "complaint_warranty",
    "account",
    "contact",
    "other",
]


@pytest.fixture
def database_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'samtale.db'}"
    upgrade_database(url)
    monkeypatch.setenv("SAMTALE_DATABASE_URL", url)
    monkeypatch.setenv("SAMTALE_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    config = ChatbotConfig.model_validate(shop_topics_document())

    async def store() -> None:
        database = create_database(url)
        async with database.session() as session:
            session.add(Chatbot(id=config.id, name=config.name, language=config.language, config=config.model_dump()))
        await database.dispose()

    asyncio.run(store())
    yield url
    get_settings.cache_clear()


def test_shop_topics_has_the_twelve_topics_with_english_and_danish_examples() -> None:
    config = ChatbotConfig.model_validate(shop_topics_document())

    assert [topic.name for topic in config.topics] == TWELVE
    for topic in config.topics:
        assert " / " in topic.description, topic.name  # English / Danish
        assert len(topic.examples) >= 20, topic.name


def test_demo_chatbots_use_the_same_topics() -> None:
    expected = shop_topics_document()["topics"]
    for path in (ROOT / "samtale" / "demo" / "vinhuset.yaml", ROOT / "examples" / "wine-shop.yaml"):
        assert yaml.safe_load(path.read_text(encoding="utf-8"))["topics"] == expected, path


def test_plain_topic_names_still_validate() -> None:
    config = ChatbotConfig.model_validate({"id": "plain", "name": "Plain", "topics": ["delivery", "returns"]})

    assert [(topic.name, topic.examples) for topic in config.topics] == [("delivery", []), ("returns", [])]


def test_eval_reports_accuracy_per_language_at_the_bar(database_url: str) -> None:
    result = CliRunner().invoke(
        analytics_app, ["eval", "--chatbot", "shop-topics", "--data", str(TOPICS_DEV), "--json"]
    )

    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["n"] == 192
    assert report["by_language"]["en"] >= 0.85, report["errors"]
    assert report["by_language"]["da"] >= 0.80, report["errors"]
    assert set(report["confusion"]) == set(TWELVE)
    assert sum(sum(row.values()) for row in report["confusion"].values()) == 192


def test_eval_without_the_embedder_decides_by_examples_and_keywords(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAMTALE_ANALYTICS_EMBEDDER", "none")
    get_settings.cache_clear()
    data = tmp_path / "few.csv"
    data.write_text(
        "utterance,topic,language\n"
        "Hvad koster fragten til Sverige?,delivery,da\n"
        "Min rabatkode virker ikke,discounts_giftcards,da\n"
        "I forgot my password,account,en\n",
        encoding="utf-8",
    )

    result = CliRunner().invoke(analytics_app, ["eval", "--chatbot", "shop-topics", "--data", str(data), "--json"])

    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["accuracy"] == 1.0
    assert report["sources"] == {"keywords": 3}


def test_eval_refuses_a_topic_the_chatbot_does_not_have(database_url: str, tmp_path: Path) -> None:
    data = tmp_path / "bad.csv"
    data.write_text("utterance,topic\nwhere is my order,shipping_status\n", encoding="utf-8")

    result = CliRunner().invoke(analytics_app, ["eval", "--chatbot", "shop-topics", "--data", str(data)])

    assert result.exit_code == 1
    assert "shipping_status" in result.output
