"""The stream hub: every streamed answer's events, in order, for any number of readers.

A :class:`Stream` is written by exactly one producer (the generation task) and read by any
number of consumers (SSE connections, pollers), each starting after the last event id it has.
Readers never block the producer and a reader that disconnects loses nothing: the events stay
in the hub until the stream is complete plus a retention window, and in the
``streaming_events`` table after that.

Event ids are per-stream integers starting at 1 and increasing by one (DESIGN section 7).
This hub lives in one process (the default deployment: one worker, or sticky sessions). With
Redis configured, :class:`samtale.streaming.redis_hub.RedisStreamHub` keeps the same in-process
streams for the worker that generates them and mirrors every event into a Redis Stream, so a
reader landing on any other worker follows the same events (:class:`StreamView` is what both
kinds of stream offer a reader).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from samtale.errors import ErrorCategory, NotFoundError
from samtale.storage.base import utcnow

StreamStatus = Literal["active", "completed", "failed", "stopped"]
TERMINAL_EVENTS = frozenset({"end", "error"})


class StreamNotFoundError(NotFoundError):
    """No stream with that id is known to this hub (or it has expired from memory)."""

    code = "stream_not_found"
    category = ErrorCategory.STREAMING


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One event of a stream: ``id`` (1, 2, …), ``event`` name, JSON ``data``, UTC ``timestamp``."""

    id: int
    event: str
    data: dict[str, Any]
    timestamp: datetime

    def as_json(self) -> dict[str, Any]:
        """The seed's polling shape: ``{id, event, data, timestamp}``."""
        return {"id": self.id, "event": self.event, "data": self.data, "timestamp": self.timestamp.isoformat()}


