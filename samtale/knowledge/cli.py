"""``samtale kb``: ingest files into a chatbot's knowledge index, list indexes, evaluate retrieval.

The database is ``SAMTALE_DATABASE_URL`` (:func:`samtale.settings.get_settings`); the embedder is
the configured one (the local all-MiniLM-L6-v2 by default).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from samtale.errors import SamtaleError
from samtale.knowledge.embedders import Embedder, build_embedder, export_onnx, onnx_export_dir
from samtale.knowledge.evaluation import EvalReport, FilterSource, evaluate, load_questions
from samtale.knowledge.ingest import IngestProgress, IngestReport, ingest_paths
from samtale.knowledge.parsers import CsvOptions, JsonOptions
from samtale.knowledge.repository import IndexSummary, list_indexes
from samtale.knowledge.retrieval import Retriever, fusion_weights
from samtale.settings import get_settings
from samtale.storage.db import Database, create_database

kb_app = typer.Typer(help="Knowledge bases: ingest files, list indexes, evaluate retrieval.", no_args_is_help=True)
embedder_app = typer.Typer(
    help="The local embedding model: export it to ONNX, show the runtime in use.", no_args_is_help=True
)
console = Console()
T = TypeVar("T")


def _embedder() -> Embedder:
    return build_embedder(get_settings())


def _columns(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return tuple(name.strip() for name in value.split(",") if name.strip())


def _before_loop(load: Callable[[], T]) -> T:
    """Run blocking preparation (reading files, loading the model) before the event loop starts,
    with the same error handling as :func:`_run`."""
    try:
        return load()
    except SamtaleError as exc:
        console.print(f"[red]error[/red] {exc.message}")
        raise typer.Exit(2) from None


def _run(work: Callable[[Database], Awaitable[T]]) -> T:
    settings = get_settings()  # reads the environment and .env once, before the event loop runs

    async def main() -> T:
        db = create_database(settings.database_url)
        try:
            return await work(db)
        finally:
            await db.dispose()

    try:
        return asyncio.run(main())
    except SamtaleError as exc:
        console.print(f"[red]error[/red] {exc.message}")
        raise typer.Exit(2) from None


@kb_app.command("ingest")
def ingest_command(
    paths: Annotated[
        list[Path],
        typer.Argument(help="CSV (incl. Shopify product CSV), Markdown, text, HTML, PDF, JSON Lines or JSON files"),
    ],
    chatbot: Annotated[str, typer.Option("--chatbot", help="the chatbot that owns the index")],
    index: Annotated[str, typer.Option("--index", help="the knowledge index name, e.g. products")],
    id_column: Annotated[
        str | None, typer.Option("--id-column", help="CSV column or JSON field with each record's id")
    ] = None,
    text_field: Annotated[
        str | None, typer.Option("--text-field", help="JSON Lines/JSON field with each record's text")
    ] = None,
    text_columns: Annotated[
        str | None, typer.Option("--text-columns", help="comma-separated CSV columns to embed (default: all)")
    ] = None,
    metadata_only_columns: Annotated[
        str | None, typer.Option("--metadata-only-columns", help="comma-separated CSV columns kept only as metadata")
    ] = None,
    prune: Annotated[bool, typer.Option("--prune", help="delete documents no longer in these files")] = False,
) -> None:
    """Chunk, embed and store files in a knowledge index; unchanged documents are skipped."""
    options = CsvOptions(
        text_columns=_columns(text_columns), metadata_only_columns=_columns(metadata_only_columns) or ()
    )

    embedder = _before_loop(_embedder)  # loads the model's files before the event loop runs

    async def work(db: Database) -> IngestReport:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task("embedding", total=None)

            def progress(update: IngestProgress) -> None:
                bar.update(task, description=update.phase, completed=update.done, total=update.total or None)

            return await ingest_paths(
                db=db,
                embedder=embedder,
                chatbot_id=chatbot,
                index_name=index,
                paths=paths,
                id_column=id_column,
                csv_options=options,
                json_options=JsonOptions(text_field=text_field),
                prune=prune,
                max_file_bytes=get_settings().knowledge_max_file_bytes,
                progress=progress,
            )

    report = _run(work)
    for error in report.errors:
        console.print(f"[red]not ingested[/red] {error.message}", highlight=False)
    console.print(
        f"{chatbot}/{index}: {report.documents_added} documents added, {report.documents_updated} updated, "
        f"{report.documents_unchanged} unchanged, {report.documents_failed} failed, "
        f"{report.documents_removed} removed; {report.chunks_written} chunks written "
        f"({report.chunks_embedded} embedded) in {report.seconds:.1f} s, {report.chunks_per_s:.1f} chunks/s"
    )
    if report.files_failed or report.documents_failed:
        raise typer.Exit(1)


@kb_app.command("list")
def list_command(chatbot: Annotated[str, typer.Option("--chatbot", help="chatbot id")]) -> None:
    """The chatbot's knowledge indexes with their document and chunk counts."""

    async def work(db: Database) -> list[IndexSummary]:
        return await list_indexes(db, chatbot_id=chatbot)

    table = Table("index", "documents", "chunks", "embedding model", "dimension", "version")
    for summary in _run(work):
        table.add_row(
            summary.name,
            str(summary.documents),
            str(summary.chunks),
            summary.embedding_model,
            str(summary.dimension),
            str(summary.version),
        )
    console.print(table)


