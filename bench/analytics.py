"""Analytics speed (issue 15): topics classified per second offline, and the aggregates over many turns.

1. **Classification**: the shipped ``shop-topics`` chatbot's offline classifier (as the analytics
   worker builds it) classifies the development questions (``tests/analytics/data/topics-dev.csv``,
   repeated to ``--questions``) in the worker's batches of 500, on one core (BLAS and OpenMP
   threads pinned to 1), with the embedder off (``none``) and on (``multilingual``). Fitting is
   timed apart. Target: ≥ 500 turns/s.
2. **The worker** keeping up: :meth:`AnalyticsWorker.process` on a backlog of ``--questions``
   turns in batches of 500 (topic, score and the rows written to a scratch SQLite database),
   with ``analytics_embedder=multilingual``: behind by more than 100 turns, the worker
   classifies without the embedder. Target: ≥ 500 turns/s.
3. **Aggregates** (PostgreSQL, ``SAMTALE_BENCH_POSTGRES_URL``, default
   ``postgresql://postgres@127.0.0.1:5432/postgres``): a scratch database is migrated and filled
   with ``--turns`` ``conversation_analytics`` rows over 30 days (one conversation per 5 turns,
   ``INSERT … SELECT generate_series``), then :func:`samtale.analytics.aggregates.chatbot_analytics`
   for the whole 30 days is timed ``--repeats`` times (median, best). Target: ≤ 200 ms for
   1,000,000 turns. Skipped, and said so, when the server cannot be reached.

Writes ``bench/results/analytics.json``.

    .venv/bin/python -m bench.analytics [--questions 5000] [--turns 1000000] [--skip-embedder] [--skip-postgres]
"""

from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")

import argparse  # noqa: E402
import asyncio  # noqa: E402
import csv  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import yaml  # noqa: E402

from samtale.analytics.aggregates import chatbot_analytics, window  # noqa: E402
from samtale.analytics.embedding import MultilingualEmbedder  # noqa: E402
from samtale.analytics.topics import TopicClassifier  # noqa: E402
from samtale.chatbots.schema import ChatbotConfig  # noqa: E402
from samtale.storage.db import create_database  # noqa: E402
from samtale.storage.migrate import upgrade_database  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEV = ROOT / "tests" / "analytics" / "data" / "topics-dev.csv"
RESULTS = ROOT / "bench" / "results" / "analytics.json"
BATCH = 500
SCRATCH_DB = "samtale_bench_analytics"


def classification(*, questions: int, embedder: bool) -> dict[str, Any]:
    """Fit the shop-topics classifier and classify ``questions`` questions in batches of 500."""
    config = ChatbotConfig.model_validate(yaml.safe_load((ROOT / "examples" / "shop-topics.yaml").read_text()))
    with DEV.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    texts = [rows[i % len(rows)]["utterance"] for i in range(questions)]
    started = time.perf_counter()
    classifier = TopicClassifier(config.topics, embedder=MultilingualEmbedder(threads=1) if embedder else None)
    fit_s = time.perf_counter() - started
    classifier.classify_many(texts[:10])  # warm
    started = time.perf_counter()
    for offset in range(0, len(texts), BATCH):
        classifier.classify_many(texts[offset : offset + BATCH])
    elapsed = time.perf_counter() - started
    return {
        "embedder": "multilingual" if embedder else "none",
        "questions": questions,
        "fit_s": round(fit_s, 2),
        "seconds": round(elapsed, 3),
        "turns_per_s": round(questions / elapsed, 1),
    }


async def worker(*, questions: int, folder: Path) -> dict[str, Any]:
    """Time the analytics worker's batches over a backlog of ``questions`` stored turns."""
    from sqlalchemy import insert

    from samtale.analytics.worker import AnalyticsWorker, TurnFacts
    from samtale.settings import Settings
    from samtale.storage.models import ConversationSession

    config = ChatbotConfig.model_validate(yaml.safe_load((ROOT / "examples" / "shop-topics.yaml").read_text()))
    url = f"sqlite+aiosqlite:///{folder / 'worker.db'}"
    await asyncio.to_thread(upgrade_database, url)
    settings = Settings(_env_file=None, database_url=url, analytics_embedder="multilingual")  # type: ignore[call-arg]
    database = create_database(url)
    with DEV.open(encoding="utf-8") as handle:
        texts = [row["utterance"] for row in csv.DictReader(handle)]
    now = datetime.now(UTC)
    async with database.engine.begin() as conn:
        await conn.execute(
            insert(ConversationSession),
            [{"id": f"s{i}", "chatbot_id": config.id, "user_id": f"u{i}", "state": {}} for i in range(questions)],
        )

    async def load(_chatbot_id: str) -> ChatbotConfig:
        return config

    def no_provider(*_args: Any) -> Any:
        raise RuntimeError("the offline worker asks no model")

    analytics = AnalyticsWorker(db=database, settings=settings, load_chatbot=load, provider_factory=no_provider)
    facts = [
        TurnFacts(
            chatbot_id=config.id, session_id=f"s{i}", streaming_session_id=f"t{i}", user_id=f"u{i}",
            question=texts[i % len(texts)], answer="Delivery takes 2-3 days.", language="en", status="ok",
            error_category=None, flow_type="main", route_key="main", speculative_hit=None, ttft_ms=12.0,
            best_score=0.6, sources=2, order_shown=False, started_at=now,
        )
        for i in range(questions)
    ]  # fmt: skip
    await analytics.process(facts[:5])  # fits the classifier (and loads the embedder)
    started = time.perf_counter()
    for offset in range(5, questions, BATCH):
        await analytics.process(facts[offset : offset + BATCH])  # a full batch: the worker is behind
    elapsed = time.perf_counter() - started
    await database.dispose()
    return {"turns": questions - 5, "seconds": round(elapsed, 2), "turns_per_s": round((questions - 5) / elapsed, 1)}


