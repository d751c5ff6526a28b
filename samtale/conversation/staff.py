"""Stored conversations as the shop's staff read them (admin API): a chatbot's list, and one
conversation with everything stored about each turn.

Every query names the chatbot (the admin key must cover it, checked at the edge); a
conversation of another chatbot is 404 ``session_not_found``, never a hint that it exists. A
soft-deleted conversation is gone here too (it waits only for the retention job).

The list is by last activity (``last_message_at`` descending, ``id`` as the tie-break) with a
keyset cursor (:mod:`samtale.conversation.cursors`), filtered by shopper, by a date range on
last activity (``since``/``until`` inclusive, whole UTC days) and by flow (any message of that
``flow_type``, an ``EXISTS`` on ``messages``).

One conversation costs five queries whatever its length (seed 003: no N+1): the row; its
messages by ``(session_id, sequence)``; the context chunks of its messages (``message_id``
index); the turns' ``conversation_processing_metrics`` rows and the ``order`` events of its
streams (both by ``streaming_session_id`` index). Timings and the order shown hang on the
assistant message of their turn. Metrics are kept ``metrics_retention_days`` (30) and stream
events ``stream_db_retention_s`` (1 day), so older turns show neither.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import ColumnElement, Select, Table, exists, select
from sqlalchemy.ext.asyncio import AsyncConnection

from samtale.conversation.access import ConversationNotFoundError
from samtale.conversation.cursors import Cursor, decode_cursor
from samtale.conversation.library import CS, DEFAULT_PAGE, MAX_PAGE
from samtale.errors import InputError
from samtale.orders.models import Order
from samtale.storage.db import Database
from samtale.storage.models import (
    ContextChunkUsed,
    ConversationProcessingMetrics,
    Message,
    StreamingEvent,
)


def _table(model: Any) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


MESSAGES = _table(Message)
METRICS = _table(ConversationProcessingMetrics)
CHUNKS = _table(ContextChunkUsed)

TIMING_FIELDS = (
    "config_ms",
    "image_ms",
    "routing_ms",
    "retrieval_ms",
    "order_ms",
    "prompt_ms",
    "llm_ttft_ms",
    "stream_ms",
    "persist_ms",
    "ttft_ms",
    "total_ms",
)
"""The phase timings of ``conversation_processing_metrics``, milliseconds (see that model)."""

STAFF_COLUMNS = (
    CS.id,
    CS.user_id,
    CS.title,
    CS.status,
    CS.is_archived,
    CS.is_pinned,
    CS.message_count,
    CS.created_at,
    CS.updated_at,
    CS.last_message_at,
)


@dataclass(frozen=True, slots=True)
class StaffConversationSummary:
    """A conversation in the staff list."""

    id: str
    user_id: str
    title: str | None
    status: str
    is_archived: bool
    is_pinned: bool
    message_count: int
    created_at: datetime
    updated_at: datetime
    last_message_at: datetime | None


@dataclass(frozen=True, slots=True)
class StaffConversationPage:
    """One page of the staff list and the next page's cursor (None on the last)."""

    conversations: list[StaffConversationSummary]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class MessageSource:
    """A knowledge chunk that grounded an answer (``context_chunks``): fused score 0..1, rank 1 = best."""

    chunk_id: str
    document_id: str
    index_name: str
    title: str | None
    score: float
    rank: int


@dataclass(frozen=True, slots=True)
class TurnTimings:
    """A turn's ``conversation_processing_metrics`` row: phases in ms (None: the phase did not run)."""

    flow_type: str
    route_key: str | None
    routing_strategy: str | None
    provider: str
    model: str | None
    status: str
    error_category: str | None
    phases_ms: dict[str, float | None]
    prompt_tokens: int
    completion_tokens: int
    tokens_per_s: float | None


@dataclass(frozen=True, slots=True)
class StaffMessage:
    """A stored message; an assistant message carries its turn's sources, timings and order shown."""

    id: str
    sequence: int
    role: str
    content: str
    status: str
    flow_type: str | None
    streaming_session_id: str | None
    error_category: str | None
    is_edited: bool
    created_at: datetime
    sources: list[MessageSource] = field(default_factory=list)
    timings: TurnTimings | None = None
    order: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class StaffConversation:
    """One conversation for staff: the row, the flows it went through (first use order) and its messages."""

    conversation: StaffConversationSummary
    chatbot_id: str
    flows: list[str]
    messages: list[StaffMessage]


