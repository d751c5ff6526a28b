"""The analytics worker: topic and score of every stored turn, in the background.

The turn recorder hands over each batch of turns once it is committed (``Services`` converts
them to :class:`TurnFacts`); the worker's single task drains its queue, classifies the batch's
questions (offline in a worker thread, or with the chatbot's LLM), scores each turn with the
rubric of :mod:`samtale.analytics.score` and writes one ``conversation_analytics`` row per turn.
Nothing of this runs on the turn's path: the shopper's answer has streamed and been stored
before the worker sees it.

A turn also tells on the one before it in its conversation: when the shopper repeats the
question (:func:`~samtale.analytics.score.is_repeat`) or asks for a person, the earlier row is
marked (``repeated`` / ``asked_for_person``) and its score drops one point.

The multilingual embedder costs 7–15 ms a question (``bench/analytics.py``: ~84 turns/s on one
core, against ~10,000/s without it), a chatbot's model a round trip per turn (asked for at most
:data:`LLM_CONCURRENCY` turns at once). So that the worker keeps up with any turn rate, a batch
uses them only while the worker is not behind: when the batch and what waits after it hold more
than :data:`EMBED_BACKLOG` turns, that batch is classified by n-grams and keyword rules alone and
scored by the heuristic (the results' sources say so).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Table, insert, select, update

from samtale.analytics.classify import offline_classifier, uses_llm
from samtale.analytics.score import (
    ASKS_FOR_PERSON,
    TurnSignals,
    answered_nothing,
    heuristic_score,
    is_repeat,
    llm_score,
)
from samtale.analytics.topics import LLMTopicClassifier, TopicResult
from samtale.chatbots.schema import ChatbotConfig, FlowConfig
from samtale.errors import SamtaleError
from samtale.llm.base import LLMProvider
from samtale.settings import Settings
from samtale.storage.db import Database
from samtale.storage.models import ConversationAnalytics, ConversationSession, Message, MessageFeedback

logger = logging.getLogger(__name__)


def _table(model: Any) -> Table:
    """The Core table of an ORM model (rows are written with Core ``executemany``)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


ANALYTICS = _table(ConversationAnalytics)
EMBED_BACKLOG = 100
"""Turns (this batch and the queue behind it) above which a batch is classified without the embedder."""
LLM_CONCURRENCY = 8
"""A chatbot's model is asked about at most this many turns at once."""

T = TypeVar("T")


async def _bounded(calls: list[Coroutine[Any, Any, T]]) -> list[T]:
    """Await ``calls`` concurrently, at most :data:`LLM_CONCURRENCY` at a time, results in order."""
    gate = asyncio.Semaphore(LLM_CONCURRENCY)

    async def one(call: Coroutine[Any, Any, T]) -> T:
        async with gate:
            return await call

    return list(await asyncio.gather(*(one(call) for call in calls)))


@dataclass(frozen=True, slots=True)
class TurnFacts:
    """What the worker needs of one stored turn.

    Attributes:
        status: ``ok`` for a completed turn, else the turn's status (``failed`` …).
        best_score: best retrieval score of the chunks that grounded the answer (None: none).
        sources: how many chunks grounded it; ``order_shown``: a verified order was shown.
        order_flow: the turn ran in an ``apiflow`` flow.
        ttft_ms: time to first token (ms) from the turn's metrics.
    """

    chatbot_id: str
    session_id: str
    streaming_session_id: str
    user_id: str
    question: str
    answer: str
    language: str
    status: str
    error_category: str | None
    flow_type: str
    route_key: str | None
    speculative_hit: bool | None
    ttft_ms: float | None
    best_score: float | None
    sources: int
    order_shown: bool
    started_at: datetime

    @property
    def order_flow(self) -> bool:
        """True when the turn ran in the order flow."""
        return self.flow_type == "apiflow"


