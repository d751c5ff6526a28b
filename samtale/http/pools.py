"""Outbound HTTP pools: one ``httpx.AsyncClient`` per class of outside service, with statistics.

Seed 000 §4.1 sets three classes, each with its own connection limit and timeout so a slow shop
API can never starve the LLM calls:

============  ===========  =========
pool          connections  timeout
============  ===========  =========
``ai``        5            45 s
``orders``    3            15 s
``general``   10           30 s
============  ===========  =========

Statistics are recorded by :class:`StatsTransport`, an ``httpx.AsyncBaseTransport`` wrapped
around each client's real transport, so callers use a plain ``httpx.AsyncClient`` and are never
wrapped themselves. A request counts as a *failure* when it raises or answers with a status
≥ 500; a *timeout* is a failure raised as ``httpx.TimeoutException`` (connect, read, write or
waiting for a free connection). Latency is the whole exchange in milliseconds, from sending the
request to the end of its body (for a streamed LLM answer: to the last byte).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from weakref import WeakKeyDictionary

import httpx

from samtale.http.aiohttp_transport import AiohttpPoolTransport
from samtale.http.outbound_guard import OutboundPolicy

PoolName = Literal["ai", "orders", "general"]
POOL_NAMES: tuple[PoolName, ...] = ("ai", "orders", "general")
LATENCY_WINDOW = 1000
"""How many of the latest requests per pool the latency percentiles are computed over."""


@dataclass(frozen=True, slots=True)
class PoolConfig:
    """Size and timeout of one pool.

    Args:
        max_connections: concurrent connections the pool opens (further requests wait, within
            the timeout, for a free one).
        timeout_s: connect, read, write and pool-wait timeout in seconds.
    """

    max_connections: int
    timeout_s: float


@dataclass(frozen=True, slots=True)
class PoolsConfig:
    """The three pools' sizes; defaults are seed 000 §4.1's figures."""

    ai: PoolConfig = field(default_factory=lambda: PoolConfig(max_connections=5, timeout_s=45.0))
    orders: PoolConfig = field(default_factory=lambda: PoolConfig(max_connections=3, timeout_s=15.0))
    general: PoolConfig = field(default_factory=lambda: PoolConfig(max_connections=10, timeout_s=30.0))

    @classmethod
    def from_settings(cls, settings: Any) -> PoolsConfig:
        """Read ``pool_{ai,orders,general}_{connections,timeout_s}`` from a ``Settings`` object."""
        return cls(
            ai=PoolConfig(max_connections=settings.pool_ai_connections, timeout_s=settings.pool_ai_timeout_s),
            orders=PoolConfig(
                max_connections=settings.pool_orders_connections, timeout_s=settings.pool_orders_timeout_s
            ),
            general=PoolConfig(
                max_connections=settings.pool_general_connections, timeout_s=settings.pool_general_timeout_s
            ),
        )

    def get(self, name: PoolName) -> PoolConfig:
        """The config of pool ``name``."""
        config: PoolConfig = getattr(self, name)
        return config


def _percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile ``q`` (0–100) of already sorted values; 0.0 when empty."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), math.ceil(q / 100.0 * len(sorted_values))))
    return sorted_values[rank - 1]


class PoolStats:
    """Counters and a bounded latency window of one pool; safe to update from several threads."""

    def __init__(self, name: str, *, window: int = LATENCY_WINDOW) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._window = window
        self.reset()

    def reset(self) -> None:
        """Set every counter to zero and forget the latencies."""
        with self._lock:
            self.requests = 0
            self.successes = 0
            self.failures = 0
            self.timeouts = 0
            self.retries = 0
            self._latencies_ms: deque[float] = deque(maxlen=self._window)

    def record_start(self) -> None:
        """Count a request being sent."""
        with self._lock:
            self.requests += 1

    def record_outcome(self, *, ok: bool, timeout: bool, latency_ms: float) -> None:
        """Count a finished exchange: success or failure (and whether it was a timeout)."""
        with self._lock:
            if ok:
                self.successes += 1
            else:
                self.failures += 1
            if timeout:
                self.timeouts += 1
            self._latencies_ms.append(latency_ms)

    def record_retry(self) -> None:
        """Count one retry (called from a tenacity ``before_sleep`` hook)."""
        with self._lock:
            self.retries += 1

    def snapshot(self) -> dict[str, Any]:
        """``{requests, successes, failures, timeouts, retries, success_rate, latency_ms: {p50, p95, p99}}``.

        ``success_rate`` is successes over finished requests (1.0 before any request finished).
        """
        with self._lock:
            finished = self.successes + self.failures
            latencies = sorted(self._latencies_ms)
            return {
                "requests": self.requests,
                "successes": self.successes,
                "failures": self.failures,
                "timeouts": self.timeouts,
                "retries": self.retries,
                "success_rate": round(self.successes / finished, 4) if finished else 1.0,
                "latency_ms": {
                    "p50": round(_percentile(latencies, 50), 2),
                    "p95": round(_percentile(latencies, 95), 2),
                    "p99": round(_percentile(latencies, 99), 2),
                },
            }


class _TimedStream(httpx.AsyncByteStream):
    """A response body that reports the exchange's outcome when it is read to the end or closed."""

    def __init__(self, inner: httpx.AsyncByteStream, *, stats: PoolStats, started: float, ok: bool) -> None:
        self._inner = inner
        self._stats = stats
        self._started = started
        self._ok = ok
        self._done = False

    def _finish(self, *, ok: bool, timeout: bool) -> None:
        if not self._done:
            self._done = True
            latency_ms = (time.perf_counter() - self._started) * 1000.0
            self._stats.record_outcome(ok=ok, timeout=timeout, latency_ms=latency_ms)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._inner:
                yield chunk
        except httpx.TimeoutException:
            self._finish(ok=False, timeout=True)
            raise
        except Exception:
            self._finish(ok=False, timeout=False)
            raise
        self._finish(ok=self._ok, timeout=False)

    async def aclose(self) -> None:
        try:
            await self._inner.aclose()
        finally:
            self._finish(ok=self._ok, timeout=False)


