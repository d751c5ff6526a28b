"""Micro-benchmarks behind two choices of the HTTP edge (issue 12, "The HTTP contract").

* ``json``: rendering a polling body of 63 events and a process-message answer with Starlette's
  ``JSONResponse`` (``json.dumps``), through a response model (FastAPI's validate + ``dump_json``
  path) and with :class:`samtale.api.responses.FastJSONResponse` (orjson).
* ``sse``: 1,000 ``token`` events pushed one chunk at a time through the app (ASGI spec 2.3, as
  uvicorn declares it) by the previous hand-written ``EventStreamResponse``, by
  ``fastapi.sse.EventSourceResponse`` with samtale's own event bytes, and by FastAPI's native
  SSE route encoding (a generator endpoint yielding ``ServerSentEvent`` s).

    PYTHONPATH=. .venv/bin/python -m bench.contract_timings json
    PYTHONPATH=. .venv/bin/python -m bench.contract_timings sse
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import timeit
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from fastapi import FastAPI
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import TypeAdapter
from starlette.responses import JSONResponse, StreamingResponse
from starlette.types import Message, Receive, Scope, Send

from samtale.api.responses import FastJSONResponse
from samtale.api.schemas import ProcessMessageResponse, StreamEventsResponse
from samtale.streaming.hub import StreamEvent
from samtale.streaming.sse import format_event

EVENTS = 1000


def _polling_body() -> dict[str, Any]:
    now = datetime.now(UTC).isoformat()
    source = {
        "document_id": "policies.en.md#3",
        "index": "policies",
        "title": "Returns and right of withdrawal",
        "source": "policies.en.md",
        "score": 0.61,
        "snippet": "You can return goods within 14 days of receiving them. " * 5,
    }
    events: list[dict[str, Any]] = [
        {
            "id": 1,
            "event": "start",
            "data": {"session_id": "s" * 32, "streaming_session_id": "t" * 36, "chatbot_id": "vinhuset"},
            "timestamp": now,
        },
        {
            "id": 2,
            "event": "flow",
            "data": {
                "flow_type": "main",
                "route_key": "main",
                "strategy": "keywords",
                "confidence": 0.93,
                "routing_ms": 1.234,
                "speculative_hit": None,
            },
            "timestamp": now,
        },
        {
            "id": 3,
            "event": "sources",
            "data": {"sources": [{"chunk_id": f"c{i}" * 8, **source} for i in range(4)]},
            "timestamp": now,
        },
    ]
    events += [{"id": 4 + i, "event": "token", "data": {"token": "word "}, "timestamp": now} for i in range(59)]
    events.append(
        {
            "id": 63,
            "event": "end",
            "data": {
                "usage": {"prompt_tokens": 212, "completion_tokens": 59},
                "metrics": {
                    "routing_ms": 1.2,
                    "retrieval_ms": 5.3,
                    "ttft_ms": 6.1,
                    "total_ms": 7.9,
                    "tokens_per_s": 1200.5,
                },
                "flow_type": "main",
            },
            "timestamp": now,
        }
    )
    return {"events": events, "session_status": "completed", "last_event_id": 63, "has_more": False}


def json_timings() -> None:
    """Print µs per response for each renderer (best of 5)."""
    answer = {
        "success": True,
        "session_id": "s" * 32,
        "streaming_session_id": "t" * 36,
        "flow_type": "main",
        "streaming_url": "/api/stream-events/t?token=" + "Q" * 43,
        "sse_url": "/api/stream/t?token=" + "Q" * 43,
        "session_token": "Q" * 43,
    }
    poll = _polling_body()
    cases: list[tuple[str, dict[str, Any], TypeAdapter[Any], int]] = [
        (f"polling, 63 events ({len(orjson.dumps(poll))} bytes)", poll, TypeAdapter(StreamEventsResponse), 2000),
        (f"process-message ({len(orjson.dumps(answer))} bytes)", answer, TypeAdapter(ProcessMessageResponse), 20000),
    ]
    for name, body, adapter, number in cases:
        assert FastJSONResponse(body).body == JSONResponse(body).body
        runs: dict[str, Callable[[], object]] = {
            "JSONResponse (json.dumps)": lambda body=body: JSONResponse(body),
            "response model (validate + dump_json)": lambda body=body, a=adapter: a.dump_json(a.validate_python(body)),
            "FastJSONResponse (orjson)": lambda body=body: FastJSONResponse(body),
        }
        print(name)
        for label, run in runs.items():
            best = min(timeit.repeat(run, number=number, repeat=5)) / number
            print(f"  {label}: {best * 1e6:.1f} µs")


class _HandWrittenEventStream(StreamingResponse):
    """The response samtale used before (one task, its own disconnect watcher)."""

    media_type = "text/event-stream"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def disconnect() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        gone = asyncio.ensure_future(disconnect())
        try:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            async for chunk in self.body_iterator:
                if gone.done():
                    return
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            gone.cancel()


def _token(n: int) -> StreamEvent:
    return StreamEvent(id=n, event="token", data={"token": f"token{n} "}, timestamp=datetime.now(UTC))


async def _chunks() -> AsyncIterator[bytes]:
    for n in range(1, EVENTS + 1):
        yield format_event(_token(n))


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/hand-written")
    async def hand_written() -> _HandWrittenEventStream:
        return _HandWrittenEventStream(_chunks())

    @app.get("/event-source-response")
    async def event_source_response() -> EventSourceResponse:
        return EventSourceResponse(_chunks())

    @app.get("/native", response_class=EventSourceResponse)
    async def native() -> AsyncIterator[ServerSentEvent]:
        for n in range(1, EVENTS + 1):
            yield ServerSentEvent(id=str(n), event="token", data={"token": f"token{n} "})

    return app


async def _drive(app: FastAPI, path: str) -> tuple[float, int]:
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 1),
    }
    finished = asyncio.Event()
    requested = False
    received = 0

    async def receive() -> Message:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await finished.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal received
        if message["type"] == "http.response.body":
            received += len(message.get("body", b""))
            if not message.get("more_body", False):
                finished.set()

    started = time.perf_counter()
    await app(scope, receive, send)
    return time.perf_counter() - started, received


async def sse_timings() -> None:
    """Print ms per 1,000-event stream (median of 15 after a warm-up) for each implementation."""
    app = _app()
    async with app.router.lifespan_context(app):
        for path in ("/hand-written", "/event-source-response", "/native"):
            await _drive(app, path)
            times = []
            for _ in range(15):
                seconds, size = await _drive(app, path)
                times.append(seconds)
            print(f"{path}: {statistics.median(times) * 1000:.1f} ms per {EVENTS} events ({size} bytes)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", choices=["json", "sse"])
    args = parser.parse_args()
    if args.which == "json":
        json_timings()
    else:
        asyncio.run(sse_timings())


if __name__ == "__main__":
    main()
