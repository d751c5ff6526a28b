"""Scheduled maintenance (seed 000 §4.4) with APScheduler's ``AsyncIOScheduler``.

============================  =======================  ==========================================
job                           when (cron, wall clock)  what
============================  =======================  ==========================================
``cache_cleanup``             minute 0 and 30          expired in-process cache entries
``metrics_retention``         daily 04:00              ``conversation_processing_metrics``,
                                                       ``error_logs`` and ``maintenance_runs``
                                                       older than ``retention_days``
``stream_cleanup``            hourly at minute 5       ``streaming_events`` and
                                                       ``streaming_sessions`` older than
                                                       ``stream_retention_s``
``conversation_retention``    daily 04:30              conversations past their chatbot's
                                                       ``retention_days`` and soft-deleted ones
                                                       past the grace period, with everything
                                                       stored with them
                                                       (``samtale.conversation.retention``)
============================  =======================  ==========================================

The schedules are Settings (``SAMTALE_MAINTENANCE_*_CRON``; see :func:`parse_cron`). Cron (not
interval) triggers make every worker fire the same wall-clock tick, and each job runs under a
deployment lock (:mod:`samtale.observability.locks`), so it runs once per deployment.
``cache_cleanup`` sweeps in-process cache layers, which live in each worker's memory: with Redis
the worker that takes the lock sweeps its own and asks every other worker to sweep theirs over
the caches' pub/sub channel; without Redis (one worker, or PostgreSQL only) each worker sweeps
its own without a lock.

Every firing is recorded in ``maintenance_runs``: ``ok``/``failed`` by the worker that ran the
job, ``skipped`` by each worker that found the lock taken, all with the tick's scheduled time.
The job functions are plain coroutines, callable directly. ``conversation_retention`` is given
by the composition root (``purge_conversations``; the conversation domain sits above this
package), and is not scheduled when none is given.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import delete, select

from samtale.observability.locks import DEFAULT_HOLD_S, JobLock, LocalLock, choose_lock
from samtale.storage.base import utcnow
from samtale.storage.cache import CacheRegistry
from samtale.storage.db import Database
from samtale.storage.models.conversation import StreamingEvent, StreamingSession
from samtale.storage.models.observability import ConversationProcessingMetrics, ErrorLog, MaintenanceRun

log = logging.getLogger(__name__)

MISFIRE_GRACE_S = 30
"""A tick more than this late is skipped; must stay below the lock's hold time (see
:meth:`MaintenanceScheduler.__init__`: at most half of it)."""
DEFAULT_CRONS = {
    "cache_cleanup": "0,30 * * * *",
    "metrics_retention": "0 4 * * *",
    "stream_cleanup": "5 * * * *",
    "conversation_retention": "30 4 * * *",
}
"""Seed 000 §4.4: caches every 30 min, metrics retention daily at 04:00, streams hourly; issue 13:
conversation retention daily at 04:30."""

ConversationPurge = Callable[[], Awaitable[dict[str, int]]]
"""The conversation retention job's work: removes what is due, returns rows removed per table."""


def parse_cron(expression: str, *, timezone: str = "UTC") -> CronTrigger:
    """A ``CronTrigger`` from a crontab line: 5 fields (``minute hour day month day_of_week``) or
    6 with seconds first (``second minute hour day month day_of_week``).

    Fields take APScheduler's cron syntax (``*/5``, ``0,30``, ``mon-fri``; day_of_week numbers
    start at 0 = Monday, unlike classic cron).

    Raises:
        ValueError: when the line has another number of fields or a field is invalid.
    """
    fields = expression.split()
    if len(fields) == 5:
        fields = ["0", *fields]
    if len(fields) != 6:
        raise ValueError(f"cron expression {expression!r} needs 5 or 6 fields, got {len(fields)}")
    second, minute, hour, day, month, day_of_week = fields
    return CronTrigger(
        second=second, minute=minute, hour=hour, day=day, month=month, day_of_week=day_of_week, timezone=timezone
    )


