"""`samtale routing examples import` and `samtale routing eval`, on a real migrated SQLite database."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from samtale.chatbots.schema import ChatbotConfig
from samtale.routing.cli import routing_app
from samtale.settings import get_settings
from samtale.storage.db import create_database
from samtale.storage.migrate import upgrade_database
from samtale.storage.models import Chatbot
from tests.routing.conftest import SHOP_QUESTIONS, bitext_shop_document


@pytest.fixture
def database_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'samtale.db'}"
    upgrade_database(url)
    monkeypatch.setenv("SAMTALE_DATABASE_URL", url)
    monkeypatch.setenv("SAMTALE_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    config = ChatbotConfig.model_validate(bitext_shop_document())

    async def store() -> None:
        database = create_database(url)
        async with database.session() as session:
            session.add(Chatbot(id=config.id, name=config.name, language=config.language, config=config.model_dump()))
        await database.dispose()

    asyncio.run(store())
    yield url
    get_settings.cache_clear()


def stored_examples(url: str) -> dict[str, list[str]]:
    async def load() -> dict[str, list[str]]:
        database = create_database(url)
        async with database.session() as session:
            row = await session.get(Chatbot, "bitext-shop")
            assert row is not None
            examples: dict[str, list[str]] = row.config["routing"]["examples"]
        await database.dispose()
        return examples

    return asyncio.run(load())


def test_examples_import_merges_new_utterances_into_the_chatbot(database_url: str, tmp_path: Path) -> None:
    examples = tmp_path / "examples.csv"
    examples.write_text(
        "utterance,flow\n"
        "has my parcel left the warehouse,order\n"
        "where is my order,order\n"
        "kan I sende til Færøerne,shipping\n"
        "do you have a loyalty club,main\n",
        encoding="utf-8",
    )

    result = CliRunner().invoke(routing_app, ["examples", "import", "--chatbot", "bitext-shop", str(examples)])

    assert result.exit_code == 0, result.output
    assert "imported 3 new routing examples into chatbot 'bitext-shop'" in result.output
    stored = stored_examples(database_url)
    assert "has my parcel left the warehouse" in stored["order"]
    assert stored["order"].count("where is my order") == 1
    assert "kan I sende til Færøerne" in stored["shipping"]


def test_examples_naming_an_unknown_flow_are_refused(database_url: str, tmp_path: Path) -> None:
    examples = tmp_path / "examples.csv"
    examples.write_text("utterance,flow\ndo you have a red from Italy,product\n", encoding="utf-8")

    result = CliRunner().invoke(routing_app, ["examples", "import", "--chatbot", "bitext-shop", str(examples)])

    assert result.exit_code == 1
    assert "flow 'product'" in result.output
    assert "product" not in stored_examples(database_url)


def test_eval_prints_accuracy_per_flow_figures_and_latency(database_url: str, tmp_path: Path) -> None:
    rows = SHOP_QUESTIONS.read_text(encoding="utf-8").splitlines()
    data = tmp_path / "eval.csv"
    data.write_text("\n".join([rows[0], *rows[1:81:8]]) + "\n", encoding="utf-8")

    as_json = CliRunner().invoke(routing_app, ["eval", "--chatbot", "bitext-shop", "--data", str(data), "--json"])
    table = CliRunner().invoke(routing_app, ["eval", "--chatbot", "bitext-shop", "--data", str(data)])

    assert as_json.exit_code == 0, as_json.output
    report = json.loads(as_json.stdout)
    assert report["total"] == 10
    assert 0.0 <= report["accuracy"] <= 1.0
    assert set(report["per_flow"]) == {"main", "order", "shipping", "refund"}
    assert report["per_flow"]["order"]["support"] == 3
    assert report["latency_ms"]["p50"] > 0
    assert sum(sum(row.values()) for row in report["confusion"].values()) == 10
    assert table.exit_code == 0, table.output
    assert "Routing evaluation" in table.output
    assert "Confusion matrix" in table.output
    assert "precision" in table.output


def test_eval_of_an_unknown_chatbot_says_so(database_url: str) -> None:
    result = CliRunner().invoke(routing_app, ["eval", "--chatbot", "nope", "--data", str(SHOP_QUESTIONS)])

    assert result.exit_code == 1
    assert "unknown chatbot 'nope'" in result.output
