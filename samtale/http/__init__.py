"""Outbound HTTP: one pooled ``httpx.AsyncClient`` per class of service, retries and statistics."""

from samtale.http.pools import (
    POOL_NAMES,
    HttpPools,
    PoolConfig,
    PoolName,
    PoolsConfig,
    PoolStats,
    StatsTransport,
    pool_stats_of,
    record_retry,
)
from samtale.http.retry import NETWORK_ERRORS, retry_network_errors, retrying_request

__all__ = [
    "NETWORK_ERRORS",
    "POOL_NAMES",
    "HttpPools",
    "PoolConfig",
    "PoolName",
    "PoolStats",
    "PoolsConfig",
    "StatsTransport",
    "pool_stats_of",
    "record_retry",
    "retry_network_errors",
    "retrying_request",
]
