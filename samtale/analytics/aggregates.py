"""The figures shop staff ask for: one chatbot's turns over a window of days, from ``conversation_analytics``.

:func:`chatbot_analytics` answers ``GET /api/admin/chatbots/{id}/analytics`` (every figure is
defined on :class:`AnalyticsReport`); :func:`conversation_rows` the CSV export, one row per
conversation. The window is whole days in the caller's time zone (``tz``, IANA name): ``since``
00:00 to the end of ``until``, local time. ``flow`` (a route key) and ``topic`` narrow every
figure to the turns that match.

Counts, means and groupings are SQL aggregates over the ``(chatbot_id, created_at)`` index. The
days and the TTFT percentiles are SQL on PostgreSQL (``timezone()``, ``percentile_cont``); SQLite
has neither, so there the turns' times are read and grouped here.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from samtale.analytics.score import WEAK_SCORE
from samtale.errors import InputError
from samtale.storage.db import Database
from samtale.storage.fulltext import analyzer
from samtale.storage.models import ConversationAnalytics, ConversationCsat, MessageFeedback

CA = ConversationAnalytics
DEFAULT_DAYS = 30
MAX_DAYS = 366
GAP_LIMIT = 20
"""Knowledge gaps listed (the most asked first)."""
GAP_SCAN = 5000
"""The most recent gap turns grouped (bounds the work on a chatbot with many)."""
WORD = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class Window:
    """Whole local days ``since``..``until`` (inclusive) in ``tz`` (its ``zone``), and their UTC bounds."""

    since: date
    until: date
    tz: str
    zone: ZoneInfo
    start: datetime
    end: datetime


def window(*, since: date | None, until: date | None, tz: str = "UTC", today: date | None = None) -> Window:
    """The window of the request: by default the last :data:`DEFAULT_DAYS` days up to today (in ``tz``).

    Blocking the first time a zone is named (the zone file is read): call it in a worker thread.

    Raises:
        InputError: an unknown time zone, ``since`` after ``until``, more than :data:`MAX_DAYS` days,
            or days at the ends of the calendar (year 1, year 9999).
    """
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError(
            f"unknown time zone '{tz}' (an IANA name such as Europe/Copenhagen)", details={"field": "tz"}
        ) from None
    local_today = today or datetime.now(zone).date()
    try:
        until = until or (since + timedelta(days=DEFAULT_DAYS - 1) if since else local_today)
        since = since or until - timedelta(days=DEFAULT_DAYS - 1)
    except OverflowError:
        raise InputError("from and to must lie between the years 1 and 9999", details={"field": "from"}) from None
    if since > until:
        raise InputError("from must not be after to", details={"field": "from"})
    if (until - since).days + 1 > MAX_DAYS:
        raise InputError(f"a window is at most {MAX_DAYS} days", details={"field": "to"})
    try:
        start = datetime.combine(since, time.min, tzinfo=zone).astimezone(UTC)
        end = datetime.combine(until + timedelta(days=1), time.min, tzinfo=zone).astimezone(UTC)
    except OverflowError:
        raise InputError("from and to must lie between the years 1 and 9999", details={"field": "from"}) from None
    return Window(since=since, until=until, tz=tz, zone=zone, start=start, end=end)


@dataclass(slots=True)
class AnalyticsReport:
    """The figures of one window.

    Attributes:
        conversations: conversations with a turn in the window; ``messages``: shopper messages
            (turns, each answered once); ``users``: distinct shoppers.
        by_day: per local day of the window (every day, zeros included): conversations and messages.
        topics: turns per topic (``none`` for turns of a chatbot without topics).
        flows: turns per route key; ``errors``: failed turns per error category.
        ttft_ms: p50 and p95 time to first token of the turns that had one (None without any).
        feedback: thumbs up and down on the window's answers; ``csat``: mean and count of the
            CSATs of its conversations; ``score``: mean turn score (1–5).
        speculative_hit_rate: share of speculatively routed turns whose guess was right (None
            when none was speculative).
        knowledge_gaps: questions with a weak best retrieval score (< ``WEAK_SCORE``), a
            thumbs-down or an answer that found nothing, grouped by topic and wording (the same
            stemmed words, stop words left out, in any order or case: :func:`wording_key`),
            most asked first: ``question`` (the latest wording),
            ``topic``, ``count``, ``best_score`` (the best any of them got, None: no retrieval).
        flow_performance: per route key: ``turns``, ``errors`` (failed turns), ``score_mean``,
            ``ttft_p50_ms`` (None without a first token) and ``speculative_hit_rate``.
    """

    window: Window
    conversations: int = 0
    messages: int = 0
    users: int = 0
    by_day: list[dict[str, Any]] = field(default_factory=list)
    topics: dict[str, int] = field(default_factory=dict)
    flows: dict[str, int] = field(default_factory=dict)
    ttft_ms: dict[str, float | None] = field(default_factory=lambda: {"p50": None, "p95": None})
    feedback: dict[str, int] = field(default_factory=lambda: {"up": 0, "down": 0})
    csat: dict[str, float | int | None] = field(default_factory=lambda: {"mean": None, "count": 0})
    score: dict[str, float | None] = field(default_factory=lambda: {"mean": None})
    errors: dict[str, int] = field(default_factory=dict)
    speculative_hit_rate: float | None = None
    knowledge_gaps: list[dict[str, Any]] = field(default_factory=list)
    flow_performance: dict[str, dict[str, Any]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The report as the API's body (``from``, ``to``, ``tz`` first)."""
        return {
            "from": self.window.since.isoformat(),
            "to": self.window.until.isoformat(),
            "tz": self.window.tz,
            "conversations": self.conversations,
            "messages": self.messages,
            "users": self.users,
            "by_day": self.by_day,
            "topics": self.topics,
            "flows": self.flows,
            "ttft_ms": self.ttft_ms,
            "feedback": self.feedback,
            "csat": self.csat,
            "score": self.score,
            "errors": self.errors,
            "speculative_hit_rate": self.speculative_hit_rate,
            "knowledge_gaps": self.knowledge_gaps,
            "flow_performance": self.flow_performance,
        }


