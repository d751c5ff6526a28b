"""The turn recorder: writes finished turns to the database in batches, off the answer's path.

A turn is handed over as one :class:`TurnRecord` when its stream ends; a single writer task
drains the queue (letting more turns join for ``gather_s``) and writes every waiting turn in one
transaction with Core ``executemany`` statements (sessions, messages, the
streaming session, its events with one ``executemany`` (a run of tokens as one row,
:mod:`samtale.conversation.stored_streams`), the context chunks used and the
metrics row). Nothing is written per token, and the shopper's first token never waits on
the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, update

from samtale.conversation.images import attach_turn_images
from samtale.conversation.search.indexing import MessageDocument, TitleDocument, index_messages, index_titles
from samtale.conversation.shoppers import ShopperSeen, shopper_id, upsert_shoppers
from samtale.conversation.stored_streams import event_rows as event_rows_of
from samtale.conversation.titles import title_from_question
from samtale.conversation.turn import TurnError, TurnMetrics
from samtale.knowledge.types import ContextChunk
from samtale.storage.base import new_id, utcnow
from samtale.storage.db import Database
from samtale.storage.models import (
    ContextChunkUsed,
    ConversationProcessingMetrics,
    ConversationSession,
    Message,
    StreamingEvent,
    StreamingSession,
)
from samtale.streaming.hub import StreamEvent

logger = logging.getLogger(__name__)


def _resolve(batch: list[TurnRecord], written: bool) -> None:
    """Tell each turn's waiter whether its batch was committed (first call wins)."""
    for record in batch:
        if record.written is not None and not record.written.done():
            record.written.set_result(written)


