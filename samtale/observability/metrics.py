"""Prometheus metrics (prometheus-client) for ``GET /metrics``.

Exported (durations in seconds, as Prometheus expects):

* ``samtale_http_request_duration_seconds{method,route,status}`` — histogram per route template.
* ``samtale_ttft_seconds{chatbot,flow}`` — message received → first token event.
* ``samtale_phase_duration_seconds{chatbot,flow,phase}`` — phases ``config``, ``image``, ``routing``,
  ``retrieval``, ``order``, ``prompt``, ``llm_ttft``, ``stream``, ``persist``.
* ``samtale_turn_duration_seconds{chatbot,flow}``, ``samtale_turns_total{chatbot,flow,status}``,
  ``samtale_tokens_total{chatbot,flow,kind}`` (kind ``prompt``/``completion``),
  ``samtale_tokens_per_second{chatbot,flow}``.
* ``samtale_errors_total{category}`` — every :func:`samtale.observability.errors.log_error`.
* ``samtale_http_pool_{requests,successes,failures,timeouts,retries}{pool}``,
  ``samtale_http_pool_latency_ms{pool,quantile}`` and ``samtale_cache_{hits,misses,size}{cache}`` —
  gauges read from :class:`~samtale.http.HttpPools` and :class:`~samtale.storage.cache.CacheRegistry`
  (register them with :func:`register_stats_sources`). Hit rate in PromQL:
  ``samtale_cache_hits / (samtale_cache_hits + samtale_cache_misses)``.

Several workers: set ``PROMETHEUS_MULTIPROC_DIR`` to an empty, writable directory in the
environment *before* the workers start (prometheus-client reads it at import). Each worker then
writes its samples to files there; :func:`render_metrics` merges them with
``MultiProcessCollector`` so any worker answers ``/metrics`` for the whole deployment. Pool and
cache gauges are mirrored into those files (summed over live workers) whenever a turn is
observed or metrics are rendered; call :func:`mark_worker_dead` when a worker exits. Wipe the
directory when the deployment (re)starts. Without the variable one process serves its own
registry and pool/cache gauges are read at scrape time by a custom collector.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Literal

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from samtale.errors import ErrorCategory

PHASES = ("config", "image", "routing", "retrieval", "order", "prompt", "llm_ttft", "stream", "persist")
"""Phase names, each read from the metrics row's ``{phase}_ms`` column."""
LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
TOKENS_PER_S_BUCKETS = (1, 5, 10, 20, 50, 100, 200, 500, 1000, 5000)
POOL_COUNTERS = ("requests", "successes", "failures", "timeouts", "retries")
CACHE_FIELDS = ("hits", "misses", "size")


def multiprocess_dir() -> str | None:
    """The directory prometheus-client's multiprocess mode writes to, or None in single-process mode.

    ``PROMETHEUS_MULTIPROC_DIR`` is prometheus-client's own variable (it reads it at import), so it
    is read here rather than through samtale's Settings.
    """
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


REGISTRY = CollectorRegistry()
"""samtale's registry in single-process mode (kept apart from the library's global default)."""

REQUEST_LATENCY = Histogram(
    "samtale_http_request_duration_seconds",
    "HTTP request latency by route template",
    ["method", "route", "status"],
    buckets=LATENCY_BUCKETS_S,
    registry=REGISTRY,
)
TTFT = Histogram(
    "samtale_ttft_seconds",
    "Time to first token: message received to first token event",
    ["chatbot", "flow"],
    buckets=LATENCY_BUCKETS_S,
    registry=REGISTRY,
)
PHASE = Histogram(
    "samtale_phase_duration_seconds",
    "Duration of one phase of a turn",
    ["chatbot", "flow", "phase"],
    buckets=LATENCY_BUCKETS_S,
    registry=REGISTRY,
)
TURN = Histogram(
    "samtale_turn_duration_seconds",
    "Message received to end event",
    ["chatbot", "flow"],
    buckets=LATENCY_BUCKETS_S,
    registry=REGISTRY,
)
TURNS = Counter("samtale_turns", "Turns processed", ["chatbot", "flow", "status"], registry=REGISTRY)
TOKENS = Counter("samtale_tokens", "LLM tokens", ["chatbot", "flow", "kind"], registry=REGISTRY)
TOKENS_PER_S = Histogram(
    "samtale_tokens_per_second",
    "Completion tokens per second of streaming",
    ["chatbot", "flow"],
    buckets=TOKENS_PER_S_BUCKETS,
    registry=REGISTRY,
)
ERRORS = Counter("samtale_errors", "Errors logged, by category", ["category"], registry=REGISTRY)

_sources: dict[str, Any] = {"pools": None, "caches": None}


def register_stats_sources(*, pools: Any = None, caches: Any = None) -> None:
    """Export ``pools.stats()`` (an ``HttpPools``) and ``caches.stats()`` (a ``CacheRegistry``) as gauges.

    Call from the app's lifespan after creating them; pass None to stop exporting one.
    """
    _sources["pools"] = pools
    _sources["caches"] = caches