def _conditions(*, chatbot_id: str, span: Window, flow: str | None, topic: str | None) -> list[Any]:
    conditions: list[Any] = [CA.chatbot_id == chatbot_id, CA.created_at >= span.start, CA.created_at < span.end]
    if flow is not None:
        conditions.append(CA.route_key == flow)
    if topic is not None:
        conditions.append(CA.topic == topic)
    return conditions


def _round(value: Any, places: int = 2) -> float | None:
    return None if value is None else round(float(value), places)


async def _days_and_ttft(conn: AsyncConnection, where: Any, span: Window, report: AnalyticsReport) -> None:
    """Fill ``by_day`` and ``ttft_ms`` (SQL on PostgreSQL, read and grouped here on SQLite)."""
    days = [span.since + timedelta(days=offset) for offset in range((span.until - span.since).days + 1)]
    counts: dict[date, tuple[int, int]] = {}
    if conn.dialect.name == "postgresql":
        local_day = func.date(func.timezone(span.tz, CA.created_at))
        for day, conversations, messages in await conn.execute(
            select(local_day, func.count(func.distinct(CA.session_id)), func.count()).where(where).group_by(local_day)
        ):
            counts[day] = (int(conversations), int(messages))
        p50, p95 = (
            await conn.execute(
                select(
                    func.percentile_cont(0.5).within_group(CA.ttft_ms),
                    func.percentile_cont(0.95).within_group(CA.ttft_ms),
                ).where(where, CA.ttft_ms.is_not(None))
            )
        ).one()
        report.ttft_ms = {"p50": _round(p50), "p95": _round(p95)}
        for key, median in await conn.execute(
            select(CA.route_key, func.percentile_cont(0.5).within_group(CA.ttft_ms))
            .where(where, CA.ttft_ms.is_not(None))
            .group_by(CA.route_key)
        ):
            if (key or "main") in report.flow_performance:
                report.flow_performance[key or "main"]["ttft_p50_ms"] = _round(median)
    else:
        zone = span.zone
        ttfts: list[float] = []
        by_flow: dict[str, list[float]] = {}
        sessions: dict[date, set[str]] = {}
        turns: Counter[date] = Counter()
        for session_id, created_at, ttft, route_key in await conn.execute(
            select(CA.session_id, CA.created_at, CA.ttft_ms, CA.route_key).where(where)
        ):
            day = created_at.astimezone(zone).date()
            sessions.setdefault(day, set()).add(session_id)
            turns[day] += 1
            if ttft is not None:
                ttfts.append(float(ttft))
                by_flow.setdefault(route_key or "main", []).append(float(ttft))
        for key, values in by_flow.items():
            if key in report.flow_performance:
                report.flow_performance[key]["ttft_p50_ms"] = _round(np.percentile(np.asarray(values), 50))
        counts = {day: (len(sessions[day]), turns[day]) for day in sessions}
        if ttfts:
            p50, p95 = np.percentile(np.asarray(ttfts), [50, 95])
            report.ttft_ms = {"p50": _round(p50), "p95": _round(p95)}
    report.by_day = [
        {"date": day.isoformat(), "conversations": counts.get(day, (0, 0))[0], "messages": counts.get(day, (0, 0))[1]}
        for day in days
    ]


