"""An operator loads a catalogue with ``samtale kb``, lists it and scores retrieval on questions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from samtale.knowledge.cli import kb_app
from samtale.settings import get_settings
from tests.knowledge.helpers import chatbot_id, wine_rows, write_wines


@pytest.fixture
def operator_env(kb_database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """SAMTALE_DATABASE_URL pointing at the module's database, read afresh by the CLI."""
    monkeypatch.setenv("SAMTALE_DATABASE_URL", kb_database_url)
    monkeypatch.setenv("SAMTALE_EMBEDDING_PROVIDER", "local")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_ingest_list_and_eval_from_the_command_line(operator_env: None, tmp_path: Path) -> None:
    header, rows = wine_rows(40)
    feed = write_wines(tmp_path / "wines.csv", header, rows)
    shop = chatbot_id("cli")
    runner = CliRunner()

    ingest = [
        "ingest",
        "--chatbot",
        shop,
        "--index",
        "products",
        "--id-column",
        "id",
        "--metadata-only-columns",
        "points,price,taster_name,taster_twitter_handle",
        str(feed),
    ]
    first = runner.invoke(kb_app, ingest)
    assert first.exit_code == 0, first.output
    assert "40 documents added" in first.output and "chunks/s" in first.output
    second = runner.invoke(kb_app, ingest)
    assert "0 documents added" in second.output and "40 unchanged" in second.output

    listing = runner.invoke(kb_app, ["list", "--chatbot", shop])
    assert listing.exit_code == 0, listing.output
    assert "products" in listing.output and "40" in listing.output

    questions = tmp_path / "questions.csv"
    questions.write_text(
        "question,expected_id\n" + "".join(f'"Tell me about the {row["title"]}",{row["id"]}\n' for row in rows[:6]),
        encoding="utf-8",
    )
    scored = runner.invoke(
        kb_app, ["eval", "--chatbot", shop, "--index", "products", "--questions", str(questions), "--json"]
    )
    assert scored.exit_code == 0, scored.output
    scores = json.loads(scored.output.strip().splitlines()[-1])
    assert set(scores) >= {"hit@1", "hit@5", "mrr"}
    assert scores["hit@5"] == 1.0
    assert 0.5 <= scores["mrr"] <= 1.0


def test_an_unknown_id_column_is_a_clear_error(operator_env: None, tmp_path: Path) -> None:
    header, rows = wine_rows(3)
    feed = write_wines(tmp_path / "wines.csv", header, rows)
    result = CliRunner().invoke(
        kb_app, ["ingest", "--chatbot", chatbot_id("cli"), "--index", "p", "--id-column", "sku", str(feed)]
    )
    assert result.exit_code == 1
    assert "'sku' is not a column" in result.output