class AnalyticsWorker:
    """A background classifier and writer of :class:`TurnFacts` batches.

    Args:
        db: the database.
        settings: process settings (``analytics_embedder``, the default LLM provider).
        load_chatbot: the chatbot's config by id (the services' cached loader).
        provider_factory: the LLM provider of a chatbot's flow (used when :func:`uses_llm`).
        max_batch: the most turns classified and written together.
    """

    def __init__(
        self,
        *,
        db: Database,
        settings: Settings,
        load_chatbot: Callable[[str], Awaitable[ChatbotConfig]],
        provider_factory: Callable[[ChatbotConfig, FlowConfig], LLMProvider],
        max_batch: int = 500,
    ) -> None:
        self.db = db
        self.settings = settings
        self.load_chatbot = load_chatbot
        self.provider_factory = provider_factory
        self.max_batch = max_batch
        self._queue: asyncio.Queue[TurnFacts] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.turns_written = 0
        self.failures = 0

    def start(self) -> None:
        """Start the worker task (idempotent)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="samtale-analytics")

    def submit(self, turns: list[TurnFacts]) -> None:
        """Queue stored turns for analysis (never blocks)."""
        for turn in turns:
            self._queue.put_nowait(turn)

    async def flush(self) -> None:
        """Wait until every turn submitted so far is analysed (or failed)."""
        await self._queue.join()

    async def close(self) -> None:
        """Analyse what is queued, then stop."""
        if self._task is None:
            return
        await self.flush()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except asyncio.QueueEmpty:
                    break
            try:
                await self.process(batch)
                self.turns_written += len(batch)
            except Exception:
                self.failures += 1
                logger.exception("could not analyse %d turn(s)", len(batch))
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _topics(self, config: ChatbotConfig, turns: list[TurnFacts], *, behind: bool) -> list[TopicResult]:
        classifier = await asyncio.to_thread(offline_classifier, config, settings=self.settings)
        if not behind and config.topics and uses_llm(config, settings=self.settings):
            judge = LLMTopicClassifier(
                topics=config.topics,
                provider=self.provider_factory(config, config.main_flow),
                model=config.llm.model,
                offline=classifier,
            )
            return await _bounded([judge.classify(turn.question) for turn in turns])
        texts = [turn.question for turn in turns]
        return await asyncio.to_thread(classifier.classify_many, texts, embed=not behind)

    async def _scores(
        self, config: ChatbotConfig, turns: list[TurnFacts], signals: list[TurnSignals], *, behind: bool
    ) -> list[tuple[int, str]]:
        if behind or not uses_llm(config, settings=self.settings):
            return [heuristic_score(one) for one in signals]
        provider = self.provider_factory(config, config.main_flow)
        return await _bounded(
            [
                llm_score(provider=provider, model=config.llm.model, question=turn.question, signals=one)
                for turn, one in zip(turns, signals, strict=True)
            ]
        )

    async def process(self, batch: list[TurnFacts]) -> None:
        """Classify, score and write one batch (the worker's step; tests and benches call it too).

        While the worker is behind (this batch and the queue after it hold more than
        :data:`EMBED_BACKLOG` turns) the batch is classified and scored offline without the
        embedder, so that neither the embedder nor a model's latency lets the queue grow.

        Raises:
            SQLAlchemyError: the rows could not be written (the worker logs it and goes on).
        """
        behind = len(batch) + self._queue.qsize() > EMBED_BACKLOG
        rows: list[dict[str, Any]] = []
        by_chatbot: dict[str, list[TurnFacts]] = {}
        for turn in batch:
            by_chatbot.setdefault(turn.chatbot_id, []).append(turn)
        for chatbot_id, turns in by_chatbot.items():
            try:
                config = await self.load_chatbot(chatbot_id)
            except SamtaleError as exc:  # removed since the turn (or its config is broken): skip its turns
                logger.warning("no analytics for %d turn(s) of chatbot %s: %s", len(turns), chatbot_id, exc.message)
                continue
            topics = await self._topics(config, turns, behind=behind)
            signals = [
                TurnSignals(
                    status=turn.status,
                    answer=turn.answer,
                    best_score=turn.best_score,
                    sources=turn.sources,
                    order_shown=turn.order_shown,
                    order_flow=turn.order_flow,
                    topic=topic.topic,
                    error_category=turn.error_category,
                )
                for turn, topic in zip(turns, topics, strict=True)
            ]
            scores = await self._scores(config, turns, signals, behind=behind)
            for turn, topic, (score, score_source) in zip(turns, topics, scores, strict=True):
                rows.append(
                    {
                        "chatbot_id": turn.chatbot_id,
                        "session_id": turn.session_id,
                        "message_id": None,
                        "streaming_session_id": turn.streaming_session_id,
                        "user_id": turn.user_id,
                        "question": turn.question,
                        "language": turn.language,
                        "topic": topic.topic,
                        "topic_confidence": topic.confidence,
                        "topic_source": topic.source,
                        "score": score,
                        "score_source": score_source,
                        "best_score": turn.best_score,
                        "sources": turn.sources,
                        "answered": turn.status == "ok" and not answered_nothing(turn.answer),
                        "route_key": turn.route_key,
                        "speculative_hit": turn.speculative_hit,
                        "ttft_ms": turn.ttft_ms,
                        "status": turn.status,
                        "error_category": turn.error_category,
                        "repeated": False,
                        "asked_for_person": False,
                        "created_at": turn.started_at,
                    }
                )
        await self._write(rows)

    async def _write(self, rows: list[dict[str, Any]]) -> None:
        """Insert the rows with their assistant message ids, and mark the turns before them.

        A turn whose conversation was removed meanwhile (a shopper's erasure, retention) is left out.
        """
        if not rows:
            return
        async with self.db.engine.begin() as conn:
            present = set(
                (
                    await conn.execute(
                        select(ConversationSession.id).where(
                            ConversationSession.id.in_(sorted({row["session_id"] for row in rows}))
                        )
                    )
                ).scalars()
            )
            rows = [row for row in rows if row["session_id"] in present]
            if not rows:
                return
            streams = [row["streaming_session_id"] for row in rows]
            found = await conn.execute(
                select(Message.streaming_session_id, Message.id).where(
                    Message.streaming_session_id.in_(streams), Message.role == "assistant"
                )
            )
            message_ids = {stream: message_id for stream, message_id in found.all()}
            # A shopper who rated the answer before the worker reached it: the rating is the score.
            rated = {
                message_id: rating
                for message_id, rating in (
                    await conn.execute(
                        select(MessageFeedback.message_id, MessageFeedback.rating).where(
                            MessageFeedback.message_id.in_(list(message_ids.values()))
                        )
                    )
                ).all()
            }
            sessions = sorted({row["session_id"] for row in rows})
            previous: dict[str, dict[str, Any]] = {}
            earlier = await conn.execute(
                select(
                    ANALYTICS.c.id,
                    ANALYTICS.c.session_id,
                    ANALYTICS.c.question,
                    ANALYTICS.c.score,
                    ANALYTICS.c.score_source,
                    ANALYTICS.c.created_at,
                )
                .where(ANALYTICS.c.session_id.in_(sessions))
                .order_by(ANALYTICS.c.created_at)
            )
            for row_id, session_id, question, score, source, _created in earlier.all():
                previous[session_id] = {"id": row_id, "question": question, "score": score, "source": source}
            marks: dict[int, dict[str, Any]] = {}
            for row in sorted(rows, key=lambda item: item["created_at"]):
                row["message_id"] = message_ids.get(row["streaming_session_id"])
                rating = rated.get(row["message_id"] or "")
                if rating is not None:
                    row["score"], row["score_source"] = heuristic_score(
                        TurnSignals(status=row["status"], answer="", feedback=rating)
                    )
                before = previous.get(row["session_id"])
                if before is not None:
                    repeated = is_repeat(row["question"], before["question"])
                    person = ASKS_FOR_PERSON.search(row["question"]) is not None
                    if repeated or person:
                        # The earlier turn: a stored row (marked by an UPDATE) or one of this batch.
                        target = before.get("row")
                        if target is None:
                            target = marks.setdefault(before["id"], {"repeated": False, "asked_for_person": False})
                        target["repeated"] = bool(target.get("repeated")) or repeated
                        target["asked_for_person"] = bool(target.get("asked_for_person")) or person
                        if before["source"] != "feedback":
                            target["score"] = max(1, int(before["score"]) - int(repeated) - int(person))
                previous[row["session_id"]] = {
                    "row": row,
                    "question": row["question"],
                    "score": row["score"],
                    "source": row["score_source"],
                }
            await conn.execute(insert(ANALYTICS), rows)
            for row_id, values in marks.items():
                await conn.execute(update(ANALYTICS).where(ANALYTICS.c.id == row_id).values(**values))
