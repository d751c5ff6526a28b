"""Deployment-wide locks so a scheduled job runs once per deployment, not once per worker.

Every worker's scheduler fires the same wall-clock tick (cron triggers) within milliseconds of the
others; the first to take the lock runs the job. The lock is *held for* ``hold_s`` seconds from the
start of the run even when the job finishes sooner, so a worker firing a moment later still finds
it taken (releasing at once would let it run the job a second time). ``hold_s`` must exceed the
scheduler's misfire grace time and stay below the shortest job interval.

* :class:`RedisLock` — ``SET key token NX PX hold`` (expires on its own; never deleted early);
  falls back to the database's lock while Redis refuses connections, skips a tick on a timeout.
* :class:`PostgresAdvisoryLock` — ``pg_try_advisory_lock`` on a dedicated connection, released
  (``pg_advisory_unlock``) ``hold_s`` after the run started; a crashed worker's lock goes with its
  connection.
* :class:`LocalLock` — SQLite deployments are single-process: the job simply runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from samtale.storage.db import Database

log = logging.getLogger(__name__)

DEFAULT_HOLD_S = 60.0


class JobLock(Protocol):
    """Runs a job unless another worker holds the job's lock."""

    async def run_once(self, name: str, job: Callable[[], Awaitable[Any]]) -> tuple[bool, Any]:
        """``(True, result)`` when this worker ran ``job``; ``(False, None)`` when another holds the lock."""
        ...

    async def aclose(self) -> None:
        """Release what is still held and close connections."""
        ...


class LocalLock:
    """No lock: one process (SQLite) runs every job itself."""

    async def run_once(self, name: str, job: Callable[[], Awaitable[Any]]) -> tuple[bool, Any]:
        """Run ``job``; returns ``(True, result)``."""
        return True, await job()

    async def aclose(self) -> None:
        """Nothing to release."""


class RedisLock:
    """A lease in Redis: ``SET {prefix}{name} token NX PX hold_ms``.

    Args:
        url: Redis URL.
        prefix: key prefix (tests use a unique one).
        hold_s: how long the lease lasts from the start of a run, seconds.
        fallback: the lock used when Redis refuses connections (down for every worker alike):
            the PostgreSQL advisory lock on PostgreSQL, else no lock (one SQLite process).
        timeout_s: how long to wait for Redis's answer.

    A Redis that cannot be reached at all sends every worker to ``fallback``, so jobs keep running
    once per deployment through an outage. A *timeout* is different: the ``SET`` may have reached
    Redis and another worker may hold the lease, so the tick is skipped with a warning (every job
    is an idempotent cleanup, so the next tick catches up; running it here could run it twice).
    """

    def __init__(
        self,
        *,
        url: str,
        prefix: str = "samtale:lock:",
        hold_s: float = DEFAULT_HOLD_S,
        fallback: JobLock | None = None,
        timeout_s: float = 5.0,
    ) -> None:
        self._redis = Redis.from_url(url, socket_connect_timeout=min(1.0, timeout_s), socket_timeout=timeout_s)
        self._prefix = prefix
        self._hold_ms = max(1, int(hold_s * 1000))
        self._token = uuid.uuid4().hex
        self._fallback = fallback or LocalLock()

    async def run_once(self, name: str, job: Callable[[], Awaitable[Any]]) -> tuple[bool, Any]:
        """Run ``job`` when this worker takes the lease; ``(False, None)`` when another holds it or
        Redis did not answer in time."""
        try:
            acquired = await self._redis.set(f"{self._prefix}{name}", self._token, nx=True, px=self._hold_ms)
        except (RedisTimeoutError, TimeoutError) as exc:
            log.warning("job lock for %s timed out (%s); skipping this tick", name, exc)
            return False, None
        except (RedisConnectionError, RedisError, OSError) as exc:
            log.warning("Redis not usable (%s); job %s uses the fallback lock", exc, name)
            return await self._fallback.run_once(name, job)
        if not acquired:
            return False, None
        return True, await job()

    async def aclose(self) -> None:
        """Close the connection (leases expire on their own) and the fallback."""
        await self._redis.aclose()
        await self._fallback.aclose()


def advisory_key(name: str) -> int:
    """A stable signed 64-bit advisory lock key for job ``name``."""
    digest = hashlib.blake2b(f"samtale:job:{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class PostgresAdvisoryLock:
    """``pg_try_advisory_lock`` held on its own connection for ``hold_s`` from the start of a run.

    Args:
        db: a PostgreSQL database.
        hold_s: how long the lock is held from the start of a run, seconds.
    """

    def __init__(self, *, db: Database, hold_s: float = DEFAULT_HOLD_S) -> None:
        self._db = db
        self._hold_s = hold_s
        self._releases: set[asyncio.Task[None]] = set()
        self._held: dict[int, tuple[AsyncConnection, int]] = {}

    async def _unlock(self, conn: AsyncConnection, key: int) -> None:
        if self._held.pop(id(conn), None) is None:
            return
        try:
            with contextlib.suppress(Exception):
                await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
        finally:
            await conn.close()

    async def _release_later(self, conn: AsyncConnection, key: int, delay_s: float) -> None:
        await asyncio.sleep(delay_s)
        await self._unlock(conn, key)

    async def run_once(self, name: str, job: Callable[[], Awaitable[Any]]) -> tuple[bool, Any]:
        """Run ``job`` when this worker takes the advisory lock; ``(False, None)`` when another holds it."""
        key = advisory_key(name)
        conn = await self._db.engine.connect()
        try:
            acquired = (await conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key})).scalar()
            await conn.commit()
        except BaseException:
            await conn.close()
            raise
        if not acquired:
            await conn.close()
            return False, None
        self._held[id(conn)] = (conn, key)
        started = time.monotonic()
        try:
            return True, await job()
        finally:
            remaining = max(0.0, self._hold_s - (time.monotonic() - started))
            task = asyncio.create_task(self._release_later(conn, key, remaining), name=f"release-lock-{name}")
            self._releases.add(task)
            task.add_done_callback(self._releases.discard)

    async def aclose(self) -> None:
        """Release every held lock now."""
        for task in list(self._releases):
            task.cancel()
        for task in list(self._releases):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for conn, key in list(self._held.values()):
            await self._unlock(conn, key)


def choose_lock(*, db: Database, redis_url: str | None, hold_s: float = DEFAULT_HOLD_S) -> JobLock:
    """Redis when configured (with the database's lock as its fallback), else a PostgreSQL advisory
    lock on PostgreSQL, else no lock (SQLite)."""
    database_lock: JobLock = (
        PostgresAdvisoryLock(db=db, hold_s=hold_s) if db.engine.dialect.name == "postgresql" else LocalLock()
    )
    if redis_url:
        return RedisLock(url=redis_url, hold_s=hold_s, fallback=database_lock)
    return database_lock