def _summary(row: Any) -> StaffConversationSummary:
    return StaffConversationSummary(
        id=row.id,
        user_id=row.user_id,
        title=row.title,
        status=row.status,
        is_archived=bool(row.is_archived),
        is_pinned=bool(row.is_pinned),
        message_count=int(row.message_count or 0),
        created_at=row.created_at,
        updated_at=row.updated_at,
        last_message_at=row.last_message_at,
    )


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _staff_query(
    *,
    chatbot_id: str,
    user_id: str | None,
    since: date | None,
    until: date | None,
    flow: str | None,
    conversation_ids: Sequence[str] | None,
) -> Select:
    query: Select = select(*STAFF_COLUMNS).where(
        CS.chatbot_id == chatbot_id, CS.deleted_at.is_(None), CS.last_message_at.is_not(None)
    )
    if user_id is not None:
        query = query.where(CS.user_id == user_id)
    if conversation_ids is not None:
        query = query.where(CS.id.in_(list(conversation_ids)))
    if since is not None:
        query = query.where(CS.last_message_at >= _day_start(since))
    if until is not None:
        query = query.where(CS.last_message_at < _day_start(until) + timedelta(days=1))
    if flow is not None:
        query = query.where(
            exists().where(Message.session_id == CS.id, Message.chatbot_id == chatbot_id, Message.flow_type == flow)
        )
    return query


async def list_chatbot_conversations(
    *,
    db: Database,
    chatbot_id: str,
    user_id: str | None = None,
    since: date | None = None,
    until: date | None = None,
    flow: str | None = None,
    conversation_ids: Sequence[str] | None = None,
    cursor: str | None = None,
    limit: int = DEFAULT_PAGE,
    where: Sequence[ColumnElement[bool]] = (),
) -> StaffConversationPage:
    """A chatbot's conversations by last activity, newest first.

    Args:
        chatbot_id: the chatbot (the caller's key covers it).
        user_id: only this shopper's.
        since, until: last activity on or after ``since`` and on or before ``until`` (UTC days).
        flow: only conversations with a message of this flow type (``main``, ``apiflow``…).
        conversation_ids: only these conversations (the list's ``q``: those a message search found).
        where: more clauses on the conversation (``staff_filters.analytics_filters``).
        cursor: the previous page's ``next_cursor``. limit: 1..100, default 20.

    Raises:
        InputError: ``since`` after ``until``, or ``limit`` out of range (422).
        InvalidCursorError: a cursor this list did not hand out (422).
    """
    if not 1 <= limit <= MAX_PAGE:
        raise InputError(f"limit must be 1..{MAX_PAGE}", details={"field": "limit"})
    if since is not None and until is not None and since > until:
        raise InputError("from must not be after to", details={"field": "from"})
    after = decode_cursor(cursor, kind="a")
    query = _staff_query(
        chatbot_id=chatbot_id, user_id=user_id, since=since, until=until, flow=flow, conversation_ids=conversation_ids
    ).where(*where)
    if after is not None:
        query = query.where(
            CS.last_message_at <= after.last_message_at,
            (CS.last_message_at < after.last_message_at) | (CS.id < after.id),
        )
    query = query.order_by(CS.last_message_at.desc(), CS.id.desc()).limit(limit + 1)
    async with db.engine.connect() as conn:
        rows = [_summary(row) for row in (await conn.execute(query)).all()]
    page = rows[:limit]
    next_cursor = None
    last = page[-1] if page else None
    if len(rows) > limit and last is not None and last.last_message_at is not None:
        next_cursor = Cursor(kind="a", pinned=False, last_message_at=last.last_message_at, id=last.id).encode()
    return StaffConversationPage(conversations=page, next_cursor=next_cursor)


def _order_summary(data: Any) -> dict[str, Any] | None:
    """The order of an ``order`` event's data, validated (never more than :class:`Order` holds)."""
    if not isinstance(data, dict) or not isinstance(data.get("order"), dict):
        return None
    try:
        return Order.model_validate(data["order"]).to_summary()
    except ValidationError:
        return None


def _timings(row: Any) -> TurnTimings:
    return TurnTimings(
        flow_type=row.flow_type,
        route_key=row.route_key,
        routing_strategy=row.routing_strategy,
        provider=row.provider,
        model=row.model,
        status=row.status,
        error_category=row.error_category,
        phases_ms={name: getattr(row, name) for name in TIMING_FIELDS},
        prompt_tokens=int(row.prompt_tokens or 0),
        completion_tokens=int(row.completion_tokens or 0),
        tokens_per_s=row.tokens_per_s,
    )