def wording_key(question: str, language: str = "en") -> str:
    """The grouping key of similar wordings: the question's distinct stemmed words without stop
    words, sorted (the full-text search's analyzer of the language, so "Where are my orders?" and
    "where is my order" are one question); its plain words when nothing else is left ("hej")."""
    terms = analyzer(language).terms(question) or WORD.findall(question.lower())
    return " ".join(sorted(set(terms)))


async def _knowledge_gaps(conn: AsyncConnection, where: Any) -> list[dict[str, Any]]:
    rated_down = (
        select(MessageFeedback.message_id)
        .where(MessageFeedback.message_id == CA.message_id, MessageFeedback.rating == "down")
        .exists()
    )
    gap = (CA.best_score < WEAK_SCORE) | CA.answered.is_(False) | rated_down
    rows = await conn.execute(
        select(CA.question, CA.topic, CA.best_score, CA.language)
        .where(where, CA.status == "ok", gap)
        .order_by(CA.created_at.desc())
        .limit(GAP_SCAN)
    )
    groups: dict[tuple[str | None, str], dict[str, Any]] = {}
    for question, topic, best_score, language in rows:
        key = (topic, wording_key(question, language))
        group = groups.setdefault(key, {"question": question, "topic": topic, "count": 0, "best_score": None})
        group["count"] += 1
        if best_score is not None and (group["best_score"] is None or best_score > group["best_score"]):
            group["best_score"] = round(float(best_score), 4)
    ranked = sorted(groups.values(), key=lambda group: (-group["count"], group["question"]))
    return ranked[:GAP_LIMIT]


async def chatbot_analytics(
    *, db: Database, chatbot_id: str, span: Window, flow: str | None = None, topic: str | None = None
) -> AnalyticsReport:
    """Every figure of :class:`AnalyticsReport` for the chatbot's turns in ``span``."""
    where = and_(*_conditions(chatbot_id=chatbot_id, span=span, flow=flow, topic=topic))
    report = AnalyticsReport(window=span)
    async with db.engine.connect() as conn:
        totals = (
            await conn.execute(
                select(
                    func.count(),
                    func.count(func.distinct(CA.session_id)),
                    func.count(func.distinct(CA.user_id)),
                    func.avg(CA.score),
                    func.sum(case((CA.speculative_hit.is_(True), 1), else_=0)),
                    func.count(CA.speculative_hit),
                ).where(where)
            )
        ).one()
        report.messages, report.conversations, report.users = int(totals[0]), int(totals[1]), int(totals[2])
        report.score = {"mean": _round(totals[3])}
        report.speculative_hit_rate = _round(int(totals[4] or 0) / totals[5], 4) if totals[5] else None
        report.topics = {
            name or "none": int(count)
            for name, count in await conn.execute(select(CA.topic, func.count()).where(where).group_by(CA.topic))
        }
        per_flow = select(
            CA.route_key,
            func.count(),
            func.sum(case((CA.status != "ok", 1), else_=0)),
            func.avg(CA.score),
            func.sum(case((CA.speculative_hit.is_(True), 1), else_=0)),
            func.count(CA.speculative_hit),
        )
        for key, count, errors, score, hits, speculative in await conn.execute(
            per_flow.where(where).group_by(CA.route_key)
        ):
            report.flows[key or "main"] = int(count)
            report.flow_performance[key or "main"] = {
                "turns": int(count),
                "errors": int(errors or 0),
                "score_mean": _round(score),
                "ttft_p50_ms": None,
                "speculative_hit_rate": _round(int(hits or 0) / speculative, 4) if speculative else None,
            }
        report.errors = {
            str(category): int(count)
            for category, count in await conn.execute(
                select(CA.error_category, func.count())
                .where(where, CA.error_category.is_not(None))
                .group_by(CA.error_category)
            )
        }
        ratings = select(MessageFeedback.rating, func.count()).join(CA, CA.message_id == MessageFeedback.message_id)
        for rating, count in await conn.execute(ratings.where(where).group_by(MessageFeedback.rating)):
            report.feedback[rating] = int(count)
        sessions = select(CA.session_id).where(where).distinct().scalar_subquery()
        mean, count = (
            await conn.execute(
                select(func.avg(ConversationCsat.csat), func.count()).where(
                    ConversationCsat.chatbot_id == chatbot_id, ConversationCsat.session_id.in_(sessions)
                )
            )
        ).one()
        report.csat = {"mean": _round(mean), "count": int(count)}
        await _days_and_ttft(conn, where, span, report)
        report.knowledge_gaps = await _knowledge_gaps(conn, where)
    return report