def worker_name() -> str:
    """This worker as ``host:pid`` (recorded with each maintenance run)."""
    return f"{socket.gethostname()}:{os.getpid()}"


async def cleanup_caches(*, caches: CacheRegistry, everywhere: bool = False) -> int:
    """Remove expired in-process cache entries; returns how many this process removed.

    With ``everywhere`` every other worker is asked (over Redis pub/sub) to sweep its own too.
    """
    removed = await caches.cleanup_everywhere() if everywhere else caches.cleanup()
    log.info("cache cleanup removed %d expired entries", removed)
    return removed


async def purge_old_metrics(*, db: Database, retention_days: int, now: datetime | None = None) -> dict[str, int]:
    """Delete processing metrics, error logs and maintenance runs created before ``now − retention_days``.

    Returns ``{"conversation_processing_metrics": n, "error_logs": m, "maintenance_runs": k}`` (rows deleted).
    """
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    async with db.session() as session:
        metrics = await session.execute(
            delete(ConversationProcessingMetrics).where(ConversationProcessingMetrics.created_at < cutoff)
        )
        errors = await session.execute(delete(ErrorLog).where(ErrorLog.created_at < cutoff))
        runs = await session.execute(delete(MaintenanceRun).where(MaintenanceRun.created_at < cutoff))
    counts = {
        "conversation_processing_metrics": _rowcount(metrics),
        "error_logs": _rowcount(errors),
        "maintenance_runs": _rowcount(runs),
    }
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
        lock: decides which worker runs a job (see :func:`create_scheduler`).
        retention_days: metrics and error log retention (seed 003: 30).
        stream_retention_s: streaming rows older than this are deleted.
        timezone: the zone of "04:00" (IANA name).
        crons: per job name, a cron line for :func:`parse_cron` (defaults: :data:`DEFAULT_CRONS`).
        hold_s: the lock's hold time; the misfire grace time is ``min(30 s, hold_s / 2)`` so a
            worker firing late never finds the lock already released.
        purge_conversations: the ``conversation_retention`` job's work (None: not scheduled).
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
        crons: dict[str, str] | None = None,
        hold_s: float = DEFAULT_HOLD_S,
        purge_conversations: ConversationPurge | None = None,
    ) -> None:
        self.db = db
        self.purge_conversations = purge_conversations
        self.caches = caches
        self.lock = lock
        self.retention_days = retention_days
        self.stream_retention_s = stream_retention_s
        self.worker = worker_name()
        self.misfire_grace_s = max(1, int(min(MISFIRE_GRACE_S, hold_s / 2)))
        schedule = {**DEFAULT_CRONS, **(crons or {})}
        self.triggers = {job: parse_cron(schedule[job], timezone=timezone) for job in DEFAULT_CRONS}
        self.scheduler = AsyncIOScheduler(
            timezone=timezone,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": self.misfire_grace_s},
        )
        self.scheduler.add_job(self.run_cache_cleanup, self.triggers["cache_cleanup"], id="cache_cleanup")
        self.scheduler.add_job(self.run_metrics_retention, self.triggers["metrics_retention"], id="metrics_retention")
        self.scheduler.add_job(self.run_stream_cleanup, self.triggers["stream_cleanup"], id="stream_cleanup")
        if purge_conversations is not None:
            self.scheduler.add_job(
                self.run_conversation_retention, self.triggers["conversation_retention"], id="conversation_retention"
            )

    def _tick(self, job: str) -> datetime:
        """The scheduled time of the tick firing now: the first fire time at or after now − grace
        (a tick fires at most ``misfire_grace_s`` late), or now when called outside the schedule."""
        now = utcnow()
        fire = self.triggers[job].get_next_fire_time(None, now - timedelta(seconds=self.misfire_grace_s))
        return fire if fire is not None and fire <= now else now.replace(microsecond=0)

    async def _run(self, job: str, work: Callable[[], Awaitable[Any]], *, locked: bool = True) -> Any:
        """Run ``work`` under the job's lock (unless ``locked`` is False) and record the firing."""
        tick, started = self._tick(job), utcnow()
        if not locked:
            ran, result, error = True, None, None
            try:
                result = await work()
            except Exception as exc:
                error = exc
        else:
            error = None
            try:
                ran, result = await self.lock.run_once(job, work)
            except Exception as exc:
                ran, result, error = True, None, exc
        if error is not None:
            log.error("maintenance job %s failed: %s", job, error, exc_info=error)
        status = "skipped" if not ran else ("failed" if error is not None else "ok")
        await self._record(job=job, tick=tick, started=started, status=status, result=result, error=error)
        return result if ran and error is None else None

    async def _record(
        self, *, job: str, tick: datetime, started: datetime, status: str, result: Any, error: BaseException | None
    ) -> None:
        row = MaintenanceRun(
            job=job,
            tick_at=tick,
            worker=self.worker,
            status=status,
            result=result if isinstance(result, dict) else ({"removed": result} if result is not None else {}),
            error=None if error is None else f"{type(error).__name__}: {error}"[:2000],
            started_at=started,
            finished_at=utcnow(),
        )
        try:
            async with self.db.session() as session:
                session.add(row)
        except Exception:
            log.exception("could not record the %s run of %s", status, job)

    async def run_cache_cleanup(self) -> int | None:
        """Sweep expired cache entries: with Redis, once per deployment (the lock holder sweeps and
        asks every other worker to sweep); without it, this worker's own. None when another worker
        holds the lock."""
        if self.caches.shared and not isinstance(self.lock, LocalLock):
            result: int | None = await self._run(
                "cache_cleanup", lambda: cleanup_caches(caches=self.caches, everywhere=True)
            )
            return result
        local: int | None = await self._run("cache_cleanup", lambda: cleanup_caches(caches=self.caches), locked=False)
        return local

    async def run_metrics_retention(self) -> dict[str, int] | None:
        """Run the retention job if this worker takes its lock; None when another worker has it."""
        result: dict[str, int] | None = await self._run(
            "metrics_retention", lambda: purge_old_metrics(db=self.db, retention_days=self.retention_days)
        )
        return result

    async def run_stream_cleanup(self) -> dict[str, int] | None:
        """Run the stream cleanup if this worker takes its lock; None when another worker has it."""
        result: dict[str, int] | None = await self._run(
            "stream_cleanup", lambda: purge_old_streams(db=self.db, retention_s=self.stream_retention_s)
        )
        return result

    async def run_conversation_retention(self) -> dict[str, int] | None:
        """Remove the conversations due (per-chatbot retention, soft-deleted past the grace) if this
        worker takes the job's lock; returns rows removed per table, None when another worker has
        the lock or no purge was given."""
        purge = self.purge_conversations
        if purge is None:
            return None
        result: dict[str, int] | None = await self._run("conversation_retention", purge)
        return result

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
    crons: dict[str, str] | None = None,
    purge_conversations: ConversationPurge | None = None,
) -> MaintenanceScheduler:
    """The maintenance scheduler with the right lock: Redis ``SET NX PX`` when ``redis_url`` is set,
    ``pg_try_advisory_lock`` on PostgreSQL, none on SQLite (single process).

    Raises:
        ValueError: when a cron line in ``crons`` is invalid.
    """
    return MaintenanceScheduler(
        db=db,
        caches=caches,
        lock=choose_lock(db=db, redis_url=redis_url, hold_s=hold_s),
        retention_days=retention_days,
        stream_retention_s=stream_retention_s,
        timezone=timezone,
        crons=crons,
        hold_s=hold_s,
        purge_conversations=purge_conversations,
    )
