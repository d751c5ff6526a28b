"""The baseline: FastAPI + one shared httpx client re-emitting the fake LLM's tokens as SSE.

No database, no routing, no prompt: what any FastAPI proxy in front of an LLM costs. Same
request and event shape as samtale's direct-stream mode. Upstream: ``BENCH_UPSTREAM_URL``.

    BENCH_UPSTREAM_URL=http://127.0.0.1:9100/v1 .venv/bin/python -m uvicorn bench.passthrough:app
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

clients: list[httpx.AsyncClient] = []


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    """One shared connection pool to the LLM for the worker's lifetime."""
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=1000)
    async with httpx.AsyncClient(base_url=os.environ["BENCH_UPSTREAM_URL"], limits=limits, timeout=60) as client:
        clients.append(client)
        yield


app = FastAPI(lifespan=lifespan)


@app.get("/health")
async def health() -> dict[str, str]:
    """Readiness."""
    return {"status": "ok"}


@app.post("/api/process-message")
async def process_message(request: Request) -> StreamingResponse:
    """Stream the LLM's answer to ``message_text`` as ``token`` events, then ``end``."""
    body = orjson.loads(await request.body())
    payload = {"model": "fake-model", "stream": True, "messages": [{"role": "user", "content": body["message_text"]}]}

    async def events() -> AsyncIterator[bytes]:
        count = 0
        async with clients[0].stream("POST", "/chat/completions", json=payload) as upstream:
            async for line in upstream.aiter_lines():  # read to the very end: the connection is reused
                if line.startswith("data: {"):
                    choices = orjson.loads(line[6:])["choices"]
                    if choices and choices[0]["delta"].get("content"):
                        count += 1
                        data = orjson.dumps({"token": choices[0]["delta"]["content"]})
                        yield b"id: %d\nevent: token\ndata: %s\n\n" % (count, data)
        yield b"id: %d\nevent: end\ndata: {}\n\n" % (count + 1)

    return StreamingResponse(events(), media_type="text/event-stream")
