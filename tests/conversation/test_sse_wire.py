"""The SSE wire: events waiting in the hub go out together, idle readers get heartbeats, resumes are exact."""

from __future__ import annotations

import asyncio

from samtale.streaming.hub import StreamHub
from samtale.streaming.sse import sse_from_stream


async def test_a_fast_answer_reaches_the_reader_in_one_chunk_with_every_event_in_order() -> None:
    hub = StreamHub()
    stream = hub.create(stream_id="s1", chatbot_id="shop", conversation_session_id="c1", token_hash="h")
    stream.emit("start", {"streaming_session_id": "s1"})
    for word in ("Red", " wine", " pairs"):
        stream.emit("token", {"token": word})
    stream.emit("end", {"flow_type": "main"})

    chunks = [chunk async for chunk in sse_from_stream(stream, after=0, heartbeat_s=5.0)]

    assert len(chunks) == 1
    text = chunks[0].decode()
    assert text.startswith("retry: 2000\n\n")
    assert [line for line in text.splitlines() if line.startswith("id: ")] == [f"id: {n}" for n in range(1, 6)]
    assert 'data: {"token":" wine"}' in text


async def test_an_idle_reader_gets_a_heartbeat_then_the_events_as_they_come() -> None:
    hub = StreamHub()
    stream = hub.create(stream_id="s1", chatbot_id="shop", conversation_session_id="c1", token_hash="h")
    stream.emit("start", {})
    reader = sse_from_stream(stream, after=1, heartbeat_s=0.05)

    first = await anext(reader)
    assert first == b"retry: 2000\n\n: heartbeat\n\n"
    stream.emit("token", {"token": "Hej"})
    assert (await anext(reader)).startswith(b"id: 2\nevent: token\n")
    stream.emit("end", {})
    assert (await anext(reader)).startswith(b"id: 3\nevent: end\n")
    assert [chunk async for chunk in reader] == []


async def test_a_reader_resuming_at_the_last_event_of_an_ended_stream_gets_only_the_retry_field() -> None:
    hub = StreamHub()
    stream = hub.create(stream_id="s1", chatbot_id="shop", conversation_session_id="c1", token_hash="h")
    stream.emit("start", {})
    stream.emit("end", {})

    async def read_all() -> list[bytes]:
        return [chunk async for chunk in sse_from_stream(stream, after=2, heartbeat_s=5.0)]

    assert await asyncio.wait_for(read_all(), timeout=2.0) == [b"retry: 2000\n\n"]