class StatsTransport(httpx.AsyncBaseTransport):
    """Wraps a transport and records every request in a :class:`PoolStats`.

    Args:
        inner: the transport that does the work (``httpx.AsyncHTTPTransport`` in production).
        stats: where to record.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport, *, stats: PoolStats) -> None:
        self._inner = inner
        self.stats = stats

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` through the inner transport, timing it and counting its outcome."""
        self.stats.record_start()
        started = time.perf_counter()
        try:
            response = await self._inner.handle_async_request(request)
        except httpx.TimeoutException:
            self.stats.record_outcome(ok=False, timeout=True, latency_ms=(time.perf_counter() - started) * 1000.0)
            raise
        except Exception:
            self.stats.record_outcome(ok=False, timeout=False, latency_ms=(time.perf_counter() - started) * 1000.0)
            raise
        assert isinstance(response.stream, httpx.AsyncByteStream)
        ok = response.status_code < 500
        response.stream = _TimedStream(response.stream, stats=self.stats, started=started, ok=ok)
        return response

    async def aclose(self) -> None:
        """Close the inner transport and its connections."""
        await self._inner.aclose()


_STATS_OF_CLIENT: WeakKeyDictionary[httpx.AsyncClient, PoolStats] = WeakKeyDictionary()


def pool_stats_of(client: httpx.AsyncClient) -> PoolStats | None:
    """The statistics of the pool ``client`` belongs to, or None for a client made elsewhere."""
    return _STATS_OF_CLIENT.get(client)


def record_retry(client: httpx.AsyncClient) -> None:
    """Count one retry on ``client``'s pool; a no-op for clients not made by :class:`HttpPools`.

    Call it from a tenacity ``before_sleep`` hook; :func:`samtale.http.retry.retrying_request`
    does so itself.
    """
    stats = _STATS_OF_CLIENT.get(client)
    if stats is not None:
        stats.record_retry()


