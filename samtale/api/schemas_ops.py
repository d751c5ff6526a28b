"""Response bodies of the monitoring API (seed 000 §4.4)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from samtale.observability.processing import FlowProcessingMetrics


class RecorderState(BaseModel):
    """The batched turn writer: turns and batches written, batches that failed."""

    turns_written: int
    batches_written: int
    failed_batches: int


class SystemState(BaseModel):
    """This process: resident memory (MB), uptime (s), streams in the hub (null when unknown), pid."""

    rss_mb: float
    uptime_s: float
    active_streams: int | None
    pid: int


class MonitoringHealthResponse(BaseModel):
    """``GET /api/monitoring/conversation-health``."""

    status: Literal["healthy", "degraded"]
    database: Literal["connected", "unreachable"]
    cache_backend: str = Field(description="``memory`` or ``redis``")
    cache_sweeps: int
    active_streams: int
    retained_streams: int
    running_turns: int
    recorder: RecorderState
    system: SystemState
    timestamp: str = Field(description="ISO 8601, UTC")


class LatencyPercentiles(BaseModel):
    """Request latency percentiles in milliseconds."""

    p50: float
    p95: float
    p99: float


class PoolStats(BaseModel):
    """One outbound HTTP pool; ``success_rate`` is successes over finished requests (1.0 before any)."""

    requests: int
    successes: int
    failures: int
    timeouts: int
    retries: int
    success_rate: float
    latency_ms: LatencyPercentiles
    max_connections: int
    timeout_s: float


PoolsResponse = dict[str, PoolStats]
"""``GET /api/monitoring/connection-pools``: keyed ``ai``, ``orders``, ``general``."""


class CacheStats(BaseModel):
    """One cache; ``hit_rate`` is hits / lookups (0.0 before any), ``size`` counts in-process entries."""

    hits: int
    misses: int
    hit_rate: float
    size: int
    ttl_s: float
    backend: str = Field(description="``memory`` or ``redis``")


CachesResponse = dict[str, CacheStats]
"""``GET /api/monitoring/cache-stats``: keyed ``config``, ``prompts``, ``assignments``."""


class ProcessingMetricsResponse(BaseModel):
    """``GET /api/monitoring/processing-metrics``: per chatbot and flow over the window."""

    window_minutes: int
    since: str = Field(description="ISO 8601, UTC: the window's start")
    flows: list[FlowProcessingMetrics]


class ClearCacheResponse(BaseModel):
    """``POST /api/monitoring/clear-cache``: every cache is empty; their statistics after it."""

    success: bool = True
    caches: CachesResponse


class ResetPoolsResponse(BaseModel):
    """``POST /api/monitoring/reset-pool-stats``: the pools' statistics after the reset."""

    success: bool = True
    pools: PoolsResponse
