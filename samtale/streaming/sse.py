"""Server-sent events wire format (https://html.spec.whatwg.org/multipage/server-sent-events.html)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

import orjson

from samtale.streaming.hub import StreamEvent, StreamView

HEARTBEAT = b": heartbeat\n\n"
SSE_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
    "Connection": "keep-alive",
}


def format_event(event: StreamEvent) -> bytes:
    """One event as SSE lines: ``id:``, ``event:``, ``data:`` (compact JSON, one line), blank line."""
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (event.id, event.event.encode(), orjson.dumps(event.data))


async def sse_from_stream(stream: StreamView, *, after: int, heartbeat_s: float) -> AsyncIterator[bytes]:
    """SSE bytes for every event of ``stream`` after ``after``, with a heartbeat comment when idle."""
    yield b"retry: 2000\n\n"
    async for item in stream.follow(after, heartbeat_s=heartbeat_s):
        yield HEARTBEAT if item is None else format_event(item)


async def sse_from_events(events: Iterable[StreamEvent]) -> AsyncIterator[bytes]:
    """SSE bytes for a finished stream loaded from the database."""
    yield b"retry: 2000\n\n"
    for item in events:
        yield format_event(item)