def hash_token(token: str) -> str:
    """SHA-256 hex of a session token (only the hash is kept in memory and in the database)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_session_token() -> str:
    """A new random session token (32 bytes, URL-safe base64)."""
    return secrets.token_urlsafe(32)


class StreamView(Protocol):
    """What a reader (SSE, polling, stop) needs of a stream, local or in another worker."""

    id: str
    chatbot_id: str
    token_hash: str
    flow_type: str
    stop_requested: bool

    @property
    def status(self) -> StreamStatus:
        """``active``, ``completed``, ``failed`` or ``stopped``."""
        ...

    @property
    def done(self) -> bool:
        """True once the stream has ended."""
        ...

    @property
    def last_event_id(self) -> int:
        """The newest event id known (0 when none)."""
        ...

    async def wait_after(self, after: int, wait_s: float | None) -> list[StreamEvent]:
        """Events after ``after``, waiting up to ``wait_s`` seconds when there is none yet."""
        ...

    def follow(self, after: int, *, heartbeat_s: float | None = None) -> AsyncIterator[StreamEvent | None]:
        """Every event after ``after`` until the stream ends; ``None`` marks a heartbeat."""
        ...


@dataclass(eq=False)
class Stream:
    """One streamed answer. Written by one producer; read by many consumers.

    Attributes:
        id: the streaming session id.
        chatbot_id: its tenant.
        conversation_session_id: the conversation it answers in.
        token_hash: SHA-256 of the session token that may read it.
    """

    id: str
    chatbot_id: str
    conversation_session_id: str
    token_hash: str
    flow_type: str = "main"
    status: StreamStatus = "active"
    created_at: datetime = field(default_factory=utcnow)
    completed_monotonic: float | None = None
    events: list[StreamEvent] = field(default_factory=list)
    stop_requested: bool = False
    on_emit: Callable[[Stream], None] | None = field(default=None, repr=False)
    _changed: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    @property
    def done(self) -> bool:
        """True once the stream has ended (completed, failed or stopped)."""
        return self.status != "active"

    @property
    def last_event_id(self) -> int:
        """The id of the newest event (0 when there is none yet)."""
        return len(self.events)

    def token_matches(self, token: str | None) -> bool:
        """Constant-time check of a presented session token."""
        return token is not None and hmac.compare_digest(hash_token(token), self.token_hash)

    def emit(self, event: str, data: Mapping[str, Any]) -> StreamEvent:
        """Append an event and wake every reader. An ``end`` or ``error`` event closes the stream.

        ``data`` is the event's JSON object (a payload of ``samtale.conversation.events``; a
        ``TypedDict`` is a dict at run time, so it is kept as it is).

        Raises:
            RuntimeError: when the stream has already ended (a producer bug).
        """
        if self.done:
            raise RuntimeError(f"stream {self.id} has ended; cannot emit {event!r}")
        payload = data if isinstance(data, dict) else dict(data)
        item = StreamEvent(id=len(self.events) + 1, event=event, data=payload, timestamp=utcnow())
        self.events.append(item)
        if event in TERMINAL_EVENTS:
            self.status = "completed" if event == "end" else ("stopped" if self.stop_requested else "failed")
            self.completed_monotonic = time.monotonic()
        self._notify()
        if self.on_emit is not None:
            self.on_emit(self)
        return item

    def _notify(self) -> None:
        changed = self._changed
        self._changed = asyncio.Event()
        changed.set()

    def events_after(self, after: int) -> list[StreamEvent]:
        """Events with an id greater than ``after`` (ids are list positions + 1)."""
        return self.events[max(after, 0) :]

    async def wait_after(self, after: int, wait_s: float | None) -> list[StreamEvent]:
        """Events after ``after``, waiting up to ``wait_s`` seconds for one when there is none yet.

        Returns an empty list when ``wait_s`` passes or the stream ended with nothing new.
        """
        pending = self.events_after(after)
        if pending or self.done:
            return pending
        changed = self._changed
        try:
            await asyncio.wait_for(changed.wait(), wait_s)
        except TimeoutError:
            return []
        return self.events_after(after)

    async def follow(self, after: int, *, heartbeat_s: float | None = None) -> AsyncIterator[StreamEvent | None]:
        """Yield every event after ``after`` until the stream ends; ``None`` marks a heartbeat.

        Args:
            after: the last event id the reader already has (0 for all).
            heartbeat_s: yield ``None`` after this many seconds without an event.
        """
        cursor = after
        while True:
            batch = await self.wait_after(cursor, heartbeat_s)
            if not batch:
                if self.done and cursor >= self.last_event_id:
                    return
                yield None
                continue
            for item in batch:
                yield item
            cursor = batch[-1].id
            if self.done and cursor >= self.last_event_id:
                return


class StreamHub:
    """In-process registry of streams, with retention of ended streams for ``retention_s`` seconds."""

    def __init__(self, *, retention_s: float = 900.0) -> None:
        self.retention_s = retention_s
        self._streams: dict[str, Stream] = {}

    def create(
        self, *, stream_id: str, chatbot_id: str, conversation_session_id: str, token_hash: str, flow_type: str = "main"
    ) -> Stream:
        """Register a new active stream."""
        stream = Stream(
            id=stream_id,
            chatbot_id=chatbot_id,
            conversation_session_id=conversation_session_id,
            token_hash=token_hash,
            flow_type=flow_type,
        )
        self._streams[stream_id] = stream
        return stream

    def get(self, stream_id: str) -> Stream | None:
        """The stream with that id, or None when unknown or expired."""
        return self._streams.get(stream_id)

    async def lookup(self, stream_id: str) -> StreamView | None:
        """The stream with that id for a reader, or None when unknown or expired (read the
        ``streaming_events`` rows then). In-process: the same as :meth:`get`."""
        return self._streams.get(stream_id)

    async def start(self) -> None:
        """Nothing to start in process (the Redis hub connects here)."""

    async def aclose(self) -> None:
        """Nothing to close in process (the Redis hub flushes and disconnects here)."""

    def require(self, stream_id: str) -> Stream:
        """The stream with that id.

        Raises:
            StreamNotFoundError: when it is unknown or expired.
        """
        stream = self._streams.get(stream_id)
        if stream is None:
            raise StreamNotFoundError(f"unknown stream {stream_id}")
        return stream

    @property
    def active_count(self) -> int:
        """How many streams are still producing."""
        return sum(1 for stream in self._streams.values() if not stream.done)

    def __len__(self) -> int:
        return len(self._streams)

    def expire(self, *, now: float | None = None) -> int:
        """Drop ended streams older than the retention window; returns how many were dropped."""
        moment = time.monotonic() if now is None else now
        expired = [
            stream_id
            for stream_id, stream in self._streams.items()
            if stream.completed_monotonic is not None and moment - stream.completed_monotonic > self.retention_s
        ]
        for stream_id in expired:
            del self._streams[stream_id]
        return len(expired)
