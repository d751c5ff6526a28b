"""Analysing turns stored before the analytics worker saw them (``samtale analytics backfill``).

Turns stored before migration 0008, or while ``SAMTALE_ANALYTICS_ENABLED`` was off, have no
``conversation_analytics`` row. :func:`backfill_chatbot` reads each such turn back from the store
(the shopper's message, the answer, the conversation's shopper, the turn's metrics while they are
kept, whether an ``order`` event was stored) and hands them to the worker's
:meth:`~samtale.analytics.worker.AnalyticsWorker.process` in batches of :data:`BATCH` (small
enough for the embedder and the chatbot's model to be used, as for live turns).

What the store no longer knows is left out of the score: the cosine similarity of the sources
is not stored (``context_chunks`` keeps the fused rank score), so ``best_score`` is None and the
heuristic scores a grounded answer by its sources' count alone (3, or 4 for small talk).
"""

from __future__ import annotations

from sqlalchemy import and_, exists, func, select
from sqlalchemy.orm import aliased

from samtale.analytics.worker import AnalyticsWorker, TurnFacts
from samtale.storage.db import Database
from samtale.storage.models import (
    ContextChunkUsed,
    ConversationAnalytics,
    ConversationProcessingMetrics,
    ConversationSession,
    Message,
    StreamingEvent,
)

BATCH = 100
"""Turns per call of the worker (at most ``EMBED_BACKLOG``: the embedder and model are used)."""


async def pending_after(db: Database, *, chatbot_id: str, after: str, limit: int) -> tuple[list[TurnFacts], str]:
    """The next ``limit`` answers (by message id after ``after``) without an analytics row, and the
    message id to continue after."""
    answer = aliased(Message)
    question = aliased(Message)
    metrics = ConversationProcessingMetrics
    sources = (
        select(func.count())
        .where(ContextChunkUsed.message_id == answer.id, ContextChunkUsed.chatbot_id == chatbot_id)
        .scalar_subquery()
    )
    order_shown = exists().where(
        StreamingEvent.streaming_session_id == answer.streaming_session_id,
        StreamingEvent.chatbot_id == chatbot_id,
        StreamingEvent.event == "order",
    )
    query = (
        select(
            answer.id,
            answer.session_id,
            answer.streaming_session_id,
            answer.content,
            answer.status,
            answer.flow_type,
            answer.language,
            answer.extra,
            question.content,
            question.created_at,
            ConversationSession.user_id,
            metrics.route_key,
            metrics.speculative_hit,
            metrics.ttft_ms,
            metrics.error_category,
            sources,
            order_shown,
        )
        .join(question, and_(question.session_id == answer.session_id, question.sequence == answer.sequence - 1))
        .join(ConversationSession, ConversationSession.id == answer.session_id)
        .outerjoin(
            metrics,
            and_(metrics.streaming_session_id == answer.streaming_session_id, metrics.chatbot_id == chatbot_id),
        )
        .where(
            answer.chatbot_id == chatbot_id,
            answer.role == "assistant",
            answer.streaming_session_id.is_not(None),
            answer.id > after,
            ~exists().where(ConversationAnalytics.streaming_session_id == answer.streaming_session_id),
        )
        .order_by(answer.id)
        .limit(limit)
    )
    async with db.engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    if not rows:
        return [], after
    facts = [
        TurnFacts(
            chatbot_id=chatbot_id,
            session_id=row[1],
            streaming_session_id=str(row[2]),
            user_id=row[10],
            question=row[8],
            answer=row[3],
            language=row[6] or "en",
            status="ok" if row[4] == "ok" else "failed",
            error_category=row[14] or (row[7] or {}).get("error"),
            flow_type=row[5] or "main",
            route_key=row[11],
            speculative_hit=row[12],
            ttft_ms=row[13],
            best_score=None,
            sources=int(row[15] or 0),
            order_shown=bool(row[16]),
            started_at=row[9],
        )
        for row in rows
    ]
    return facts, str(rows[-1][0])


async def backfill_chatbot(*, db: Database, worker: AnalyticsWorker, chatbot_id: str, batch: int = BATCH) -> int:
    """Analyse every stored turn of the chatbot that has no analytics row; returns how many were
    handed to the worker (a turn whose conversation went meanwhile is left out by the worker).

    Raises:
        SQLAlchemyError: the store cannot be read or written.
    """
    after = ""
    handed = 0
    while True:
        facts, after = await pending_after(db, chatbot_id=chatbot_id, after=after, limit=batch)
        if not facts:
            return handed
        await worker.process(facts)
        handed += len(facts)
