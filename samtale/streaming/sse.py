"""Server-sent events wire format (https://html.spec.whatwg.org/multipage/server-sent-events.html).

Every event already in the hub when a reader wakes up goes out in one write: a model that
answers faster than the reader is scheduled (or a reader resuming from ``Last-Event-ID``) gets
its events in one chunk instead of one send through the ASGI stack per token. Events that
arrive one by one still go out one by one, at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable

import orjson
from starlette.responses import StreamingResponse
from starlette.types import Message, Receive, Scope, Send

from samtale.streaming.hub import Stream, StreamEvent, StreamView

HEARTBEAT = b": heartbeat\n\n"
RETRY = b"retry: 2000\n\n"
SSE_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
    "Connection": "keep-alive",
}


def format_event(event: StreamEvent) -> bytes:
    """One event as SSE lines: ``id:``, ``event:``, ``data:`` (compact JSON, one line), blank line."""
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (event.id, event.event.encode(), orjson.dumps(event.data))


def format_events(events: Iterable[StreamEvent]) -> bytes:
    """Several events as one chunk of SSE bytes, in order."""
    return b"".join([format_event(event) for event in events])


async def sse_from_stream(stream: StreamView, *, after: int, heartbeat_s: float) -> AsyncIterator[bytes]:
    """SSE bytes for every event of ``stream`` after ``after``, with a heartbeat comment when idle.

    The first chunk carries the ``retry:`` field. For a stream of this process every chunk holds
    all the events that were waiting (one write); a stream followed from another worker (the
    Redis hub) is read through its own ``follow``.
    """
    if not isinstance(stream, Stream):
        yield RETRY
        async for item in stream.follow(after, heartbeat_s=heartbeat_s):
            yield HEARTBEAT if item is None else format_event(item)
        return
    prefix = RETRY
    cursor = after
    while True:
        batch = await stream.wait_after(cursor, heartbeat_s)
        if batch:
            cursor = batch[-1].id
            chunk = format_events(batch)
        else:
            chunk = b"" if stream.done and cursor >= stream.last_event_id else HEARTBEAT
        if prefix or chunk:
            yield prefix + chunk
        prefix = b""
        if stream.done and cursor >= stream.last_event_id:
            return


async def sse_from_events(events: Iterable[StreamEvent]) -> AsyncIterator[bytes]:
    """SSE bytes for a finished stream loaded from the database (one chunk)."""
    yield RETRY + format_events(events)


class EventStreamResponse(StreamingResponse):
    """A ``text/event-stream`` response that sends its chunks as they come.

    Starlette's ``StreamingResponse`` (under an ASGI 2.3 server such as uvicorn) runs every
    response inside an anyio task group with a second task listening for the disconnect; here
    a single asyncio task waits for ``http.disconnect`` and the body stops at its next chunk
    once the client is gone (a turn runs to its end either way; the reader only stops
    formatting events for nobody). Same arguments as ``StreamingResponse``.
    """

    media_type = "text/event-stream"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Send the head, then each chunk of the body, then the end of the body."""
        gone = asyncio.ensure_future(_disconnect(receive))
        body = self.body_iterator
        try:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            async for chunk in body:
                if gone.done():
                    return
                message: Message = {"type": "http.response.body", "body": chunk, "more_body": True}
                await send(message)
            if not gone.done():
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            gone.cancel()
            aclose = getattr(body, "aclose", None)
            if aclose is not None:
                await aclose()
        if self.background is not None:
            await self.background()


async def _disconnect(receive: Receive) -> None:
    """Return once the client has disconnected (other messages are ignored)."""
    while (await receive())["type"] != "http.disconnect":
        pass
