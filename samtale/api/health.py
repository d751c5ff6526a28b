"""``GET /health``: is this process able to answer (seed 004 shape)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import ORJSONResponse

from samtale.api.deps import ServicesDep

router = APIRouter(tags=["health"])


@router.get("/health")
async def health(services: ServicesDep) -> ORJSONResponse:
    """``{"status": "ok", "model": …, "db": "ok"}``; 503 with ``db: "unreachable"`` when the database is down."""
    settings = services.settings
    model = "offline" if settings.llm_provider == "offline" else f"{settings.llm_provider}:{settings.llm_model}"
    db_ok = await services.db.ping()
    body = {"status": "ok" if db_ok else "degraded", "model": model, "db": "ok" if db_ok else "unreachable"}
    return ORJSONResponse(body, status_code=200 if db_ok else 503)