def _stat_samples() -> Iterator[tuple[str, str, dict[str, str], float]]:
    """(metric name, help, labels, value) for every pool and cache statistic."""
    pools, caches = _sources["pools"], _sources["caches"]
    if pools is not None:
        for pool, stats in pools.stats().items():
            for field in POOL_COUNTERS:
                yield f"samtale_http_pool_{field}", f"Outbound HTTP pool {field}", {"pool": pool}, stats[field]
            for quantile, value in stats["latency_ms"].items():
                labels = {"pool": pool, "quantile": quantile}
                yield "samtale_http_pool_latency_ms", "Outbound HTTP pool latency over recent requests", labels, value
    if caches is not None:
        for cache, stats in caches.stats().items():
            for field in CACHE_FIELDS:
                yield f"samtale_cache_{field}", f"Cache {field}", {"cache": cache}, stats[field]


class StatsCollector(Collector):
    """Reads pool and cache statistics at scrape time (single-process mode)."""

    def collect(self) -> Iterable[Metric]:
        """Yield one gauge family per statistic."""
        families: dict[str, GaugeMetricFamily] = {}
        for name, doc, labels, value in _stat_samples():
            family = families.get(name)
            if family is None:
                family = families[name] = GaugeMetricFamily(name, doc, labels=list(labels))
            family.add_metric(list(labels.values()), float(value))
        return list(families.values())


REGISTRY.register(StatsCollector())

_mirror_gauges: dict[str, Gauge] = {}


def _mirror_stats() -> None:
    """Copy pool and cache statistics into multiprocess gauges (summed over live workers;
    latency quantiles: the highest live worker's)."""
    for name, doc, labels, value in _stat_samples():
        gauge = _mirror_gauges.get(name)
        if gauge is None:
            mode: Literal["livemax", "livesum"] = "livemax" if name.endswith("latency_ms") else "livesum"
            gauge = _mirror_gauges[name] = Gauge(name, doc, list(labels), registry=None, multiprocess_mode=mode)
        gauge.labels(**labels).set(float(value))


def _field(row: Any, name: str) -> Any:
    return row.get(name) if isinstance(row, Mapping) else getattr(row, name, None)


def observe_turn(row: Any) -> None:
    """Record one finished turn; ``row`` is a ``ConversationProcessingMetrics`` or any object/mapping
    with its fields (``chatbot_id``, ``flow_type``, ``status``, ``ttft_ms``, ``total_ms``,
    ``{phase}_ms``, ``prompt_tokens``, ``completion_tokens``, ``tokens_per_s``; ms, tokens).
    Missing or None timings are skipped."""
    chatbot, flow = str(_field(row, "chatbot_id") or "unknown"), str(_field(row, "flow_type") or "unknown")
    TURNS.labels(chatbot, flow, str(_field(row, "status") or "ok")).inc()
    ttft_ms = _field(row, "ttft_ms")
    if ttft_ms is not None:
        TTFT.labels(chatbot, flow).observe(ttft_ms / 1000.0)
    total_ms = _field(row, "total_ms")
    if total_ms:
        TURN.labels(chatbot, flow).observe(total_ms / 1000.0)
    for phase in PHASES:
        value = _field(row, f"{phase}_ms")
        if value is not None:
            PHASE.labels(chatbot, flow, phase).observe(value / 1000.0)
    for kind in ("prompt", "completion"):
        tokens = _field(row, f"{kind}_tokens")
        if tokens:
            TOKENS.labels(chatbot, flow, kind).inc(tokens)
    tokens_per_s = _field(row, "tokens_per_s")
    if tokens_per_s is not None:
        TOKENS_PER_S.labels(chatbot, flow).observe(tokens_per_s)
    if multiprocess_dir():
        _mirror_stats()


def observe_request(*, method: str, route: str, status: int, duration_s: float) -> None:
    """Record one HTTP request; ``route`` is the route template (``/api/stream/{id}``), never the raw
    path, so ids do not explode the label set."""
    REQUEST_LATENCY.labels(method, route, str(status)).observe(duration_s)


def count_error(category: ErrorCategory) -> None:
    """Count one error of ``category``."""
    ERRORS.labels(category.value).inc()


def render_metrics() -> tuple[bytes, str]:
    """The Prometheus text exposition and its content type, for ``GET /metrics``."""
    directory = multiprocess_dir()
    if directory:
        _mirror_stats()
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=directory)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def mark_worker_dead(pid: int | None = None) -> None:
    """Tell multiprocess mode a worker exited so its live gauges stop counting (no-op otherwise)."""
    directory = multiprocess_dir()
    if directory:
        multiprocess.mark_process_dead(pid if pid is not None else os.getpid(), path=directory)
