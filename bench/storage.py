"""storage: bulk insert of 1,000 messages, loading a 50-message conversation and a shopper's latest 20
of 10,000 conversations, on SQLite and PostgreSQL.

Through samtale's own storage layer: :func:`samtale.storage.db.create_database`, the models and
the statements the code uses — the turn recorder's ``insert(Message)`` executemany in one
transaction for the bulk insert (and, beside it, :meth:`TurnRecorder.write` of 500 whole turns:
1,000 messages with their streams, 12,000 events and metrics rows);
:func:`samtale.conversation.library.open_conversation` (``GET /api/conversations/{id}`` with the
session token: the authorised session row, then its messages by sequence) for the load; and
:func:`samtale.conversation.library.list_conversations` (``GET /api/conversations``, pinned
first, then by last activity) for the latest 20 of a shopper with 10,000 conversations. Each database
is new: a SQLite file in a temporary folder, and a PostgreSQL database created for the run and
dropped after it (``SAMTALE_BENCH_POSTGRES_URL``, default the local server's ``postgres``).

    .venv/bin/python -m bench.storage [--repeats 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import insert
from sqlalchemy.engine import make_url

from bench.common import SEEDS, TARGETS, Settings, percentiles
from samtale.conversation.access import ConversationCaller, ShopperIdentity
from samtale.conversation.library import list_conversations, open_conversation
from samtale.conversation.recorder import TurnRecord, TurnRecorder
from samtale.conversation.turn import TurnMetrics
from samtale.storage.base import new_id, utcnow
from samtale.storage.db import Database, create_database
from samtale.storage.migrate import upgrade_database
from samtale.storage.models import ConversationSession, Message
from samtale.streaming.hub import StreamEvent, hash_token

POSTGRES_URL = os.environ.get("SAMTALE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
CHATBOT = "bench-storage"


def message_rows(session_id: str, count: int, *, start: int = 1) -> list[dict[str, Any]]:
    """``count`` alternating user/assistant message rows of one conversation (the recorder's shape)."""
    now = utcnow()
    return [
        {
            "id": new_id(),
            "chatbot_id": CHATBOT,
            "session_id": session_id,
            "sequence": sequence,
            "role": "user" if sequence % 2 else "assistant",
            "content": f"Message {sequence}: which red wine goes with roast lamb, and what does it cost?",
            "status": "ok",
            "flow_type": "main",
            "streaming_session_id": new_id(),
            "extra": {},
            "created_at": now,
        }
        for sequence in range(start, start + count)
    ]


TOKEN = "bench-session-token"


async def new_session(db: Database) -> str:
    """Insert an empty conversation (its session token is :data:`TOKEN`) and return its id."""
    session_id = new_id()
    async with db.session() as session:
        now = utcnow()
        session.add(
            ConversationSession(
                id=session_id, chatbot_id=CHATBOT, user_id="bench", state={}, created_at=now, updated_at=now,
                token_hash=hash_token(TOKEN),
            )
        )  # fmt: skip
    return session_id


async def shopper_with_conversations(db: Database, count: int, *, user_id: str) -> None:
    """Give ``user_id`` ``count`` conversations (one ``executemany``), a minute apart, 1 in 50 pinned
    and 1 in 10 archived, beside 5 other shoppers' conversations of the same chatbot."""
    now = utcnow()
    rows = [
        {
            "id": new_id(), "chatbot_id": CHATBOT, "user_id": user, "status": "active",
            "title": f"Conversation {n}", "is_archived": n % 10 == 9, "is_pinned": n % 50 == 0, "state": {},
            "message_count": 2, "last_message_at": now - timedelta(minutes=n), "created_at": now, "updated_at": now,
        }
        for user in [user_id, *(f"other-{k}" for k in range(5))]
        for n in range(count if user == user_id else count // 10)
    ]  # fmt: skip
    async with db.session() as session:
        await session.execute(insert(ConversationSession), rows)


def turn_records(count: int) -> list[TurnRecord]:
    """``count`` finished turns as the pipeline hands them to the recorder (24 events each)."""
    records = []
    for index in range(count):
        now = utcnow()
        events = [StreamEvent(id=1, event="start", data={"session_id": "s"}, timestamp=now)]
        events.append(StreamEvent(id=2, event="flow", data={"flow_type": "main"}, timestamp=now))
        events.append(StreamEvent(id=3, event="sources", data={"sources": []}, timestamp=now))
        events += [StreamEvent(id=4 + n, event="token", data={"token": f" token{n}"}, timestamp=now) for n in range(20)]
        events.append(StreamEvent(id=24, event="end", data={"usage": {}}, timestamp=now))
        records.append(
            TurnRecord(
                chatbot_id=CHATBOT,
                user_id=f"bench-{index}",
                session_id=new_id(),
                session_state={},
                streaming_session_id=new_id(),
                token_hash="0" * 64,
                flow_type="main",
                status="completed",
                user_text="Which red wine goes with roast lamb?",
                assistant_text=" ".join(f"token{n}" for n in range(20)),
                events=events,
                context=[],
                metrics=TurnMetrics(flow_type="main", provider="openai", ttft_ms=1.0, total_ms=2.0),
                started_at=now,
            )
        )
    return records


async def timed(
    repeats: int, work: Callable[[], Awaitable[None]], prepare: Callable[[], Awaitable[Any]]
) -> list[float]:
    """Milliseconds of ``work`` ``repeats`` times, each after an untimed ``prepare``."""
    samples = []
    for _ in range(repeats):
        await prepare()
        started = time.perf_counter()
        await work()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def measure(url: str, repeats: int) -> dict[str, Any]:
    """The figures for the (migrated, empty) database at ``url``."""
    db = create_database(url)
    try:
        state: dict[str, Any] = {}

        async def prepare_bulk() -> None:
            state["rows"] = message_rows(await new_session(db), 1000)

        async def bulk() -> None:
            async with db.session() as session:
                await session.execute(insert(Message), state["rows"])

        await timed(2, bulk, prepare_bulk)  # warm the connection and statement caches
        bulk_samples = await timed(repeats, bulk, prepare_bulk)

        recorder = TurnRecorder(db=db)

        async def prepare_turns() -> None:
            state["turns"] = turn_records(500)

        async def record() -> None:
            await recorder.write(state["turns"])

        await timed(1, record, prepare_turns)
        recorder_samples = await timed(max(2, repeats // 4), record, prepare_turns)

        conversation = await new_session(db)
        async with db.session() as session:
            await session.execute(insert(Message), message_rows(conversation, 50))

        caller = ConversationCaller(session_token=TOKEN)

        async def load() -> None:
            detail = await open_conversation(db=db, conversation_id=conversation, caller=caller)
            if len(detail.messages) != 50:
                raise RuntimeError(f"loaded {len(detail.messages)} messages, expected 50")

        async def nothing() -> None:
            return None

        await timed(10, load, nothing)
        load_samples = await timed(repeats * 10, load, nothing)

        await shopper_with_conversations(db, 10_000, user_id="regular")
        identity = ShopperIdentity(chatbot_id=CHATBOT, user_id="regular")

        async def latest() -> None:
            page = await list_conversations(db=db, identity=identity, limit=20)
            if len(page.conversations) != 20 or not page.conversations[0].is_pinned:
                raise RuntimeError("the latest 20 were not listed pinned first")

        await timed(10, latest, nothing)
        latest_samples = await timed(repeats * 10, latest, nothing)
    finally:
        await db.dispose()
    bulk_figures = percentiles(bulk_samples)
    load_figures = percentiles(load_samples, 3)
    latest_figures = percentiles(latest_samples, 3)
    return {
        "bulk_insert_1000_ms": bulk_figures["p50"],
        "load_50_messages_ms": load_figures["p50"],
        "bulk_insert_1000": {**bulk_figures, "min": round(min(bulk_samples), 2), "repeats": len(bulk_samples)},
        "load_50_messages": {**load_figures, "min": round(min(load_samples), 3), "repeats": len(load_samples)},
        "latest_20_of_10000_ms": latest_figures["p50"],
        "latest_20_of_10000": {**latest_figures, "min": round(min(latest_samples), 3), "repeats": len(latest_samples)},
        "recorder_500_turns_ms": {**percentiles(recorder_samples), "repeats": len(recorder_samples)},
    }


def run_sqlite(folder: Path, repeats: int) -> dict[str, Any]:
    """Figures on a new SQLite file in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    url = f"sqlite+aiosqlite:///{folder / 'storage.db'}"
    upgrade_database(url)
    return asyncio.run(measure(url, repeats))


def run_postgresql(repeats: int) -> dict[str, Any]:
    """Figures on a PostgreSQL database created for this run and dropped after it."""
    import psycopg2

    admin = make_url(POSTGRES_URL)
    name = f"samtale_bench_{uuid.uuid4().hex[:10]}"
    connection = psycopg2.connect(
        host=admin.host, port=admin.port or 5432, user=admin.username, password=admin.password, dbname=admin.database
    )
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        url = admin.set(drivername="postgresql+asyncpg", database=name).render_as_string(hide_password=False)
        upgrade_database(url)
        figures = asyncio.run(measure(url, repeats))
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            row = cursor.fetchone()
            figures["server_version"] = row[0] if row else None
        return figures
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.close()


def run(settings: Settings, tmp: Path) -> dict[str, Any]:
    """Both databases; a PostgreSQL that cannot be reached is reported, not fatal."""
    result: dict[str, Any] = {
        "repeats": settings.storage_repeats,
        "sqlite": run_sqlite(tmp / "storage", settings.storage_repeats),
        "seed": {
            "bulk_insert_1000_ms": SEEDS["bulk_insert_1000_ms"],
            "load_50_messages_ms": SEEDS["load_50_messages_ms"],
            "latest_20_of_10000_ms": SEEDS["latest_20_of_10000_ms"],
        },
        "target": {
            "bulk_insert_1000_ms": TARGETS["bulk_insert_1000_ms"],
            "load_50_messages_ms": TARGETS["load_50_messages_ms"],
            "latest_20_of_10000_ms": TARGETS["latest_20_of_10000_ms"],
        },
    }
    try:
        result["postgresql"] = run_postgresql(settings.storage_repeats)
    except Exception as exc:  # report the reason beside SQLite's figures
        result["postgresql"] = {"skipped": f"PostgreSQL at {make_url(POSTGRES_URL).host} unusable: {exc}"}
    return result


def table(result: dict[str, Any]) -> Table:
    """The storage table: medians (p95) per database, seeds and targets beside them."""
    out = Table(title=f"storage — median of {result['repeats']} runs (p95 in brackets)", title_justify="left")
    columns = (
        "database",
        "bulk insert 1,000 msgs ms",
        "recorder: 500 turns ms",
        "load 50 msgs ms",
        "latest 20 of 10k ms",
    )
    for column in columns:
        out.add_column(column, justify="left" if column == "database" else "right")
    for name in ("sqlite", "postgresql"):
        figures = result.get(name, {})
        if "skipped" in figures:
            out.add_row(name, figures["skipped"], "", "", "")
            continue
        bulk, load, recorder = (
            figures["bulk_insert_1000"],
            figures["load_50_messages"],
            figures["recorder_500_turns_ms"],
        )
        out.add_row(
            name,
            f"{bulk['p50']} ({bulk['p95']})",
            f"{recorder['p50']} ({recorder['p95']})",
            f"{load['p50']} ({load['p95']})",
            f"{figures['latest_20_of_10000']['p50']} ({figures['latest_20_of_10000']['p95']})",
        )
    for kind in ("seed", "target"):
        row = result[kind]
        out.add_row(kind, row["bulk_insert_1000_ms"], "", row["load_50_messages_ms"], row["latest_20_of_10000_ms"])
    return out


def main() -> None:
    """Run the storage benchmark alone and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    import tempfile

    settings = Settings.for_run(quick=False, workers=1)
    settings.storage_repeats = args.repeats
    with tempfile.TemporaryDirectory(prefix="samtale-storage-") as folder:
        Console(width=160).print(table(run(settings, Path(folder))))


if __name__ == "__main__":
    main()
