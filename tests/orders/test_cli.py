"""``samtale orders eval-extraction`` prints the exact-match rate of the rule extractor."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from samtale.orders.cli import orders_app

DEV = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "intents" / "bitext-order-numbers-dev.csv"


def test_eval_extraction_prints_the_rate_on_the_dev_file() -> None:
    result = CliRunner().invoke(orders_app, ["eval-extraction", "--data", str(DEV)])

    assert result.exit_code == 0
    assert "exact match:" in result.output and "/180)" in result.output


def test_eval_extraction_json_lists_the_misses(tmp_path: Path) -> None:
    data = tmp_path / "rows.csv"
    data.write_text("utterance,order_number\nwhere is order 1001,1001\ncheck bill #12588,12588\n", encoding="utf-8")

    result = CliRunner().invoke(orders_app, ["eval-extraction", "--data", str(data), "--json"])

    report = json.loads(result.output)
    assert report["exact_match"] == 0.5
    assert report["errors"] == [{"utterance": "check bill #12588", "expected": "12588", "got": None}]
