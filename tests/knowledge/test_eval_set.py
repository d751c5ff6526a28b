"""The evaluation sets: kept in sync with their generator, answerable, and scored by ``samtale kb eval``.

An operator ingests a slice of the wine catalogue and the ABCD store policies with the CLI and
scores retrieval on the repository's question sets, by kind and by tuning / held-out half.
Quality floors only (the full-catalogue figures are in docs/operations.md); no timings.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from samtale.knowledge.cli import kb_app
from samtale.knowledge.evaluation import load_questions
from samtale.settings import get_settings
from tests.knowledge.data import make_questions
from tests.knowledge.helpers import WINE_METADATA_ONLY, chatbot_id

DATA = Path(__file__).resolve().parent / "data"
WINE_QUESTIONS = DATA / "wine_questions.csv"
POLICY_QUESTIONS = DATA / "policy_questions.csv"


@pytest.fixture
def operator_env(kb_database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """SAMTALE_DATABASE_URL pointing at the module's database; torch embedder (no ONNX export here)."""
    monkeypatch.setenv("SAMTALE_DATABASE_URL", kb_database_url)
    monkeypatch.setenv("SAMTALE_EMBEDDING_PROVIDER", "local")
    monkeypatch.setenv("SAMTALE_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_the_question_files_are_what_the_generator_writes() -> None:
    wines = _read(WINE_QUESTIONS)
    assert wines == [{key: str(value) for key, value in row.items()} for row in make_questions.wine_questions()]
    policies = _read(POLICY_QUESTIONS)
    assert policies == make_questions.policy_questions()

    kinds = Counter(row["kind"] for row in wines)
    assert len(wines) >= 200 and set(kinds) == {"title", "winery_variety_region", "description", "price"}
    assert min(kinds.values()) >= 40
    assert len(policies) >= 50
    for rows in (wines, policies):
        splits = Counter(row["split"] for row in rows)
        assert set(splits) == {"tune", "held"} and min(splits.values()) >= len(rows) // 3


def test_every_wine_question_has_one_answer_in_the_catalogue() -> None:
    catalogue = {row["id"]: row for row in make_questions.read_wines()}
    titles = Counter(row["title"] for row in catalogue.values())
    for row in _read(WINE_QUESTIONS):
        wine = catalogue[row["expected_id"]]
        if row["kind"] == "title":
            assert titles[wine["title"]] == 1, row
        if row["kind"] == "price":
            limit = json.loads(row["filters"])["price"]["lte"]
            same = [
                other
                for other in catalogue.values()
                if (other["winery"], other["variety"]) == (wine["winery"], wine["variety"])
                and other["price"]
                and float(other["price"]) <= limit
            ]
            assert same == [wine], row
        if row["kind"] == "description":
            # a paraphrase, not a copy: no run of five words of the review in the question
            review = make_questions.fold(wine["description"]).lower().split()
            shingles = {" ".join(review[i : i + 5]) for i in range(len(review) - 4)}
            asked = make_questions.fold(row["question"]).lower()
            assert not any(shingle in asked for shingle in shingles), row


def _wine_slice(tmp_path: Path, questions: list[dict[str, str]]) -> Path:
    """The wines the questions ask for, every wine of the same producers, and the first 200 rows."""
    rows = make_questions.read_wines()
    wanted = {row["expected_id"] for row in questions}
    wineries = {row["winery"] for row in rows if row["id"] in wanted}
    chosen = [row for index, row in enumerate(rows) if index < 200 or row["id"] in wanted or row["winery"] in wineries]
    path = tmp_path / "winemag-slice.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(chosen)
    return path


def _held_out_sample(per_kind: int) -> list[dict[str, str]]:
    sample: list[dict[str, str]] = []
    for kind in ("title", "winery_variety_region", "description", "price"):
        sample += [row for row in _read(WINE_QUESTIONS) if row["kind"] == kind and row["split"] == "held"][:per_kind]
    return sample


def test_an_operator_scores_wine_retrieval_by_kind_and_half(operator_env: None, tmp_path: Path) -> None:
    questions = _held_out_sample(10)
    feed = _wine_slice(tmp_path, questions)
    question_file = tmp_path / "questions.csv"
    with question_file.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(questions[0]))
        writer.writeheader()
        writer.writerows(questions)
    shop = chatbot_id("eval")
    runner = CliRunner()
    ingest = runner.invoke(
        kb_app,
        [
            "ingest",
            "--chatbot",
            shop,
            "--index",
            "wines",
            "--id-column",
            "id",
            "--metadata-only-columns",
            ",".join(WINE_METADATA_ONLY),
            str(feed),
        ],
    )
    assert ingest.exit_code == 0, ingest.output

    scored = runner.invoke(
        kb_app, ["eval", "--chatbot", shop, "--index", "wines", "--questions", str(question_file), "--json"]
    )
    assert scored.exit_code == 0, scored.output
    report = json.loads(scored.output.strip().splitlines()[-1])
    assert report["questions"] == 40
    assert report["hit@5"] >= 0.9 and report["hit@1"] >= 0.8, report
    assert set(report["by_kind"]) == {"title", "winery_variety_region", "description", "price"}
    assert report["by_kind"]["title"]["hit@1"] >= 0.9, report["by_kind"]
    assert set(report["by_split"]) == {"held"}

    table = runner.invoke(kb_app, ["eval", "--chatbot", shop, "--index", "wines", "--questions", str(question_file)])
    assert table.exit_code == 0, table.output
    assert "kind description" in table.output and "split held" in table.output


def test_an_operator_scores_the_store_policies(operator_env: None, tmp_path: Path) -> None:
    feed = make_questions.write_policy_jsonl(tmp_path / "abcd-policies.jsonl")
    shop = chatbot_id("abcd")
    runner = CliRunner()
    ingest = runner.invoke(kb_app, ["ingest", "--chatbot", shop, "--index", "policies", str(feed)])
    assert ingest.exit_code == 0, ingest.output
    assert "55 documents added" in ingest.output

    scored = runner.invoke(
        kb_app, ["eval", "--chatbot", shop, "--index", "policies", "--questions", str(POLICY_QUESTIONS), "--json"]
    )
    assert scored.exit_code == 0, scored.output
    report = json.loads(scored.output.strip().splitlines()[-1])
    assert report["questions"] == len(load_questions(POLICY_QUESTIONS))
    assert report["hit@5"] >= 0.85, report


def test_weights_and_filter_sources_an_operator_mistypes_are_refused(operator_env: None) -> None:
    runner = CliRunner()
    base = ["eval", "--chatbot", chatbot_id("eval"), "--index", "wines", "--questions", str(WINE_QUESTIONS)]
    unknown = runner.invoke(kb_app, [*base, "--fusion", '{"lexcial": 2}'])
    assert unknown.exit_code == 2 and "unknown fusion weight lexcial" in unknown.output
    method = runner.invoke(kb_app, [*base, "--fusion", '{"method": "max"}'])
    assert method.exit_code == 2 and "rrf or convex" in method.output
    source = runner.invoke(kb_app, [*base, "--filters", "llm"])
    assert source.exit_code == 2 and "column, rules or off" in source.output