FILL = """
INSERT INTO conversation_sessions (id, chatbot_id, user_id, status, is_archived, is_pinned, state, message_count,
                                   language, created_at, updated_at, last_message_at)
SELECT 's' || g, 'bench', 'u' || (g % 20000), 'active', false, false, '{}'::jsonb, 10, 'en',
       :start + (g * interval '1 second' * :spread), :start, :start
FROM generate_series(0, :sessions - 1) AS g;
INSERT INTO conversation_analytics (chatbot_id, session_id, message_id, streaming_session_id, user_id, question,
    language, topic, topic_confidence, topic_source, score, score_source, best_score, sources, answered, route_key,
    speculative_hit, ttft_ms, status, error_category, repeated, asked_for_person, created_at)
SELECT 'bench', 's' || (g / 5), NULL, 't' || g, 'u' || ((g / 5) % 20000),
       (ARRAY['where is my order', 'hvad koster fragten', 'can I return this', 'do you have it in blue'])[1 + g % 4],
       'en', (ARRAY['order_status', 'delivery', 'returns_refunds', 'product', 'payment', 'other'])[1 + g % 6],
       0.8, 'examples', 1 + g % 5, 'heuristic', CASE WHEN g % 7 = 0 THEN 0.2 ELSE 0.6 END, 2, g % 11 <> 0,
       (ARRAY['main', 'order', 'shipping'])[1 + g % 3], CASE WHEN g % 3 = 0 THEN g % 2 = 0 END,
       5 + (g % 300), CASE WHEN g % 97 = 0 THEN 'error' ELSE 'ok' END, CASE WHEN g % 97 = 0 THEN 'llm' END,
       false, false, :start + ((g / 5) * interval '1 second' * :spread) + (g % 5) * interval '1 second'
FROM generate_series(0, :turns - 1) AS g;
ANALYZE conversation_sessions;
ANALYZE conversation_analytics;
"""


async def aggregates(*, admin_url: str, turns: int, repeats: int) -> dict[str, Any]:
    """Fill a scratch PostgreSQL database with ``turns`` turns over 30 days and time the figures."""
    import asyncpg

    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {SCRATCH_DB}")
        await admin.execute(f"CREATE DATABASE {SCRATCH_DB}")
    finally:
        await admin.close()
    base = admin_url.rsplit("/", 1)[0]
    url = f"{base.replace('postgresql://', 'postgresql+asyncpg://')}/{SCRATCH_DB}"
    await asyncio.to_thread(upgrade_database, url)
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = end - timedelta(days=30)
    sessions = turns // 5
    spread = (30 * 86400 - 10) / max(1, sessions)
    conn = await asyncpg.connect(f"{base}/{SCRATCH_DB}")
    filled = time.perf_counter()
    try:
        for statement in [s.strip() for s in FILL.split(";") if s.strip()]:
            sql = (
                statement.replace(":start", "$1::timestamptz")
                .replace(":spread", str(spread))
                .replace(":sessions", str(sessions))
                .replace(":turns", str(turns))
            )
            await conn.execute(sql, start) if "$1" in sql else await conn.execute(sql)
    finally:
        await conn.close()
    fill_s = time.perf_counter() - filled
    database = create_database(url)
    timings: list[float] = []
    try:
        span = window(since=(start + timedelta(days=1)).date(), until=(end - timedelta(days=1)).date(), tz="UTC")
        report = await chatbot_analytics(db=database, chatbot_id="bench", span=span)  # warm the caches
        for _ in range(repeats):
            began = time.perf_counter()
            report = await chatbot_analytics(db=database, chatbot_id="bench", span=span)
            timings.append((time.perf_counter() - began) * 1000)
    finally:
        await database.dispose()
    return {
        "turns": turns,
        "fill_s": round(fill_s, 1),
        "window_days": (span.until - span.since).days + 1,
        "turns_in_window": report.messages,
        "median_ms": round(statistics.median(timings), 1),
        "best_ms": round(min(timings), 1),
    }


def main() -> None:
    """Run the benchmarks, print the figures, write ``bench/results/analytics.json``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=5000)
    parser.add_argument("--turns", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-embedder", action="store_true")
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    results: dict[str, Any] = {"classification": [classification(questions=args.questions, embedder=False)]}
    if not args.skip_embedder:
        results["classification"].append(classification(questions=min(args.questions, 1000), embedder=True))
    for row in results["classification"]:
        print(
            f"classify ({row['embedder']}): {row['turns_per_s']} turns/s over {row['questions']}, fit {row['fit_s']} s"
        )
    with tempfile.TemporaryDirectory() as folder:
        results["worker"] = asyncio.run(worker(questions=args.questions, folder=Path(folder)))
    print(
        f"worker (multilingual, behind): {results['worker']['turns_per_s']} turns/s over {results['worker']['turns']}"
    )
    if not args.skip_postgres:
        admin_url = os.environ.get("SAMTALE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
        try:
            results["aggregates"] = asyncio.run(aggregates(admin_url=admin_url, turns=args.turns, repeats=args.repeats))
            row = results["aggregates"]
            print(
                f"aggregates over {row['turns_in_window']} turns: "
                f"median {row['median_ms']} ms, best {row['best_ms']} ms"
            )
        except OSError as exc:
            results["aggregates"] = {"skipped": f"PostgreSQL at {admin_url} cannot be reached: {exc}"}
            print(results["aggregates"]["skipped"])
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
