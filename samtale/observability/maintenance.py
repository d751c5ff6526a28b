"""Scheduled maintenance (seed 000 §4.4) with APScheduler's ``AsyncIOScheduler``.

========================  ======================  ==============================================
job                       when (cron, wall clock)  what
========================  ======================  ==============================================
``cache_cleanup``         minute 0 and 30          expired in-process cache entries
``metrics_retention``     daily 04:00              ``conversation_processing_metrics`` and
                                                   ``error_logs`` older than ``retention_days``
``stream_cleanup``        hourly at minute 5       ``streaming_events`` and ``streaming_sessions``
                                                   older than ``stream_retention_s``
========================  ======================  ==============================================

Cron (not interval) triggers make every worker fire the same tick, and each database job runs
under a deployment lock (:mod:`samtale.observability.locks`), so it runs once per deployment.
``cache_cleanup`` is the exception by nature: each worker's in-process cache layer lives in that
worker's memory, so every worker sweeps its own (Redis expires shared entries itself).
The job functions are plain coroutines, callable directly.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import delete, select

from samtale.observability.locks import DEFAULT_HOLD_S, JobLock, choose_lock
from samtale.storage.base import utcnow
from samtale.storage.cache import CacheRegistry
from samtale.storage.db import Database
from samtale.storage.models.conversation import StreamingEvent, StreamingSession
from samtale.storage.models.observability import ConversationProcessingMetrics, ErrorLog

log = logging.getLogger(__name__)

MISFIRE_GRACE_S = 30
"""A tick more than this late is skipped; must stay below the lock's hold time."""


async def cleanup_caches(*, caches: CacheRegistry) -> int:
    """Remove expired in-process cache entries; returns how many."""
    removed = caches.cleanup()
    log.info("cache cleanup removed %d expired entries", removed)
    return removed


async def purge_old_metrics(*, db: Database, retention_days: int, now: datetime | None = None) -> dict[str, int]:
    """Delete processing metrics and error logs created before ``now − retention_days``.

    Returns ``{"conversation_processing_metrics": n, "error_logs": m}`` (rows deleted).
    """
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    async with db.session() as session:
        metrics = await session.execute(
            delete(ConversationProcessingMetrics).where(ConversationProcessingMetrics.created_at < cutoff)
        )
        errors = await session.execute(delete(ErrorLog).where(ErrorLog.created_at < cutoff))
    counts = {"conversation_processing_metrics": _rowcount(metrics), "error_logs": _rowcount(errors)}
    log.info("metrics retention (%d days) deleted %s", retention_days, counts)
    return counts


async def purge_old_streams(*, db: Database, retention_s: float, now: datetime | None = None) -> dict[str, int]:
    """Delete streaming sessions created before ``now − retention_s`` and their events.

    Returns ``{"streaming_events": n, "streaming_sessions": m}`` (rows deleted).
    """
    cutoff = (now or utcnow()) - timedelta(seconds=retention_s)
    old_sessions = select(StreamingSession.id).where(StreamingSession.created_at < cutoff)
    async with db.session() as session:
        events = await session.execute(
            delete(StreamingEvent).where(StreamingEvent.streaming_session_id.in_(old_sessions))
        )
        sessions = await session.execute(delete(StreamingSession).where(StreamingSession.created_at < cutoff))
    counts = {"streaming_events": _rowcount(events), "streaming_sessions": _rowcount(sessions)}
    log.info("stream cleanup deleted %s", counts)
    return counts


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


class MaintenanceScheduler:
    """The three jobs on an ``AsyncIOScheduler``; ``start()`` inside the running loop, ``await shutdown()``.

    Args:
        db: the process database.
        caches: the process caches.
        lock: decides which worker runs a database job (see :func:`create_scheduler`).
        retention_days: metrics and error log retention (seed 003: 30).
        stream_retention_s: streaming rows older than this are deleted.
        timezone: the zone of "04:00" (IANA name).
    """

    def __init__(
        self,
        *,
        db: Database,
        caches: CacheRegistry,
        lock: JobLock,
        retention_days: int = 30,
        stream_retention_s: float = 86_400.0,
        timezone: str = "UTC",
    ) -> None:
        self.db = db
        self.caches = caches
        self.lock = lock
        self.retention_days = retention_days
        self.stream_retention_s = stream_retention_s
        self.scheduler = AsyncIOScheduler(
            timezone=timezone,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE_S},
        )
        self.scheduler.add_job(
            self.run_cache_cleanup, CronTrigger(minute="0,30", timezone=timezone), id="cache_cleanup"
        )
        self.scheduler.add_job(
            self.run_metrics_retention, CronTrigger(hour=4, minute=0, timezone=timezone), id="metrics_retention"
        )
        self.scheduler.add_job(self.run_stream_cleanup, CronTrigger(minute=5, timezone=timezone), id="stream_cleanup")

    async def run_cache_cleanup(self) -> int:
        """Sweep this worker's caches (no lock: the memory is this worker's own)."""
        return await cleanup_caches(caches=self.caches)

    async def run_metrics_retention(self) -> dict[str, int] | None:
        """Run the retention job if this worker takes its lock; None when another worker has it."""
        ran, result = await self.lock.run_once(
            "metrics_retention", lambda: purge_old_metrics(db=self.db, retention_days=self.retention_days)
        )
        return result if ran else None

    async def run_stream_cleanup(self) -> dict[str, int] | None:
        """Run the stream cleanup if this worker takes its lock; None when another worker has it."""
        ran, result = await self.lock.run_once(
            "stream_cleanup", lambda: purge_old_streams(db=self.db, retention_s=self.stream_retention_s)
        )
        return result if ran else None

    def start(self) -> None:
        """Start firing jobs; call from inside the running event loop (the app's lifespan)."""
        self.scheduler.start()

    async def shutdown(self) -> None:
        """Stop the scheduler (running jobs are not awaited) and release held locks."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        await self.lock.aclose()


def create_scheduler(
    *,
    db: Database,
    caches: CacheRegistry,
    redis_url: str | None,
    retention_days: int = 30,
    stream_retention_s: float = 86_400.0,
    timezone: str = "UTC",
    hold_s: float = DEFAULT_HOLD_S,
) -> MaintenanceScheduler:
    """The maintenance scheduler with the right lock: Redis ``SET NX PX`` when ``redis_url`` is set,
    ``pg_try_advisory_lock`` on PostgreSQL, none on SQLite (single process)."""
    return MaintenanceScheduler(
        db=db,
        caches=caches,
        lock=choose_lock(db=db, redis_url=redis_url, hold_s=hold_s),
        retention_days=retention_days,
        stream_retention_s=stream_retention_s,
        timezone=timezone,
    )
