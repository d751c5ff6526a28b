"""Finished streams read back from the database, after they left the stream hub's memory."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from samtale.storage.db import Database
from samtale.storage.models import StreamingEvent, StreamingSession
from samtale.streaming.hub import StreamEvent, StreamNotFoundError


@dataclass(slots=True)
class StoredStream:
    """A finished stream read back from the database (after it left the hub)."""

    id: str
    chatbot_id: str
    token_hash: str
    status: str
    events: list[StreamEvent]


async def load_stored_stream(*, db: Database, stream_id: str) -> StoredStream:
    """A finished stream and its events from the database.

    Raises:
        StreamNotFoundError: when no such stream was stored.
    """
    async with db.session() as session:
        row = await session.get(StreamingSession, stream_id)
        if row is None:
            raise StreamNotFoundError(f"unknown stream {stream_id}")
        events = (
            await session.scalars(
                select(StreamingEvent)
                .where(StreamingEvent.streaming_session_id == stream_id, StreamingEvent.chatbot_id == row.chatbot_id)
                .order_by(StreamingEvent.event_id)
            )
        ).all()
    return StoredStream(
        id=row.id,
        chatbot_id=row.chatbot_id,
        token_hash=row.token_hash,
        status=row.status,
        events=[StreamEvent(id=e.event_id, event=e.event, data=e.data, timestamp=e.created_at) for e in events],
    )
