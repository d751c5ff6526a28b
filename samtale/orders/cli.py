"""``samtale orders …``: order-flow tools for operators (mounted by the main CLI as ``orders``)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Annotated

import typer

from samtale.orders.extraction import evaluate_extraction

orders_app = typer.Typer(help="Order tracking tools.", no_args_is_help=True)


@orders_app.callback()
def orders() -> None:
    """Order tracking tools: evaluate the order-number extractor."""


def read_labelled_rows(path: Path) -> list[tuple[str, str]]:
    """``(utterance, order_number)`` rows of a CSV with those two columns (empty = no order number).

    Raises:
        typer.BadParameter: the file lacks either column.
    """
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"utterance", "order_number"} <= set(reader.fieldnames):
            raise typer.BadParameter(f"{path} needs the columns utterance,order_number")
        return [(row["utterance"], row["order_number"] or "") for row in reader]


@orders_app.command("eval-extraction")
def eval_extraction(
    data: Annotated[Path, typer.Option("--data", exists=True, dir_okay=False, help="CSV: utterance,order_number")],
    as_json: Annotated[bool, typer.Option("--json", help='Print {"exact_match": …, "errors": […]}')] = False,
) -> None:
    """Run the rule extractor over labelled utterances and print the exact-match rate."""
    report = evaluate_extraction(read_labelled_rows(data))
    if as_json:
        typer.echo(json.dumps({"exact_match": report.exact_match, "errors": report.errors}, ensure_ascii=False))
        return
    typer.echo(f"exact match: {report.exact_match:.2%} ({report.correct}/{report.total})")
    for error in report.errors[:20]:
        typer.echo(f"  expected {error['expected']!r}, got {error['got']!r}: {error['utterance']}")