EXPORT_COLUMNS = [
    "conversation_id",
    "started",
    "messages",
    "topic",
    "score",
    "feedback_up",
    "feedback_down",
    "csat",
    "flows",
    "first_ttft_ms",
]


async def conversation_rows(
    *, db: Database, chatbot_id: str, span: Window, flow: str | None = None, topic: str | None = None
) -> list[dict[str, Any]]:
    """One row per conversation with a turn in ``span`` (columns :data:`EXPORT_COLUMNS`), oldest first.

    ``started`` is its first turn in the window (ISO 8601, UTC); ``topic`` its most frequent topic
    (the earliest on ties); ``score`` the mean turn score; ``flows`` its route keys joined by
    ``|`` in first-use order; ``first_ttft_ms`` its first turn's time to first token.
    """
    where = and_(*_conditions(chatbot_id=chatbot_id, span=span, flow=flow, topic=topic))
    query = (
        select(
            CA.session_id,
            CA.created_at,
            CA.topic,
            CA.score,
            CA.route_key,
            CA.ttft_ms,
            MessageFeedback.rating,
            ConversationCsat.csat,
        )
        .outerjoin(MessageFeedback, MessageFeedback.message_id == CA.message_id)
        .outerjoin(ConversationCsat, ConversationCsat.session_id == CA.session_id)
        .where(where)
        .order_by(CA.created_at, CA.id)
    )
    conversations: dict[str, dict[str, Any]] = {}
    async with db.engine.connect() as conn:
        for session_id, created_at, turn_topic, score, route_key, ttft, rating, csat in await conn.execute(query):
            row = conversations.setdefault(
                session_id,
                {
                    "conversation_id": session_id,
                    "started": created_at.isoformat(),
                    "topics": Counter(),
                    "scores": [],
                    "feedback_up": 0,
                    "feedback_down": 0,
                    "csat": csat,
                    "flows": [],
                    "first_ttft_ms": _round(ttft),
                },
            )
            if turn_topic is not None:
                row["topics"][turn_topic] += 1
            row["scores"].append(score)
            if rating in ("up", "down"):
                row[f"feedback_{rating}"] += 1
            key = route_key or "main"
            if key not in row["flows"]:
                row["flows"].append(key)
    rows: list[dict[str, Any]] = []
    for row in conversations.values():
        topics: Counter[str] = row.pop("topics")
        scores: list[int] = row.pop("scores")
        rows.append(
            {
                **row,
                "messages": len(scores),
                "topic": topics.most_common(1)[0][0] if topics else "",
                "score": round(sum(scores) / len(scores), 2),
                "flows": "|".join(row["flows"]),
            }
        )
    return [{column: row[column] for column in EXPORT_COLUMNS} for row in rows]
