"""Scheduled maintenance deletes old rows, keeps recent ones, and runs once per deployment."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from samtale.observability.locks import LocalLock, PostgresAdvisoryLock, RedisLock
from samtale.observability.maintenance import (
    cleanup_caches,
    create_scheduler,
    parse_cron,
    purge_old_metrics,
    purge_old_streams,
)
from samtale.storage.cache import CacheRegistry
from samtale.storage.db import Database
from samtale.storage.models.conversation import StreamingEvent, StreamingSession
from samtale.storage.models.observability import ConversationProcessingMetrics, ErrorLog, MaintenanceRun

NOW = datetime.now(UTC)


async def count(db: Database, model: type) -> int:
    async with db.session() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


def metrics_row(age_days: float) -> ConversationProcessingMetrics:
    return ConversationProcessingMetrics(
        chatbot_id="vinhuset", session_id="s", streaming_session_id=str(uuid.uuid4()), flow_type="main",
        provider="offline", created_at=NOW - timedelta(days=age_days),
    )  # fmt: skip


def stream(age_h: float, events: int) -> list[object]:
    session = StreamingSession(
        chatbot_id="vinhuset", conversation_session_id="c", token_hash="h" * 64, created_at=NOW - timedelta(hours=age_h)
    )
    session.id = str(uuid.uuid4())
    rows: list[object] = [session]
    rows += [
        StreamingEvent(
            streaming_session_id=session.id,
            chatbot_id="vinhuset",
            event_id=i,
            event="token",
            data={"text": "hej"},
            created_at=session.created_at,
        )
        for i in range(1, events + 1)
    ]
    return rows


async def test_metrics_retention_keeps_thirty_days(any_db: Database) -> None:
    async with any_db.session() as session:
        session.add_all([metrics_row(45), metrics_row(31), metrics_row(29), metrics_row(0)])
        session.add_all(
            ErrorLog(category="llm", code="x", message="m", created_at=NOW - timedelta(days=d)) for d in (40, 1)
        )
        session.add_all(
            MaintenanceRun(
                job="stream_cleanup", tick_at=NOW, worker="w:1", status="ok", created_at=NOW - timedelta(days=d)
            )
            for d in (35, 2)
        )
    deleted = await purge_old_metrics(db=any_db, retention_days=30)
    assert deleted == {"conversation_processing_metrics": 2, "error_logs": 1, "maintenance_runs": 1}
    assert await count(any_db, ConversationProcessingMetrics) == 2
    assert await count(any_db, ErrorLog) == 1


async def test_stream_cleanup_removes_old_sessions_with_their_events(any_db: Database) -> None:
    async with any_db.session() as session:
        for rows in (stream(30, 5), stream(26, 2), stream(1, 4)):
            session.add(rows[0])
            await session.flush()
            session.add_all(rows[1:])
    deleted = await purge_old_streams(db=any_db, retention_s=24 * 3600)
    assert deleted == {"streaming_events": 7, "streaming_sessions": 2}
    assert await count(any_db, StreamingSession) == 1
    assert await count(any_db, StreamingEvent) == 4


async def test_cache_cleanup_sweeps_expired_entries() -> None:
    caches = CacheRegistry(config_ttl_s=0.01)
    await caches.config.set("vinhuset", {"a": 1})
    await caches.prompts.set("vinhuset:main", {"t": "x"})
    await asyncio.sleep(0.02)
    assert await cleanup_caches(caches=caches) == 1
    assert caches.stats()["prompts"]["size"] == 1


async def test_scheduler_fires_on_the_seed_schedule(db: Database) -> None:
    scheduler = create_scheduler(db=db, caches=CacheRegistry(), redis_url=None, retention_days=30)
    assert isinstance(scheduler.lock, LocalLock)  # SQLite: one process, no lock needed
    scheduler.start()
    try:
        jobs = {job.id: job for job in scheduler.scheduler.get_jobs()}
        assert set(jobs) == {"cache_cleanup", "metrics_retention", "stream_cleanup"}
        retention = jobs["metrics_retention"].next_run_time
        assert (retention.hour, retention.minute) == (4, 0)
        assert jobs["cache_cleanup"].next_run_time.minute in (0, 30)
        assert jobs["stream_cleanup"].next_run_time - datetime.now(UTC) <= timedelta(hours=1)
        assert await scheduler.run_metrics_retention() == {
            "conversation_processing_metrics": 0,
            "error_logs": 0,
            "maintenance_runs": 0,
        }
    finally:
        await scheduler.shutdown()


def test_cron_lines_take_five_fields_or_six_with_seconds_first() -> None:
    start = datetime(2026, 11, 21, 3, 59, 58, tzinfo=UTC)
    assert parse_cron("0 4 * * *").get_next_fire_time(None, start) == datetime(2026, 11, 21, 4, 0, tzinfo=UTC)
    every_3s = parse_cron("*/3 * * * * *")
    assert every_3s.get_next_fire_time(None, start) == datetime(2026, 11, 21, 4, 0, 0, tzinfo=UTC)
    for bad in ("0 4 * *", "* * * * * * *", "61 * * * *"):
        with pytest.raises(ValueError):
            parse_cron(bad)


async def test_every_firing_is_recorded_with_its_tick(db: Database) -> None:
    scheduler = create_scheduler(
        db=db, caches=CacheRegistry(), redis_url=None, crons={"stream_cleanup": "* * * * * *"}, hold_s=0.5
    )
    scheduler.start()
    try:
        await asyncio.sleep(2.5)
    finally:
        await scheduler.shutdown()
    async with db.session() as session:
        runs = (await session.scalars(select(MaintenanceRun).where(MaintenanceRun.job == "stream_cleanup"))).all()
    assert len(runs) >= 2
    assert {run.status for run in runs} == {"ok"}
    ticks = [run.tick_at for run in runs]
    assert all(tick.microsecond == 0 for tick in ticks) and len(set(ticks)) == len(ticks)
    assert all(run.started_at >= run.tick_at and run.finished_at >= run.started_at for run in runs)
    assert runs[0].result == {"streaming_events": 0, "streaming_sessions": 0}


async def _race(locks: list, name: str) -> int:  # type: ignore[type-arg]
    """Both workers fire the same tick; then the slower one fires again just after the first finished."""
    runs = 0

    async def job() -> str:
        nonlocal runs
        runs += 1
        await asyncio.sleep(0.05)
        return "done"

    first = await asyncio.gather(*(lock.run_once(name, job) for lock in locks))
    assert sorted(ran for ran, _ in first) == [False, True]
    assert (True, "done") in first
    late = await locks[1].run_once(name, job)  # the lease is still held: no second run
    assert late == (False, None)
    return runs


async def test_one_cache_cleanup_sweeps_every_worker_over_redis(redis_url: str) -> None:
    prefix = f"samtale-test:{uuid.uuid4().hex[:12]}:"
    workers = [CacheRegistry(redis_url=redis_url, prefix=prefix, config_ttl_s=0.05) for _ in range(2)]
    try:
        for worker in workers:
            await worker.start()
        await workers[0].config.set("vinhuset", {"a": 1})
        await asyncio.sleep(0.1)
        assert await cleanup_caches(caches=workers[0], everywhere=True) == 1
        for _ in range(300):
            if workers[1].sweeps:
                break
            await asyncio.sleep(0.01)
        assert [worker.sweeps for worker in workers] == [1, 1]  # the other worker swept on the broadcast
    finally:
        for worker in workers:
            await worker.aclose()


async def test_two_workers_sharing_redis_run_a_job_once(redis_url: str) -> None:
    prefix = f"samtale-test:{uuid.uuid4().hex[:12]}:lock:"
    workers = [RedisLock(url=redis_url, prefix=prefix, hold_s=5) for _ in range(2)]
    try:
        assert await _race(workers, "metrics_retention") == 1
    finally:
        for worker in workers:
            await worker.aclose()


async def test_two_workers_sharing_postgres_run_a_job_once(pg_db: Database) -> None:
    workers = [PostgresAdvisoryLock(db=pg_db, hold_s=5) for _ in range(2)]
    name = f"stream_cleanup-{uuid.uuid4().hex[:8]}"
    try:
        assert await _race(workers, name) == 1
    finally:
        for worker in workers:
            await worker.aclose()
    # Released on shutdown: the next tick can run again.
    again = PostgresAdvisoryLock(db=pg_db, hold_s=0)
    assert (await again.run_once(name, _noop))[0] is True
    await again.aclose()


async def _noop() -> None:
    return None


async def test_redis_refusing_connections_falls_back_to_the_database_lock() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    lock = RedisLock(url=f"redis://127.0.0.1:{port}/15", hold_s=5, fallback=LocalLock())
    try:
        assert await lock.run_once("stream_cleanup", _done) == (True, "done")
    finally:
        await lock.aclose()


async def test_a_redis_that_does_not_answer_in_time_skips_the_tick() -> None:
    """The SET may have reached Redis and another worker may hold the lease: never run twice."""
    accepted: list[asyncio.StreamWriter] = []

    async def silent(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # accepts the connection, never answers

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    lock = RedisLock(url=f"redis://127.0.0.1:{port}/15", hold_s=5, fallback=LocalLock(), timeout_s=0.3)
    try:
        assert await lock.run_once("stream_cleanup", _done) == (False, None)
    finally:
        await lock.aclose()
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()


async def _done() -> str:
    return "done"