def _default_transport(config: PoolConfig, policy: OutboundPolicy | None) -> httpx.AsyncBaseTransport:
    # aiohttp's connection pool, not httpcore's: httpcore 1.0.9 re-scans every connection per
    # request (quadratic in idle connections), the largest cost of a turn at 50 streams.
    limits = httpx.Limits(max_connections=config.max_connections, max_keepalive_connections=config.max_connections)
    return AiohttpPoolTransport(limits=limits, policy=policy)


class HttpPools:
    """The process's three outbound clients: ``pools.ai``, ``pools.orders``, ``pools.general``.

    Args:
        config: sizes and timeouts (``PoolsConfig.from_settings(settings)`` in the app).
        transport_factory: makes each pool's inner transport from its config; the default is an
            :class:`~samtale.http.aiohttp_transport.AiohttpPoolTransport` limited to
            ``max_connections`` and guarded by ``policy``. Tests may pass e.g. an
            ``httpx.ASGITransport`` factory.
        policy: the outbound guard of the default transport (None: no guard).

    Close with ``await pools.aclose()`` (the app's lifespan does it on shutdown).
    """

    def __init__(
        self,
        *,
        config: PoolsConfig | None = None,
        transport_factory: Callable[[PoolConfig], httpx.AsyncBaseTransport] | None = None,
        policy: OutboundPolicy | None = None,
    ) -> None:
        self.config = config or PoolsConfig()
        self.policy = policy

        def make(pool_config: PoolConfig) -> httpx.AsyncBaseTransport:
            if transport_factory is not None:
                return transport_factory(pool_config)
            return _default_transport(pool_config, policy)

        self._stats: dict[PoolName, PoolStats] = {}
        self._clients: dict[PoolName, httpx.AsyncClient] = {}
        for name in POOL_NAMES:
            pool_config = self.config.get(name)
            stats = PoolStats(name)
            client = httpx.AsyncClient(
                transport=StatsTransport(make(pool_config), stats=stats),
                timeout=httpx.Timeout(pool_config.timeout_s),
            )
            self._stats[name] = stats
            self._clients[name] = client
            _STATS_OF_CLIENT[client] = stats

    @property
    def ai(self) -> httpx.AsyncClient:
        """Client for LLM, embedding and vision APIs (seed: 5 connections, 45 s)."""
        return self._clients["ai"]

    @property
    def orders(self) -> httpx.AsyncClient:
        """Client for shops' order APIs (seed: 3 connections, 15 s)."""
        return self._clients["orders"]

    @property
    def general(self) -> httpx.AsyncClient:
        """Client for every other outside service (seed: 10 connections, 30 s)."""
        return self._clients["general"]

    def client(self, name: PoolName) -> httpx.AsyncClient:
        """The client of pool ``name``."""
        return self._clients[name]

    def record_retry(self, pool_name: PoolName) -> None:
        """Count one retry on pool ``pool_name`` (for callers' own tenacity hooks)."""
        self._stats[pool_name].record_retry()

    def stats(self) -> dict[str, dict[str, Any]]:
        """Statistics keyed ``ai``, ``orders``, ``general`` (see :meth:`PoolStats.snapshot`), each with
        its configured ``max_connections`` and ``timeout_s``."""
        out: dict[str, dict[str, Any]] = {}
        for name in POOL_NAMES:
            pool_config = self.config.get(name)
            out[name] = {
                **self._stats[name].snapshot(),
                "max_connections": pool_config.max_connections,
                "timeout_s": pool_config.timeout_s,
            }
        return out

    def reset(self) -> None:
        """Zero every pool's statistics (admin ``POST /api/monitoring/reset-pool-stats``)."""
        for stats in self._stats.values():
            stats.reset()

    async def aclose(self) -> None:
        """Close the three clients and their connections."""
        for client in self._clients.values():
            await client.aclose()
