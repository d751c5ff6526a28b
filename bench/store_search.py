"""store_search: full-text search over 1,000,000 messages and 100,000 memories, SQLite and PostgreSQL.

Through samtale's search service (``samtale.conversation.search``), the calls the routes make:

* **shopper**: ``search_conversations`` — a shopper searches their own conversations for a word
  from one of their messages (titles, then messages, snippets marked);
* **staff**: ``search_messages`` — a chatbot-wide search (the admin route) for the queries staff
  type: common words (*order*, *refund*: tens of thousands of matches), rarer ones, two words,
  a phrase, an exclusion; Danish ones (*levering*, *fortrydelsesret*) on the Danish chatbot;
* **memory**: ``search_memories`` — a shopper searches their memories for a word from one of them.

The data (bench/store_search_data.py) is generated from real text and cached: the first run
builds it (1 M messages take a few minutes per database on 2 cores), later runs reuse it.
Each call is timed alone, after 10 untimed warm-up calls per kind; figures are p50/p95/p99 in
milliseconds. Targets (issue 13): search over 1 M messages p50 ≤ 20 ms, p95 ≤ 50 ms; memory
search over 100 k memories ≤ 10 ms. Seed 003: message search 95–120 ms, memory search 95 ms.

    .venv/bin/python -m bench.store_search [--messages 1000000] [--memories 100000] [--queries 200]
        [--databases sqlite,postgresql] [--rebuild] [--output results.json]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from bench.common import percentiles
from bench.store_search_data import CACHE, DANISH, Plan, build, cache_key, load_corpus, plan_file, read_plan, save_plan
from samtale.conversation.search.memories import search_memories
from samtale.conversation.search.messages import search_conversations, search_messages
from samtale.storage.db import Database, create_database
from samtale.storage.fulltext import WORD_RE, analyzer
from samtale.storage.migrate import upgrade_database
from samtale.storage.models import ConversationSession, Memory, Message

POSTGRES_URL = os.environ.get("SAMTALE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
STAFF_QUERIES_EN = [
    "order", "refund", "delivery", "cancel order", "invoice", "shipping address", "Pinot Noir", "tannins",
    "password", '"track my order"', "newsletter", "cherry -oak", "Barolo", "Sicily", "payment methods",
    "damaged item", "membership", "acidity", "customer service", "Riesling",
]  # fmt: skip
STAFF_QUERIES_DA = ["levering", "ordre", "fortrydelsesret", "betaling", "returnere varen", "regne", "produkter"]
TARGETS = {"shopper": "p50 ≤ 20, p95 ≤ 50", "staff": "p50 ≤ 20, p95 ≤ 50", "memory": "≤ 10"}
SEED = {"shopper": "95–120 (seed 003)", "staff": "95–120 (seed 003)", "memory": "95 (seed 003)"}
WARM_UP = 10


def _word(content: str, language: str, rng: random.Random) -> str | None:
    """A searchable word of ``content`` (letters only, 4+ characters, not a stop word)."""
    words = analyzer(language)
    choices = [w for w in WORD_RE.findall(content) if len(w) >= 4 and w.isalpha() and not words.is_stop_word(w.lower())]
    return rng.choice(choices) if choices else None


def _language(chatbot: str) -> str:
    return "da" if chatbot == DANISH else "en"


async def _shopper_queries(db: Database, plan: Plan, count: int, rng: random.Random) -> list[tuple[str, str, str]]:
    """``(chatbot, user, word)``: a word from one of the shopper's own messages."""
    found: list[tuple[str, str, str]] = []
    async with db.engine.connect() as conn:
        while len(found) < count:
            chatbot = rng.choice(list(plan.shoppers))
            user = rng.choice(plan.shoppers[chatbot])
            contents = (
                (
                    await conn.execute(
                        select(Message.content)
                        .join(ConversationSession, ConversationSession.id == Message.session_id)
                        .where(ConversationSession.chatbot_id == chatbot, ConversationSession.user_id == user)
                        .limit(20)
                    )
                )
                .scalars()
                .all()
            )
            word = _word(rng.choice(contents), _language(chatbot), rng) if contents else None
            if word:
                found.append((chatbot, user, word))
    return found


async def _memory_queries(db: Database, plan: Plan, count: int, rng: random.Random) -> list[tuple[str, str, str]]:
    """``(chatbot, user, word)``: a word from the question of one of the shopper's memories."""
    from samtale.conversation.shoppers import shopper_id

    found: list[tuple[str, str, str]] = []
    async with db.engine.connect() as conn:
        while len(found) < count:
            chatbot, user = rng.choice(plan.memory_owners)
            questions = (
                (
                    await conn.execute(
                        select(Memory.question).where(
                            Memory.chatbot_id == chatbot,
                            Memory.shopper_id == shopper_id(chatbot_id=chatbot, user_id=user),
                        )
                    )
                )
                .scalars()
                .all()
            )
            word = _word(rng.choice(questions), _language(chatbot), rng) if questions else None
            if word:
                found.append((chatbot, user, word))
    return found


