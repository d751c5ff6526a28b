"""``GET /health``: is this process able to answer (seed 004 shape)."""

from __future__ import annotations

from fastapi import APIRouter

from samtale.api.deps import ServicesDep
from samtale.api.responses import FastJSONResponse
from samtale.api.schemas import HealthResponse

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    response_model=HealthResponse,
    responses={503: {"model": HealthResponse, "description": "the database is unreachable"}},
)
async def health(services: ServicesDep) -> FastJSONResponse:
    """``{"status": "ok", "model": …, "db": "ok"}``; 503 with ``db: "unreachable"`` when the database is down."""
    settings = services.settings
    model = "offline" if settings.llm_provider == "offline" else f"{settings.llm_provider}:{settings.llm_model}"
    db_ok = await services.db.ping()
    body = {"status": "ok" if db_ok else "degraded", "model": model, "db": "ok" if db_ok else "unreachable"}
    return FastJSONResponse(body, status_code=200 if db_ok else 503)
