"""``samtale templates validate``: a marketer checks payload files before sending them to Meta."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from samtale.template_builder.cli import templates_app

runner = CliRunner()
DATA = Path(__file__).parent / "data" / "meta_examples.json"


def test_a_file_of_meta_examples_validates_with_one_result_per_name() -> None:
    result = runner.invoke(templates_app, ["validate", str(DATA), "--json"])

    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert "seasonal_promotion" in report and "_source" not in report
    assert all(entry["valid"] for entry in report.values())


def test_one_invalid_payload_exits_1_and_lists_path_rule_and_message(
    tmp_path: Path, meta_examples: dict[str, Any]
) -> None:
    payload = meta_examples["seasonal_promotion"]
    payload["components"][3]["buttons"][0]["text"] = "Unsubscribe from all promotions"
    file = tmp_path / "promo.json"
    file.write_text(json.dumps(payload))

    result = runner.invoke(templates_app, ["validate", str(file), "--json"])

    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["valid"] is False
    assert report["errors"][0]["path"] == "components[3].buttons[0].text"
    assert report["errors"][0]["rule"] == "button.text_max_length"
    assert set(report) == {"valid", "errors", "warnings"}


def test_plain_output_names_the_problem(tmp_path: Path) -> None:
    file = tmp_path / "bad.json"
    file.write_text(json.dumps({"name": "Bad Name", "language": "en-US", "category": "MARKETING", "components": []}))

    result = runner.invoke(templates_app, ["validate", str(file)])

    assert result.exit_code == 1
    assert "invalid" in result.output
    assert "Did you mean 'en_US'?" in result.output
    assert "name.format" in result.output


def test_a_file_that_is_not_json_gets_a_clear_error(tmp_path: Path) -> None:
    file = tmp_path / "notes.json"
    file.write_text("name: summer_sale\n")

    result = runner.invoke(templates_app, ["validate", str(file)])

    assert result.exit_code == 2
    assert "is not valid JSON" in result.output
