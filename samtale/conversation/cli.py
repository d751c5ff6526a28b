"""``samtale conversations …``: bulk export and import of stored conversations (mounted by the main CLI)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from samtale.conversation.transfer import (
    DEFAULT_BATCH,
    ExportSummary,
    ImportSummary,
    export_conversations,
    import_conversations,
    parse_records,
)
from samtale.errors import SamtaleError
from samtale.settings import get_settings
from samtale.storage.db import create_database

conversations_app = typer.Typer(help="Export and import stored conversations (JSON Lines).", no_args_is_help=True)
console = Console(stderr=True)


@conversations_app.callback()
def conversations() -> None:
    """Export a chatbot's conversations to JSON Lines, or import such a file (idempotent)."""


def _fail(exc: SamtaleError) -> typer.Exit:
    console.print(f"[red]error:[/red] {exc.message}")
    return typer.Exit(1)


@conversations_app.command("export")
def export(
    chatbot: Annotated[str, typer.Option("--chatbot", help="the chatbot whose conversations to export")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", dir_okay=False, help="write here instead of standard output")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=10_000, help="conversations per query")] = DEFAULT_BATCH,
) -> None:
    """Write every conversation of a chatbot, with its messages, as one JSON line each.

    Soft-deleted conversations are left out. The progress line goes to standard error, so
    ``samtale conversations export --chatbot shop > shop.jsonl`` gives a clean file.
    """
    settings = get_settings()
    handle = output.open("w", encoding="utf-8") if output else sys.stdout

    # The progress bar is drawn by Rich's refresh thread; the loop only updates its count.
    bar = Progress(TextColumn("exporting {task.completed} conversations"), console=console)
    task = bar.add_task("export", total=None)

    async def write(text: str) -> None:
        await asyncio.to_thread(handle.write, text)

    async def work() -> ExportSummary:
        db = create_database(settings.database_url)
        try:
            return await export_conversations(
                db=db,
                chatbot_id=chatbot,
                write=write,
                batch_size=batch_size,
                progress=lambda done: bar.update(task, completed=done),
            )
        finally:
            await db.dispose()

    try:
        with bar:
            summary = asyncio.run(work())
    except SamtaleError as exc:
        raise _fail(exc) from None
    finally:
        if output:
            handle.close()
        else:
            handle.flush()
    console.print(f"exported {summary.conversations} conversations, {summary.messages} messages")


@conversations_app.command("import")
def import_(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="a file written by `conversations export`")],
    batch_size: Annotated[int, typer.Option(min=1, max=10_000, help="conversations per transaction")] = DEFAULT_BATCH,
) -> None:
    """Store the conversations of an export file; ids already stored are skipped, so a re-run is safe.

    The chatbots it names must exist (``samtale chatbots import`` first). Every line is checked
    before anything is written; a bad line is reported with its number.
    """
    settings = get_settings()
    try:
        with path.open(encoding="utf-8") as lines:
            records = parse_records(lines)
    except SamtaleError as exc:
        raise _fail(exc) from None

    columns = (TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    bar = Progress(*columns, console=console)
    task = bar.add_task("import", total=len(records))

    async def work() -> ImportSummary:
        db = create_database(settings.database_url)
        try:
            return await import_conversations(
                db=db,
                records=records,
                batch_size=batch_size,
                progress=lambda done: bar.update(task, completed=done),
            )
        finally:
            await db.dispose()

    try:
        with bar:
            summary = asyncio.run(work())
    except SamtaleError as exc:
        raise _fail(exc) from None
    console.print(
        f"imported {summary.conversations_added} conversations ({summary.conversations_skipped} already stored), "
        f"{summary.messages_added} messages ({summary.messages_skipped} already stored)"
    )