@kb_app.command("eval")
def eval_command(
    chatbot: Annotated[str, typer.Option("--chatbot", help="chatbot id")],
    index: Annotated[str, typer.Option("--index", help="knowledge index name")],
    questions: Annotated[Path, typer.Option("--questions", help="CSV with question,expected_id")],
    as_json: Annotated[bool, typer.Option("--json", help="print hit@1, hit@5 and mrr as JSON")] = False,
    fusion: Annotated[
        str | None,
        typer.Option(
            "--fusion",
            help='fusion weights to try, as JSON, e.g. \'{"method": "rrf", "lexical": 2}\' '
            "(default: the index's configured weights)",
        ),
    ] = None,
    filters: Annotated[
        str,
        typer.Option(
            "--filters",
            help="column: the file's filters column; rules: read them from each question as the product "
            "flow does; off: none",
        ),
    ] = "column",
) -> None:
    """Ask each question of the index and print hit@1, hit@5 and MRR by document id, per kind and split.

    The question file's optional ``kind``, ``split`` and ``filters`` columns are described in
    :mod:`samtale.knowledge.evaluation`.
    """

    if filters not in ("column", "rules", "off"):
        console.print("[red]error[/red] --filters must be column, rules or off")
        raise typer.Exit(2)
    filter_source: FilterSource = filters  # type: ignore[assignment]
    settings = get_settings()
    try:
        index_weights = {name: fusion_weights(values) for name, values in settings.knowledge_index_weights.items()}
        if fusion is not None:
            loaded = json.loads(fusion)
            if not isinstance(loaded, dict):
                raise ValueError("--fusion must be a JSON object")
            index_weights[index] = fusion_weights(loaded)
    except ValueError as exc:  # json.JSONDecodeError is a ValueError
        console.print(f"[red]error[/red] fusion weights: {exc}")
        raise typer.Exit(2) from None

    # The question file and the embedding model are read before the event loop runs.
    items = _before_loop(lambda: load_questions(questions))
    embedder = _before_loop(_embedder)

    async def work(db: Database) -> EvalReport:
        retriever = Retriever(db=db, embedder=embedder, index_weights=index_weights)
        return await evaluate(
            retriever=retriever, chatbot_id=chatbot, index_name=index, questions=items, filter_source=filter_source
        )

    report = _run(work)
    if as_json:
        typer.echo(json.dumps(report.as_json()))
        return
    table = Table("set", "questions", "hit@1", "hit@5", "MRR", "median ms")
    table.add_row(
        "all",
        str(report.questions),
        f"{report.hit_at_1:.3f}",
        f"{report.hit_at_5:.3f}",
        f"{report.mrr:.3f}",
        f"{report.median_ms:.1f}",
    )
    for prefix, groups in (("kind", report.by_kind), ("split", report.by_split)):
        for label, scores in groups.items():
            table.add_row(
                f"{prefix} {label}",
                str(scores.questions),
                f"{scores.hit_at_1:.3f}",
                f"{scores.hit_at_5:.3f}",
                f"{scores.mrr:.3f}",
                "",
            )
    console.print(table)
    for miss in report.misses[:10]:
        console.print(f"[yellow]not in top 5[/yellow] {miss.expected_id}: {miss.question}")


@embedder_app.command("export-onnx")
def export_onnx_command(
    force: Annotated[bool, typer.Option("--force", help="export again even when a current export exists")] = False,
) -> None:
    """Export the packaged all-MiniLM-L6-v2 to ONNX under the models directory (checked against torch);
    does nothing when a current export is there."""
    settings = get_settings()
    target_dir = onnx_export_dir(settings.data_dir, models_dir=settings.models_dir)
    started = time.perf_counter()
    try:
        model_file = export_onnx(target_dir=target_dir, force=force)
    except SamtaleError as exc:
        console.print(f"[red]error[/red] {exc.message}")
        raise typer.Exit(2) from None
    console.print(f"{model_file} ready in {time.perf_counter() - started:.1f} s")
    if settings.embedding_runtime == "torch":
        console.print("SAMTALE_EMBEDDING_RUNTIME=torch: set it to auto or onnx to use the export")


@embedder_app.command("info")
def info_command() -> None:
    """The configured embedder: provider, model, runtime and dimension."""
    embedder = _embedder()
    runtime = getattr(embedder, "runtime", "remote")
    console.print(f"{embedder.name} ({embedder.dimension} dimensions), runtime {runtime}")
