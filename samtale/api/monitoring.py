"""Monitoring (seed 000 §4.4): system health, pools, caches, processing metrics, Prometheus.

Every ``/api/monitoring/*`` endpoint needs an admin API key. ``/metrics`` takes
``Authorization: Bearer <SAMTALE_METRICS_TOKEN>`` (Prometheus's ``authorization`` scrape config) or
a deployment admin key; with no metrics token set it is open in development and test mode only.
"""

from __future__ import annotations

import hmac
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from samtale.api.deps import (
    AdminKeyDep,
    ClientAddressDep,
    ServicesDep,
    optional_api_key,
    presented_api_key,
    require_chatbot_access,
)
from samtale.api.errors import error_responses
from samtale.api.responses import FastJSONResponse
from samtale.api.schemas_ops import (
    CachesResponse,
    ClearCacheResponse,
    MonitoringHealthResponse,
    PoolsResponse,
    ProcessingMetricsResponse,
    ResetPoolsResponse,
)
from samtale.chatbots.apikeys import ApiKeyInfo
from samtale.errors import AuthError, PermissionDeniedError
from samtale.observability.metrics import render_metrics
from samtale.observability.processing import processing_metrics
from samtale.observability.system import system_state
from samtale.services import Services
from samtale.storage.base import utcnow

router = APIRouter(prefix="/api/monitoring", tags=["monitoring"])
metrics_router = APIRouter(tags=["monitoring"])


@router.get("/conversation-health", response_model=MonitoringHealthResponse, responses=error_responses(401, 403, 422))
async def monitoring_health(services: ServicesDep, key: AdminKeyDep) -> FastJSONResponse:
    """The whole system's health: database, cache backend, streams, the turn writer, process state."""
    db_ok = await services.db.ping()
    recorder = services.recorder
    return FastJSONResponse(
        {
            "status": "healthy" if db_ok and recorder.failures == 0 else "degraded",
            "database": "connected" if db_ok else "unreachable",
            "cache_backend": services.caches.backend,
            "cache_sweeps": services.caches.sweeps,
            "active_streams": services.hub.active_count,
            "retained_streams": len(services.hub),
            "running_turns": services.conversation.running_turns,
            "recorder": {
                "turns_written": recorder.turns_written,
                "batches_written": recorder.batches_written,
                "failed_batches": recorder.failures,
            },
            "system": system_state(),
            "timestamp": utcnow().isoformat(),
        }
    )


@router.get("/connection-pools", response_model=PoolsResponse, responses=error_responses(401, 403, 422))
async def monitoring_pools(services: ServicesDep, key: AdminKeyDep) -> FastJSONResponse:
    """Outbound HTTP pool statistics keyed ``ai``, ``orders``, ``general``."""
    return FastJSONResponse(services.pools.stats())


@router.get("/cache-stats", response_model=CachesResponse, responses=error_responses(401, 403, 422))
async def monitoring_caches(services: ServicesDep, key: AdminKeyDep) -> FastJSONResponse:
    """Hits, misses, hit rate and size of each cache (``config``, ``prompts``, ``assignments``)."""
    return FastJSONResponse(services.caches.stats())


@router.get("/processing-metrics", response_model=ProcessingMetricsResponse, responses=error_responses(401, 403, 422))
async def monitoring_processing(
    services: ServicesDep,
    key: AdminKeyDep,
    window_minutes: Annotated[int, Query(ge=1, le=60 * 24 * 31)] = 60 * 24,
    chatbot_id: Annotated[str | None, Query()] = None,
) -> FastJSONResponse:
    """Per chatbot and flow over the window: turns, TTFT p50/p95, tokens/s, phase means, error rate."""
    if chatbot_id is not None:
        require_chatbot_access(key, chatbot_id)
    elif key.chatbot_id is not None:
        chatbot_id = key.chatbot_id
    since = utcnow() - timedelta(minutes=window_minutes)
    rows = await processing_metrics(db=services.db, since=since, chatbot_id=chatbot_id)
    return FastJSONResponse(
        {
            "window_minutes": window_minutes,
            "since": since.isoformat(),
            "flows": [row.model_dump(mode="json") for row in rows],
        }
    )


def _require_deployment_admin(key: ApiKeyInfo) -> None:
    """Deployment-wide actions need an admin key that is not scoped to one chatbot (403 otherwise)."""
    if key.chatbot_id is not None:
        raise PermissionDeniedError("this action affects every chatbot; it needs an admin key for all chatbots")


@router.post("/clear-cache", response_model=ClearCacheResponse, responses=error_responses(401, 403, 422))
async def monitoring_clear_cache(services: ServicesDep, key: AdminKeyDep) -> FastJSONResponse:
    """Empty every cache in every worker (admin key for all chatbots)."""
    _require_deployment_admin(key)
    await services.caches.clear_all()
    return FastJSONResponse({"success": True, "caches": services.caches.stats()})


@router.post("/reset-pool-stats", response_model=ResetPoolsResponse, responses=error_responses(401, 403, 422))
async def monitoring_reset_pools(services: ServicesDep, key: AdminKeyDep) -> FastJSONResponse:
    """Zero this worker's outbound pool statistics (admin key for all chatbots)."""
    _require_deployment_admin(key)
    services.pools.reset()
    return FastJSONResponse({"success": True, "pools": services.pools.stats()})


@metrics_router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "Prometheus text format"},
        **error_responses(401, 403, 422, 429),
    },
)
async def prometheus_metrics(
    services: ServicesDep,
    address: ClientAddressDep,
    key: Annotated[str | None, Depends(presented_api_key)],
) -> Response:
    """Prometheus exposition: request latency, TTFT and phase histograms, tokens, pools, caches, errors.

    Raises:
        AuthError: a token is required (see the module docstring) and none or a wrong one was sent.
        PermissionDeniedError: an admin key limited to one chatbot was sent.
        RateLimitExceeded: the address presented too many wrong keys (429).
    """
    await _authorize_scrape(services=services, presented=key, address=address)
    body, content_type = render_metrics()
    return Response(content=body, media_type=content_type)


async def _authorize_scrape(*, services: Services, presented: str | None, address: str) -> None:
    """Let a scrape through with the metrics token (compared in constant time) or a deployment
    admin key; with no metrics token configured, outside production, let every scrape through.
    A wrong key counts against the address like one on any admin route (``optional_api_key``)."""
    token = services.settings.metrics_token
    if token is None and services.settings.environment != "production":
        return
    if presented is None:
        raise AuthError("/metrics needs the metrics token or an admin API key (Authorization: Bearer …)")
    if token is not None and hmac.compare_digest(presented.encode(), token.get_secret_value().encode()):
        return
    info = await optional_api_key(services, address, presented)
    assert info is not None  # a key was presented: it is valid or optional_api_key raised
    if not info.is_admin or info.chatbot_id is not None:
        raise PermissionDeniedError("/metrics needs an admin key for every chatbot (or the metrics token)")
