"""``samtale analytics``: evaluate a chatbot's topic classifier on labelled questions.

Commands::

    samtale analytics eval --chatbot ID --data FILE.csv [--json]
    samtale analytics backfill --chatbot ID
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

from samtale.analytics.backfill import backfill_chatbot
from samtale.analytics.classify import build_topic_embedder
from samtale.analytics.evaluation import TopicEvaluation, evaluate_topics, read_topic_csv
from samtale.analytics.topics import TopicClassifier
from samtale.analytics.worker import AnalyticsWorker
from samtale.chatbots.schema import ChatbotConfig, TopicConfig
from samtale.errors import SamtaleError
from samtale.llm.registry import ProviderRegistry
from samtale.routing.examples import load_chatbot_config
from samtale.settings import get_settings
from samtale.storage.db import create_database

analytics_app = typer.Typer(help="Conversation analytics: topics and scores.", no_args_is_help=True)


@analytics_app.callback()
def analytics_group() -> None:
    """Conversation analytics: topics and scores (a group, so ``eval`` stays a sub-command)."""


@analytics_app.command("eval")
def eval_command(
    chatbot: Annotated[str, typer.Option("--chatbot", help="the chatbot id")],
    data: Annotated[Path, typer.Option("--data", help="CSV with the columns utterance,topic[,language]")],
    as_json: Annotated[bool, typer.Option("--json", help="print a JSON object instead of tables")] = False,
) -> None:
    """Classify every question of --data offline and compare with its topic: accuracy per language."""
    settings = get_settings()

    async def load() -> list[TopicConfig]:
        database = create_database(settings.database_url)
        try:
            config = await load_chatbot_config(db=database, chatbot_id=chatbot)
        finally:
            await database.dispose()
        return list(config.topics)

    try:
        rows = read_topic_csv(data)
        topics = asyncio.run(load())
        classifier = TopicClassifier(topics, embedder=build_topic_embedder(settings))
        report = evaluate_topics(classifier=classifier, rows=rows)
    except SamtaleError as exc:
        Console(stderr=True).print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(code=1) from exc
    if as_json:
        typer.echo(json.dumps(report.as_json(), ensure_ascii=False, indent=2))
        return
    print_report(report, console=Console())


@analytics_app.command("backfill")
def backfill_command(chatbot: Annotated[str, typer.Option("--chatbot", help="the chatbot id")]) -> None:
    """Give every stored turn of the chatbot that has none a topic and a score (turns stored before
    the analytics existed or while they were off)."""
    settings = get_settings()
    embedder = build_topic_embedder(settings)

    async def run() -> int:
        database = create_database(settings.database_url)
        try:
            config = await load_chatbot_config(db=database, chatbot_id=chatbot)
            async with httpx.AsyncClient(timeout=settings.pool_ai_timeout_s) as client:
                providers = ProviderRegistry(settings=settings, http_client=client)

                async def load(_chatbot_id: str) -> ChatbotConfig:
                    return config

                worker = AnalyticsWorker(
                    db=database, settings=settings, load_chatbot=load, provider_factory=providers.provider_for
                )
                return await backfill_chatbot(db=database, worker=worker, chatbot_id=config.id)
        finally:
            await database.dispose()

    try:
        if embedder is not None:
            embedder.embed_sync(["warm up"])  # loads the model before the event loop runs
        handed = asyncio.run(run())
    except SamtaleError as exc:
        Console(stderr=True).print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(code=1) from exc
    typer.echo(f"analysed {handed} stored turns of chatbot '{chatbot}'")


def print_report(report: TopicEvaluation, *, console: Console) -> None:
    """Print ``report`` as Rich tables: accuracy overall and per language, then the confusion matrix."""
    summary = Table(title="Topic evaluation")
    summary.add_column("questions", justify="right")
    summary.add_column("accuracy", justify="right")
    for language in report.by_language:
        summary.add_column(f"accuracy {language}", justify="right")
    summary.add_row(str(report.n), f"{report.accuracy:.1%}", *(f"{value:.1%}" for value in report.by_language.values()))
    console.print(summary)
    names = list(report.confusion)
    matrix = Table(title="Confusion matrix (rows: expected, columns: decided)")
    matrix.add_column("expected")
    for name in names:
        matrix.add_column(name[:10], justify="right")
    for expected in names:
        matrix.add_row(expected, *(str(report.confusion[expected].get(name, 0)) for name in names))
    console.print(matrix)