async def _matches(db: Database, chatbot: str, query: str) -> int:
    """How many of the chatbot's messages the staff query matches (untimed; the size of the ranking problem)."""
    from samtale.conversation.search.query import parse

    async with db.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            config = "danish" if chatbot == DANISH else "english"
            statement = text(
                "SELECT count(*) FROM messages WHERE chatbot_id = :c AND"
                " search_vector @@ websearch_to_tsquery(CAST(:config AS regconfig), :q)"
            )
            return int((await conn.execute(statement, {"c": chatbot, "config": config, "q": query})).scalar_one())
        parsed = parse(query, analyzer=analyzer(_language(chatbot)))
        if parsed.empty:
            return 0
        scope = "c" + chatbot.encode().hex()
        statement = text("SELECT count(*) FROM message_search WHERE message_search MATCH :m")
        match = f'scope : "{scope}" AND body : ({parsed.fts5()})'
        return int((await conn.execute(statement, {"m": match})).scalar_one())


async def _timed(calls: list[Callable[[], Awaitable[int]]]) -> tuple[list[float], list[int]]:
    for call in calls[:WARM_UP]:
        await call()
    samples, sizes = [], []
    for call in calls:
        started = time.perf_counter()
        size = await call()
        samples.append((time.perf_counter() - started) * 1000.0)
        sizes.append(size)
    return samples, sizes


async def measure(url: str, plan: Plan, queries: int) -> dict[str, Any]:
    """The figures of one database."""
    rng = random.Random(7)
    db = create_database(url)
    try:
        shopper = await _shopper_queries(db, plan, queries, rng)
        memory = await _memory_queries(db, plan, queries, rng)
        staff: list[tuple[str, str]] = []
        english = [chatbot for chatbot in plan.shoppers if chatbot != DANISH]
        for n in range(queries):
            danish = n % 5 == 4
            pool = STAFF_QUERIES_DA if danish else STAFF_QUERIES_EN
            staff.append((DANISH if danish else english[n % len(english)], pool[n % len(pool)]))

        def shopper_call(chatbot: str, user: str, word: str) -> Callable[[], Awaitable[int]]:
            async def call() -> int:
                return len(await search_conversations(
                    db=db, chatbot_id=chatbot, language=_language(chatbot), user_id=user, query=word
                ))  # fmt: skip

            return call

        def staff_call(chatbot: str, query: str) -> Callable[[], Awaitable[int]]:
            async def call() -> int:
                return len(await search_messages(db=db, chatbot_id=chatbot, language=_language(chatbot), query=query))

            return call

        def memory_call(chatbot: str, user: str, word: str) -> Callable[[], Awaitable[int]]:
            async def call() -> int:
                return len(await search_memories(
                    db=db, chatbot_id=chatbot, language=_language(chatbot), user_id=user, query=word
                ))  # fmt: skip

            return call

        results: dict[str, Any] = {}
        for kind, calls in (
            ("shopper", [shopper_call(*item) for item in shopper]),
            ("staff", [staff_call(*item) for item in staff]),
            ("memory", [memory_call(*item) for item in memory]),
        ):
            samples, sizes = await _timed(calls)
            results[kind] = {
                **percentiles(samples),
                "max": round(max(samples), 2),
                "queries": len(samples),
                "empty": sizes.count(0),
            }
            if kind == "staff":
                per_query: dict[str, list[float]] = {}
                for (chatbot, query), sample in zip(staff, samples, strict=True):
                    per_query.setdefault(f"{'da' if chatbot == DANISH else 'en'}: {query}", []).append(sample)
                results[kind]["by_query"] = {
                    name: {"p50": percentiles(values)["p50"], "matches": await _matches(db, chatbot, query)}
                    for (chatbot, query), name in {
                        (chatbot, query): f"{'da' if chatbot == DANISH else 'en'}: {query}" for chatbot, query in staff
                    }.items()
                    for values in [per_query[name]]
                }
        async with db.engine.connect() as conn:
            results["rows"] = {
                "messages": (await conn.execute(select(func.count()).select_from(Message))).scalar_one(),
                "memories": (await conn.execute(select(func.count()).select_from(Memory))).scalar_one(),
            }
        return results
    finally:
        await db.dispose()


def sqlite_database(*, messages: int, memories: int, rebuild: bool, console: Console) -> tuple[str, Plan, float | None]:
    """The cached SQLite file (built when missing or ``rebuild``); returns its URL, the plan and the build time."""
    key = cache_key(messages=messages, memories=memories)
    path = CACHE / f"store-search-{key}.db"
    plan_path = plan_file(CACHE, key)
    if path.exists() and plan_path.exists() and not rebuild:
        return f"sqlite+aiosqlite:///{path}", read_plan(plan_path), None
    CACHE.mkdir(parents=True, exist_ok=True)
    building = path.with_suffix(".building.db")
    for leftover in (building, Path(f"{building}-wal"), Path(f"{building}-shm")):
        leftover.unlink(missing_ok=True)
    url = f"sqlite+aiosqlite:///{building}"
    console.print(f"building the SQLite store ({messages:,} messages, {memories:,} memories) in {building}")
    upgrade_database(url)
    plan, seconds = build(url, messages=messages, memories=memories, corpus=load_corpus())
    building.rename(path)
    save_plan(plan_path, plan)
    return f"sqlite+aiosqlite:///{path}", plan, seconds


