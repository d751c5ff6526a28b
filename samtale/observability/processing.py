"""Processing metrics per chatbot and flow over a time window (``GET /api/monitoring/processing-metrics``).

Counts, means and error rates are SQL aggregates (portable to SQLite and PostgreSQL). TTFT
percentiles use ``percentile_cont`` on PostgreSQL; SQLite has no percentile function, so there
the window's TTFT values are read (one float column, sorted by the database) and interpolated in
Python the same way (linear interpolation between closest ranks, as ``percentile_cont``).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import case, func, select

from samtale.observability.metrics import PHASES
from samtale.storage.db import Database
from samtale.storage.models.observability import ConversationProcessingMetrics as Row


class FlowProcessingMetrics(BaseModel):
    """Aggregates of one chatbot's flow over the window. Times in ms; None when no turn had the figure."""

    chatbot_id: str
    flow_type: str
    count: int
    errors: int
    error_rate: float
    ttft_ms_p50: float | None
    ttft_ms_p95: float | None
    ttft_ms_mean: float | None
    total_ms_mean: float | None
    tokens_per_s_mean: float | None
    completion_tokens: int
    phase_ms_mean: dict[str, float | None]


def interpolated_percentile(sorted_values: list[float], q: float) -> float | None:
    """Percentile ``q`` (0–1) of sorted values by linear interpolation (PostgreSQL ``percentile_cont``);
    None when empty."""
    if not sorted_values:
        return None
    position = q * (len(sorted_values) - 1)
    lower = int(position)
    upper = min(lower + 1, len(sorted_values) - 1)
    return sorted_values[lower] + (sorted_values[upper] - sorted_values[lower]) * (position - lower)


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 2)


async def processing_metrics(
    *, db: Database, since: datetime, chatbot_id: str | None = None
) -> list[FlowProcessingMetrics]:
    """Per (chatbot, flow) figures for turns created at or after ``since`` (timezone-aware).

    Args:
        db: the process database.
        since: start of the window (e.g. now − 24 h).
        chatbot_id: one tenant, or None for every chatbot.

    Returns:
        One entry per chatbot and flow that had turns, ordered by chatbot then flow. A turn is an
        error when its ``status`` is not ``ok``.
    """
    filters = [Row.created_at >= since]
    if chatbot_id is not None:
        filters.append(Row.chatbot_id == chatbot_id)
    phase_columns = [func.avg(getattr(Row, f"{phase}_ms")).label(phase) for phase in PHASES]
    is_postgres = db.engine.dialect.name == "postgresql"
    percentile_columns = (
        [
            func.percentile_cont(0.5).within_group(Row.ttft_ms).label("p50"),
            func.percentile_cont(0.95).within_group(Row.ttft_ms).label("p95"),
        ]
        if is_postgres
        else []
    )
    query = (
        select(
            Row.chatbot_id,
            Row.flow_type,
            func.count().label("count"),
            func.sum(case((Row.status != "ok", 1), else_=0)).label("errors"),
            func.avg(Row.ttft_ms).label("ttft_mean"),
            func.avg(Row.total_ms).label("total_mean"),
            func.avg(Row.tokens_per_s).label("tps_mean"),
            func.coalesce(func.sum(Row.completion_tokens), 0).label("completion_tokens"),
            *phase_columns,
            *percentile_columns,
        )
        .where(*filters)
        .group_by(Row.chatbot_id, Row.flow_type)
        .order_by(Row.chatbot_id, Row.flow_type)
    )
    async with db.session() as session:
        groups = (await session.execute(query)).mappings().all()
        ttfts: dict[tuple[str, str], list[float]] = defaultdict(list)
        if not is_postgres and groups:
            values = await session.execute(
                select(Row.chatbot_id, Row.flow_type, Row.ttft_ms)
                .where(*filters, Row.ttft_ms.is_not(None))
                .order_by(Row.chatbot_id, Row.flow_type, Row.ttft_ms)
            )
            for bot, flow, ttft in values:
                if ttft is not None:
                    ttfts[(bot, flow)].append(float(ttft))

    result: list[FlowProcessingMetrics] = []
    for group in groups:
        key = (group["chatbot_id"], group["flow_type"])
        if is_postgres:
            p50, p95 = group["p50"], group["p95"]
        else:
            p50, p95 = interpolated_percentile(ttfts[key], 0.5), interpolated_percentile(ttfts[key], 0.95)
        count, errors = int(group["count"]), int(group["errors"] or 0)
        result.append(
            FlowProcessingMetrics(
                chatbot_id=key[0],
                flow_type=key[1],
                count=count,
                errors=errors,
                error_rate=round(errors / count, 4) if count else 0.0,
                ttft_ms_p50=_round(p50),
                ttft_ms_p95=_round(p95),
                ttft_ms_mean=_round(group["ttft_mean"]),
                total_ms_mean=_round(group["total_mean"]),
                tokens_per_s_mean=_round(group["tps_mean"]),
                completion_tokens=int(group["completion_tokens"]),
                phase_ms_mean={phase: _round(group[phase]) for phase in PHASES},
            )
        )
    return result
