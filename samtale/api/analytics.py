"""A chatbot's analytics for its staff (admin key of the chatbot), under ``/api/admin/chatbots/{chatbot_id}``:

* ``GET /analytics?from=&to=&tz=&flow=&topic=``: the window's figures (conversations, messages,
  users, per day, topics, flows, TTFT, feedback, CSAT, score, errors, speculative routing hit
  rate, knowledge gaps); ``from``/``to`` are local days in ``tz`` (default the last 30 days, UTC).
* ``GET /analytics/export.csv`` (same parameters): one row per conversation.

The figures come from :mod:`samtale.analytics.aggregates`; a figure drills down to its
conversations through the conversation list's ``topic``, ``score_min``/``score_max`` and
``feedback`` filters.
"""

from __future__ import annotations

import asyncio
import csv
import io
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import Response

from samtale.analytics.aggregates import EXPORT_COLUMNS, Window, chatbot_analytics, conversation_rows, window
from samtale.api.admin_conversations import Day
from samtale.api.deps import AdminKeyDep, ServicesDep, require_chatbot_access
from samtale.api.errors import error_responses
from samtale.api.responses import FastJSONResponse
from samtale.api.schemas_analytics import AnalyticsResponse

router = APIRouter(prefix="/api/admin/chatbots/{chatbot_id}/analytics", tags=["admin"])

ChatbotId = Annotated[str, Path(min_length=1, max_length=64)]
Since = Annotated[Day, Query(alias="from", description="first local day (YYYY-MM-DD); default 29 days before to")]
Until = Annotated[Day, Query(alias="to", description="last local day (YYYY-MM-DD); default today")]
Tz = Annotated[
    str, Query(min_length=1, max_length=64, description="IANA time zone of the days, e.g. Europe/Copenhagen")
]
Flow = Annotated[str | None, Query(min_length=1, max_length=64, description="only turns of this route key")]
Topic = Annotated[str | None, Query(min_length=1, max_length=64, description="only turns of this topic")]


@dataclass(frozen=True, slots=True)
class AnalyticsQuery:
    """What both analytics routes read: the chatbot (its key checked), the window and the filters."""

    chatbot_id: str
    span: Window
    flow: str | None
    topic: str | None


async def analytics_query(
    chatbot_id: ChatbotId,
    services: ServicesDep,
    key: AdminKeyDep,
    since: Since = None,
    until: Until = None,
    tz: Tz = "UTC",
    flow: Flow = None,
    topic: Topic = None,
) -> AnalyticsQuery:
    """The request's chatbot, window and filters (403 for a key not covering the chatbot, 404 for
    an unknown chatbot, 422 for a bad day or time zone)."""
    require_chatbot_access(key, chatbot_id)
    chatbot = await services.get_chatbot(chatbot_id)
    span = await asyncio.to_thread(window, since=since, until=until, tz=tz)  # reads the zone file
    return AnalyticsQuery(chatbot_id=chatbot.id, span=span, flow=flow, topic=topic)


AnalyticsQueryDep = Annotated[AnalyticsQuery, Depends(analytics_query)]


@router.get("", response_model=AnalyticsResponse, responses=error_responses(401, 403, 404, 422))
async def analytics(query: AnalyticsQueryDep, services: ServicesDep) -> FastJSONResponse:
    """The chatbot's figures over the window (every field is described in docs/api.md)."""
    report = await chatbot_analytics(
        db=services.db, chatbot_id=query.chatbot_id, span=query.span, flow=query.flow, topic=query.topic
    )
    return FastJSONResponse(report.as_json())


@router.get(
    "/export.csv",
    response_class=Response,
    responses={
        200: {
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "description": "a header row, then one row per conversation",
        },
        **error_responses(401, 403, 404, 422),
    },
)
async def analytics_export(query: AnalyticsQueryDep, services: ServicesDep) -> Response:
    """The window's conversations as CSV: ``conversation_id, started, messages, topic, score,
    feedback_up, feedback_down, csat, flows, first_ttft_ms``."""
    span = query.span
    rows = await conversation_rows(
        db=services.db, chatbot_id=query.chatbot_id, span=span, flow=query.flow, topic=query.topic
    )
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_COLUMNS)
    writer.writeheader()
    for row in rows:
        # A spreadsheet runs a cell starting with = + - @ as a formula: topics and flows are
        # config names, but be safe with every text cell.
        writer.writerow({name: _cell(value) for name, value in row.items()})
    filename = f"{query.chatbot_id}-analytics-{span.since.isoformat()}-{span.until.isoformat()}.csv"
    return Response(
        content=buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _cell(value: object) -> object:
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return "" if value is None else value