async def _sources(conn: AsyncConnection, *, chatbot_id: str, message_ids: list[str]) -> dict[str, list[MessageSource]]:
    """The context chunks of these messages, best rank first, by message id (one query)."""
    sources: dict[str, list[MessageSource]] = {}
    if not message_ids:
        return sources
    chunks = ContextChunkUsed
    rows = await conn.execute(
        select(CHUNKS)
        .where(chunks.message_id.in_(message_ids), chunks.chatbot_id == chatbot_id)
        .order_by(chunks.message_id, chunks.rank)
    )
    for chunk in rows.all():
        sources.setdefault(chunk.message_id, []).append(
            MessageSource(
                chunk_id=chunk.chunk_id,
                document_id=chunk.document_id,
                index_name=chunk.index_name,
                title=chunk.title,
                score=float(chunk.score),
                rank=chunk.rank,
            )
        )
    return sources


async def _turn_facts(
    conn: AsyncConnection, *, chatbot_id: str, stream_ids: list[str]
) -> tuple[dict[str, TurnTimings], dict[str, dict[str, Any]]]:
    """The timings and the order shown of these turns, by stream id (two queries)."""
    timings: dict[str, TurnTimings] = {}
    orders: dict[str, dict[str, Any]] = {}
    if not stream_ids:
        return timings, orders
    metrics = ConversationProcessingMetrics
    for metric in (
        await conn.execute(
            select(METRICS).where(metrics.streaming_session_id.in_(stream_ids), metrics.chatbot_id == chatbot_id)
        )
    ).all():
        timings[metric.streaming_session_id] = _timings(metric)
    events = await conn.execute(
        select(StreamingEvent.streaming_session_id, StreamingEvent.data).where(
            StreamingEvent.streaming_session_id.in_(stream_ids),
            StreamingEvent.chatbot_id == chatbot_id,
            StreamingEvent.event == "order",
        )
    )
    for stream_id, data in events.all():
        summary = _order_summary(data)
        if summary is not None:
            orders[stream_id] = summary
    return timings, orders


async def load_chatbot_conversation(*, db: Database, chatbot_id: str, conversation_id: str) -> StaffConversation:
    """One of the chatbot's conversations with every message, its sources, timings and order shown.

    Raises:
        ConversationNotFoundError: no such conversation of this chatbot, or a deleted one (404).
    """
    async with db.engine.connect() as conn:
        row = (
            await conn.execute(
                select(*STAFF_COLUMNS, CS.deleted_at).where(CS.id == conversation_id, CS.chatbot_id == chatbot_id)
            )
        ).first()
        if row is None or row.deleted_at is not None:
            raise ConversationNotFoundError(f"unknown conversation session {conversation_id}")
        messages = (
            await conn.execute(
                select(MESSAGES)
                .where(Message.session_id == conversation_id, Message.chatbot_id == chatbot_id)
                .order_by(Message.sequence)
            )
        ).all()
        sources = await _sources(
            conn, chatbot_id=chatbot_id, message_ids=[m.id for m in messages if m.role == "assistant"]
        )
        timings, orders = await _turn_facts(
            conn,
            chatbot_id=chatbot_id,
            stream_ids=sorted({m.streaming_session_id for m in messages if m.streaming_session_id}),
        )
    flows: list[str] = []
    staff_messages: list[StaffMessage] = []
    for message in messages:
        if message.flow_type and message.flow_type not in flows:
            flows.append(message.flow_type)
        turn = message.streaming_session_id if message.role == "assistant" else None
        staff_messages.append(
            StaffMessage(
                id=message.id,
                sequence=message.sequence,
                role=message.role,
                content=message.content,
                status=message.status,
                flow_type=message.flow_type,
                streaming_session_id=message.streaming_session_id,
                error_category=(message.extra or {}).get("error"),
                is_edited=bool(message.is_edited),
                created_at=message.created_at,
                sources=sources.get(message.id, []),
                timings=timings.get(turn) if turn else None,
                order=orders.get(turn) if turn else None,
            )
        )
    return StaffConversation(conversation=_summary(row), chatbot_id=chatbot_id, flows=flows, messages=staff_messages)