def postgresql_database(
    *, messages: int, memories: int, rebuild: bool, console: Console
) -> tuple[str, Plan, float | None]:
    """The cached PostgreSQL database ``samtale_bench_search_<key>`` (built when missing or ``rebuild``)."""
    import psycopg2

    key = cache_key(messages=messages, memories=memories)
    admin = make_url(POSTGRES_URL)
    name = f"samtale_bench_search_{key}"
    plan_path = plan_file(CACHE, key)
    connection = psycopg2.connect(
        host=admin.host, port=admin.port or 5432, user=admin.username, password=admin.password, dbname=admin.database
    )
    connection.autocommit = True
    url = admin.set(drivername="postgresql+asyncpg", database=name).render_as_string(hide_password=False)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            exists = cursor.fetchone() is not None
            if exists and plan_path.exists() and not rebuild:
                return url, read_plan(plan_path), None
            building = f"{name}_building"
            cursor.execute(f'DROP DATABASE IF EXISTS "{building}" WITH (FORCE)')
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cursor.execute(f'CREATE DATABASE "{building}"')
        building_url = admin.set(drivername="postgresql+asyncpg", database=building).render_as_string(
            hide_password=False
        )
        console.print(f"building the PostgreSQL store ({messages:,} messages, {memories:,} memories) in {building}")
        upgrade_database(building_url)
        plan, seconds = build(building_url, messages=messages, memories=memories, corpus=load_corpus())
        target = admin.set(database=building)
        analyse = psycopg2.connect(
            host=target.host, port=target.port or 5432, user=target.username, password=target.password, dbname=building
        )
        analyse.autocommit = True
        try:
            with analyse.cursor() as inner:
                inner.execute("VACUUM ANALYZE")
        finally:
            analyse.close()
        with connection.cursor() as cursor:
            cursor.execute(f'ALTER DATABASE "{building}" RENAME TO "{name}"')
        CACHE.mkdir(parents=True, exist_ok=True)
        save_plan(plan_path, plan)
        return url, plan, seconds
    finally:
        connection.close()


def table(name: str, figures: dict[str, Any]) -> Table:
    """One database's figures beside the targets and the seed."""
    rows = figures.get("rows", {})
    out = Table(
        title=f"store_search — {name}: {rows.get('messages', 0):,} messages, {rows.get('memories', 0):,} memories (ms)",
        title_justify="left",
    )
    for column in ("search", "queries", "p50", "p95", "p99", "max", "target", "seed"):
        out.add_column(column, justify="left" if column in ("search", "target", "seed") else "right")
    for kind in ("shopper", "staff", "memory"):
        item = figures[kind]
        out.add_row(
            kind, str(item["queries"]), str(item["p50"]), str(item["p95"]), str(item["p99"]), str(item["max"]),
            TARGETS[kind], SEED[kind],
        )  # fmt: skip
    return out


def by_query_table(name: str, figures: dict[str, Any]) -> Table:
    """The staff queries one by one: how many messages each matches and its median time."""
    out = Table(title=f"staff queries — {name}", title_justify="left")
    for column in ("query", "matches", "p50 ms"):
        out.add_column(column, justify="left" if column == "query" else "right")
    for query, item in figures["staff"]["by_query"].items():
        out.add_row(query, f"{item['matches']:,}", str(item["p50"]))
    return out


def main() -> None:
    """Build (or reuse) the stores, measure, print the tables and optionally write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--memories", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200, help="timed queries per kind")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    console = Console(width=160)
    report: dict[str, Any] = {"messages": args.messages, "memories": args.memories, "queries": args.queries}
    for name in [item.strip() for item in args.databases.split(",") if item.strip()]:
        try:
            make = sqlite_database if name == "sqlite" else postgresql_database
            url, plan, built = make(
                messages=args.messages, memories=args.memories, rebuild=args.rebuild, console=console
            )
            figures = asyncio.run(measure(url, plan, args.queries))
            figures["built_in_s"] = None if built is None else round(built, 1)
        except Exception as exc:
            if name == "sqlite":
                raise
            report[name] = {"skipped": f"{type(exc).__name__}: {exc}"}
            console.print(f"[yellow]{name} skipped[/yellow]: {exc}")
            continue
        report[name] = figures
        console.print(table(name, figures))
        console.print(by_query_table(name, figures))
    if args.output:
        args.output.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    console.print_json(orjson.dumps({key: value for key, value in report.items()}).decode())


if __name__ == "__main__":
    main()
