"""``samtale routing``: import routing examples and evaluate a chatbot's router.

Commands::

    samtale routing examples import --chatbot ID FILE.csv
    samtale routing eval --chatbot ID --data FILE.csv [--json]
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.table import Table

from samtale.errors import SamtaleError
from samtale.knowledge.embedders import build_embedder
from samtale.routing.evaluation import EvaluationReport, evaluate_router
from samtale.routing.examples import import_examples, load_chatbot_config, read_labelled_csv
from samtale.routing.llm import build_classifiers
from samtale.routing.router import Router
from samtale.settings import get_settings
from samtale.storage.db import create_database

routing_app = typer.Typer(help="Flow routing: examples and evaluation.", no_args_is_help=True)
examples_app = typer.Typer(help="Routing example utterances of a chatbot.", no_args_is_help=True)
routing_app.add_typer(examples_app, name="examples")

ChatbotOption = Annotated[str, typer.Option("--chatbot", help="the chatbot id")]


def _fail(exc: SamtaleError) -> typer.Exit:
    Console(stderr=True).print(f"[red]error:[/red] {exc.message}")
    return typer.Exit(code=1)


@examples_app.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="CSV with the columns utterance,flow (flow = route key or main)")],
    chatbot: ChatbotOption,
) -> None:
    """Merge the utterances of FILE into the chatbot's routing examples."""

    settings = get_settings()  # reads the environment and .env once, before the event loop runs

    async def run() -> int:
        database = create_database(settings.database_url)
        try:
            return await import_examples(db=database, chatbot_id=chatbot, path=file)
        finally:
            await database.dispose()

    try:
        added = asyncio.run(run())
    except SamtaleError as exc:
        raise _fail(exc) from exc
    typer.echo(f"imported {added} new routing examples into chatbot '{chatbot}'")


@routing_app.command("eval")
def eval_command(
    chatbot: ChatbotOption,
    data: Annotated[Path, typer.Option("--data", help="CSV with the columns utterance,flow")],
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON object instead of tables")] = False,
) -> None:
    """Route every utterance of --data and compare with its flow: accuracy, per-flow figures, latency."""
    settings = get_settings()

    # Files (the questions, the embedding model) are read here, before the event loop runs.
    try:
        rows = read_labelled_csv(data)
        embedder = build_embedder(settings)  # the server's embedder: same runtime, threads, batching
    except SamtaleError as exc:
        raise _fail(exc) from exc

    async def run() -> EvaluationReport:
        database = create_database(settings.database_url)
        try:
            config = await load_chatbot_config(db=database, chatbot_id=chatbot)
        finally:
            await database.dispose()
        async with httpx.AsyncClient(timeout=settings.pool_ai_timeout_s) as client:
            router = await Router.build(
                config=config,
                embedder=embedder,
                classifiers=build_classifiers(config, settings=settings, http_client=client),
                cache_dir=settings.data_dir / "routing",
            )
            await router.decide(message="warm-up")
            return await evaluate_router(router=router, rows=rows)

    try:
        report = asyncio.run(run())
    except SamtaleError as exc:
        raise _fail(exc) from exc
    if as_json:
        typer.echo(json.dumps(report.as_json(), ensure_ascii=False, indent=2))
        return
    print_report(report, console=Console())


def print_report(report: EvaluationReport, *, console: Console) -> None:
    """Print ``report`` as Rich tables: summary, per-flow precision/recall, confusion matrix."""
    summary = Table(title="Routing evaluation")
    summary.add_column("utterances", justify="right")
    summary.add_column("accuracy", justify="right")
    summary.add_column("latency p50 ms", justify="right")
    summary.add_column("latency p95 ms", justify="right")
    summary.add_row(
        str(report.total), f"{report.accuracy:.1%}", f"{report.latency_p50_ms:.1f}", f"{report.latency_p95_ms:.1f}"
    )
    console.print(summary)
    flows = Table(title="Per flow")
    for name in ("route key", "precision", "recall", "support"):
        flows.add_column(name, justify="left" if name == "route key" else "right")
    for key, figures in report.per_flow.items():
        flows.add_row(key, f"{figures.precision:.1%}", f"{figures.recall:.1%}", str(figures.support))
    console.print(flows)
    keys = list(report.confusion)
    matrix = Table(title="Confusion matrix (rows: expected, columns: decided)")
    matrix.add_column("expected")
    for key in keys:
        matrix.add_column(key, justify="right")
    for expected in keys:
        matrix.add_row(expected, *(str(report.confusion[expected][key]) for key in keys))
    console.print(matrix)
