"""Finished streams in the database: the rows the recorder writes and the streams read back from them.

A stream's events are stored in ``streaming_events``, one row per event, except that each run of
consecutive ``token`` events is one row (migration 0007): ``event_id`` the run's first id,
``event_count`` its length, ``created_at`` the first token's time and ``data``
``{"events": [payload, …], "offsets_us": [0, …]}`` (each token's payload and its time after the
first, in microseconds). An answer of 20 tokens is then about 5 rows instead of 25, which took
~0.5 ms of a worker's CPU per turn off the recorder at 50 clients (bench/README.md); reading it
back gives every event with its own id, payload and timestamp, as the hub served it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from samtale.conversation.events import EventName
from samtale.storage.db import Database
from samtale.storage.models import StreamingEvent, StreamingSession
from samtale.streaming.hub import StreamEvent, StreamNotFoundError

TOKEN = EventName.TOKEN.value


@dataclass(slots=True)
class StoredStream:
    """A finished stream read back from the database (after it left the hub)."""

    id: str
    chatbot_id: str
    token_hash: str
    status: str
    events: list[StreamEvent]


def event_rows(*, streaming_session_id: str, chatbot_id: str, events: Sequence[StreamEvent]) -> list[dict[str, Any]]:
    """The ``streaming_events`` rows of a finished stream: one per event, a run of consecutive
    ``token`` events (ids one apart) as one row (see the module docstring)."""
    rows: list[dict[str, Any]] = []
    run: list[StreamEvent] = []

    def close_run() -> None:
        if len(run) == 1:
            rows.append(_row(streaming_session_id, chatbot_id, run[0]))
        elif run:
            first = run[0].timestamp
            rows.append(
                {
                    "streaming_session_id": streaming_session_id,
                    "chatbot_id": chatbot_id,
                    "event_id": run[0].id,
                    "event": TOKEN,
                    "event_count": len(run),
                    "data": {
                        "events": [item.data for item in run],
                        "offsets_us": [(item.timestamp - first) // _MICROSECOND for item in run],
                    },
                    "created_at": first,
                }
            )
        run.clear()

    for item in events:
        if item.event == TOKEN:
            if run and item.id != run[-1].id + 1:
                close_run()
            run.append(item)
            continue
        close_run()
        rows.append(_row(streaming_session_id, chatbot_id, item))
    close_run()
    return rows


_MICROSECOND = timedelta(microseconds=1)


def _row(streaming_session_id: str, chatbot_id: str, item: StreamEvent) -> dict[str, Any]:
    return {
        "streaming_session_id": streaming_session_id,
        "chatbot_id": chatbot_id,
        "event_id": item.id,
        "event": item.event,
        "event_count": 1,
        "data": item.data,
        "created_at": item.timestamp,
    }


def events_from_rows(rows: Iterable[StreamingEvent]) -> list[StreamEvent]:
    """The events of ``streaming_events`` rows (in ``event_id`` order), token runs unpacked."""
    events: list[StreamEvent] = []
    for row in rows:
        if row.event_count <= 1:
            events.append(StreamEvent(id=row.event_id, event=row.event, data=row.data, timestamp=row.created_at))
            continue
        payloads = row.data.get("events") or []
        offsets = row.data.get("offsets_us") or [0] * len(payloads)
        events.extend(
            StreamEvent(
                id=row.event_id + index,
                event=row.event,
                data=payload,
                timestamp=row.created_at + timedelta(microseconds=offset),
            )
            for index, (payload, offset) in enumerate(zip(payloads, offsets, strict=False))
        )
    return events


async def load_stored_stream(*, db: Database, stream_id: str) -> StoredStream:
    """A finished stream and its events from the database.

    Raises:
        StreamNotFoundError: when no such stream was stored.
    """
    async with db.session() as session:
        row = await session.get(StreamingSession, stream_id)
        if row is None:
            raise StreamNotFoundError(f"unknown stream {stream_id}")
        rows = (
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
        events=events_from_rows(rows),
    )