def _table(model: Any) -> Table:
    """The Core table of an ORM model (the recorder writes with Core ``executemany``)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


SESSIONS = _table(ConversationSession)
MESSAGES = _table(Message)
STREAMS = _table(StreamingSession)
EVENTS = _table(StreamingEvent)
CHUNKS = _table(ContextChunkUsed)
METRICS = _table(ConversationProcessingMetrics)


@dataclass(slots=True)
class TurnRecord:
    """Everything one turn stores. ``metrics`` is its ``conversation_processing_metrics`` row
    (the writer adds ``persist_ms``); ``error`` says why a failed turn failed.

    ``new_session`` is True when the turn started its conversation (no session id was given),
    so the writer inserts the session without looking it up; ``token_hash`` is then the
    conversation's token too. ``verified`` says the turn carried a valid ``user_hash`` (the
    shopper's ``verified_at``). ``written`` (optional) is resolved once the batch holding the
    turn is committed (True) or failed (False): the conversation service holds the turn lock
    until then. ``language`` is the chatbot's (``en`` | ``da``): the stemmer of the turn's
    full-text entries; ``user_extra`` the user message's ``extra`` (its image and description).
    """

    chatbot_id: str
    user_id: str
    session_id: str
    session_state: dict[str, Any]
    streaming_session_id: str
    token_hash: str
    flow_type: str
    status: str
    user_text: str
    assistant_text: str
    events: list[StreamEvent]
    context: list[ContextChunk]
    metrics: TurnMetrics
    started_at: datetime
    error: TurnError | None = None
    completed_at: datetime = field(default_factory=utcnow)
    new_session: bool = False
    verified: bool = False
    language: str = "en"
    written: asyncio.Future[bool] | None = None
    user_extra: dict[str, Any] = field(default_factory=dict)


class TurnRecorder:
    """A background writer of :class:`TurnRecord` batches.

    Args:
        db: the database.
        max_batch: the most turns written in one transaction.
        gather_s: after the first waiting turn, how long (seconds) the writer lets more turns
            join its batch before writing (default 0.02). One turn's transaction costs ~2 ms of
            event-loop CPU, ten turns' ~7 ms (SQLite, bench/storage.py); without the window a
            lightly loaded worker paid the full cost per turn, beside the next shopper's turn.
            :meth:`flush` still returns once everything is written.
        on_written: awaited with each written batch (metrics export, error log); its errors are
            logged, never raised.
    """

    def __init__(
        self,
        *,
        db: Database,
        max_batch: int = 200,
        gather_s: float = 0.02,
        on_written: Callable[[list[TurnRecord]], Awaitable[None]] | None = None,
    ) -> None:
        self.db = db
        self.max_batch = max_batch
        self.gather_s = gather_s
        self.on_written = on_written
        self._queue: asyncio.Queue[TurnRecord] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.batches_written = 0
        self.turns_written = 0
        self.failures = 0

    def start(self) -> None:
        """Start the writer task (idempotent)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="samtale-turn-recorder")

    def submit(self, record: TurnRecord) -> None:
        """Queue a finished turn for writing (never blocks)."""
        self._queue.put_nowait(record)

    async def flush(self) -> None:
        """Wait until every turn submitted so far is written (or failed)."""
        await self._queue.join()

    async def close(self) -> None:
        """Write what is queued, then stop the writer."""
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
            if self.gather_s > 0 and self._queue.qsize() < self.max_batch - 1:
                await asyncio.sleep(self.gather_s)
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except asyncio.QueueEmpty:
                    break
            written = False
            try:
                await self.write(batch)
                written = True
                self.batches_written += 1
                self.turns_written += len(batch)
                _resolve(batch, True)
                if self.on_written is not None:
                    await self.on_written(batch)
            except Exception:
                if not written:
                    self.failures += 1
                    logger.exception("could not store %d turn(s)", len(batch))
                else:
                    logger.exception("stored %d turn(s), but their follow-up (metrics, error log) failed", len(batch))
            finally:
                _resolve(batch, written)
                for _ in batch:
                    self._queue.task_done()

    async def write(self, batch: list[TurnRecord]) -> None:
        """Write a batch of turns in one transaction.

        Core statements on one connection (each an ``executemany``), not the ORM: for a batch
        of one turn the ORM's unit of work and bulk-insert path cost ~4 ms of event-loop CPU,
        which the next shopper's turn waited behind. Conversations that the service knows are
        new (``TurnRecord.new_session``) are inserted without being looked up first.

        A turn's two messages are numbered after its conversation's ``message_count`` (read
        here; the turn lock keeps any other turn of the conversation out until this commits),
        and ``message_count`` — the conversation's version — rises by 2. The unique index on
        ``(session_id, sequence)`` refuses the batch should two writers ever number alike.
        A new conversation gets its offline title from its first question, its shopper's row
        and the first turn's token hash. On SQLite the messages and new titles are indexed for
        full-text search in the same transaction (one ``executemany`` each; PostgreSQL's
        generated columns index themselves, ``samtale.conversation.search.indexing``).
        """
        started = time.perf_counter()
        async with self.db.engine.begin() as conn:
            await upsert_shoppers(
                conn,
                [
                    ShopperSeen(record.chatbot_id, record.user_id, record.completed_at, verified=record.verified)
                    for record in batch
                ],
            )
            lookup = sorted({record.session_id for record in batch if not record.new_session})
            next_sequence: dict[str, int] = {}
            if lookup:
                next_sequence = {
                    session_id: (count or 0) + 1
                    for session_id, count in (
                        await conn.execute(
                            select(SESSIONS.c.id, SESSIONS.c.message_count).where(SESSIONS.c.id.in_(lookup))
                        )
                    ).all()
                }
            existing = set(next_sequence)
            created: dict[str, dict[str, Any]] = {}
            updated: dict[str, dict[str, Any]] = {}
            for record in batch:  # in order: a session's last turn in the batch sets its state
                if record.session_id in existing:
                    row = updated.setdefault(
                        record.session_id,
                        {"row_id": record.session_id, "message_count": next_sequence[record.session_id] - 1},
                    )
                    row.update(
                        state=record.session_state,
                        updated_at=record.completed_at,
                        last_message_at=record.completed_at,
                        message_count=row["message_count"] + 2,
                    )
                elif record.session_id in created:
                    row = created[record.session_id]
                    row.update(
                        state=record.session_state,
                        updated_at=record.completed_at,
                        last_message_at=record.completed_at,
                        message_count=row["message_count"] + 2,
                    )
                else:
                    created[record.session_id] = {
                        "id": record.session_id,
                        "chatbot_id": record.chatbot_id,
                        "user_id": record.user_id,
                        "shopper_id": shopper_id(chatbot_id=record.chatbot_id, user_id=record.user_id),
                        "title": title_from_question(record.user_text),
                        "state": record.session_state,
                        "message_count": 2,
                        "token_hash": record.token_hash,
                        "language": record.language,
                        "last_message_at": record.completed_at,
                        "created_at": record.started_at,
                        "updated_at": record.completed_at,
                    }
            if created:
                await conn.execute(insert(SESSIONS), list(created.values()))
            if updated:
                await conn.execute(
                    update(SESSIONS)
                    .where(SESSIONS.c.id == bindparam("row_id"))
                    .values(
                        state=bindparam("state"),
                        updated_at=bindparam("updated_at"),
                        last_message_at=bindparam("last_message_at"),
                        message_count=bindparam("message_count"),
                    ),
                    list(updated.values()),
                )

            messages: list[dict[str, Any]] = []
            documents: list[MessageDocument] = []
            chunk_rows: list[dict[str, Any]] = []
            stream_rows: list[dict[str, Any]] = []
            event_rows: list[dict[str, Any]] = []
            for record in batch:
                sequence = next_sequence.get(record.session_id, 1)
                next_sequence[record.session_id] = sequence + 2
                assistant_id = new_id()
                messages.append(
                    {
                        "id": new_id(),
                        "chatbot_id": record.chatbot_id,
                        "session_id": record.session_id,
                        "sequence": sequence,
                        "role": "user",
                        "content": record.user_text,
                        "status": "ok",
                        "flow_type": record.flow_type,
                        "streaming_session_id": record.streaming_session_id,
                        "extra": record.user_extra,
                        "language": record.language,
                        "created_at": record.started_at,
                    }
                )
                messages.append(
                    {
                        "id": assistant_id,
                        "chatbot_id": record.chatbot_id,
                        "session_id": record.session_id,
                        "sequence": sequence + 1,
                        "role": "assistant",
                        "content": record.assistant_text,
                        "status": "ok" if record.status == "completed" else "failed",
                        "flow_type": record.flow_type,
                        "streaming_session_id": record.streaming_session_id,
                        "extra": {"error": record.metrics.error_category} if record.status != "completed" else {},
                        "language": record.language,
                        "created_at": record.completed_at,
                    }
                )
                owner = shopper_id(chatbot_id=record.chatbot_id, user_id=record.user_id)
                documents.extend(
                    MessageDocument(
                        message_id=row["id"],
                        chatbot_id=record.chatbot_id,
                        shopper_id=owner,
                        content=row["content"],
                        language=record.language,
                    )
                    for row in messages[-2:]
                )
                for rank, chunk in enumerate(record.context, start=1):
                    chunk_rows.append(
                        {
                            "chatbot_id": record.chatbot_id,
                            "message_id": assistant_id,
                            "chunk_id": chunk.chunk_id,
                            "document_id": chunk.document_id[:500],
                            "index_name": chunk.index_name,
                            "rank": rank,
                            "score": chunk.score,
                            "title": (chunk.title or "")[:500] or None,
                            "created_at": record.completed_at,
                        }
                    )
                stream_rows.append(
                    {
                        "id": record.streaming_session_id,
                        "chatbot_id": record.chatbot_id,
                        "conversation_session_id": record.session_id,
                        "token_hash": record.token_hash,
                        "status": record.status,
                        "flow_type": record.flow_type,
                        "last_event_id": len(record.events),
                        "created_at": record.started_at,
                        "completed_at": record.completed_at,
                    }
                )
                event_rows.extend(
                    event_rows_of(
                        streaming_session_id=record.streaming_session_id,
                        chatbot_id=record.chatbot_id,
                        events=record.events,
                    )
                )
            await conn.execute(insert(MESSAGES), messages)
            await attach_turn_images(conn, messages)
            await index_messages(conn, documents)
            await index_titles(
                conn,
                [
                    TitleDocument(
                        session_id=row["id"],
                        chatbot_id=row["chatbot_id"],
                        shopper_id=row["shopper_id"],
                        title=row["title"],
                        language=row["language"],
                    )
                    for row in created.values()
                ],
            )
            await conn.execute(insert(STREAMS), stream_rows)
            if event_rows:
                await conn.execute(insert(EVENTS), event_rows)
            if chunk_rows:
                await conn.execute(insert(CHUNKS), chunk_rows)
            persist_ms = (time.perf_counter() - started) * 1000.0
            metric_rows: list[dict[str, Any]] = []
            for record in batch:
                record.metrics.persist_ms = persist_ms
                row = record.metrics.row()
                row.update(
                    chatbot_id=record.chatbot_id,
                    session_id=record.session_id,
                    streaming_session_id=record.streaming_session_id,
                    created_at=record.completed_at,
                )
                metric_rows.append(row)
            await conn.execute(insert(METRICS), metric_rows)
