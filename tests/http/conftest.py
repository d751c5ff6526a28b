"""A real shop-like HTTP service on loopback that answers fast, slowly or with a server error."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from fastapi import FastAPI, Response


def _service() -> FastAPI:
    app = FastAPI()

    @app.get("/orders/{number}")
    async def order(number: str) -> dict[str, str]:
        return {"order_number": number, "fulfillment": "shipped"}

    @app.get("/slow")
    async def slow(seconds: float) -> dict[str, float]:
        await asyncio.sleep(seconds)
        return {"slept": seconds}

    @app.get("/broken")
    async def broken() -> Response:
        return Response(status_code=503, content=b"order system down")

    return app


def free_port() -> int:
    """An ephemeral port nobody listens on (closed again at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def closed_url() -> str:
    """Base URL of a loopback port where nothing listens (connection refused)."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture(scope="session")
def shop_url() -> Iterator[str]:
    """Base URL of the loopback service, started in a thread for the whole session."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(_service(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("loopback service did not start")
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=5)
