"""Real Redis for cache tests, a TCP proxy to cut it mid-run, and a closed port for "Redis down"."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest


@pytest.fixture
def prefix() -> str:
    """A key prefix no other test uses."""
    return f"samtale-test:{uuid.uuid4().hex[:12]}:"


@pytest.fixture
def closed_redis_url() -> str:
    """A Redis URL on a loopback port where nothing listens."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"redis://127.0.0.1:{port}/15"


class TcpProxy:
    """Forwards loopback connections to Redis until :meth:`cut` closes them all and stops listening."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.writers += [writer, up_writer]
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()
        await self.server.wait_closed()


@pytest.fixture
async def proxied_redis_url(redis_url: str) -> AsyncIterator[tuple[str, TcpProxy]]:
    """A Redis URL through a proxy the test can cut to simulate Redis dying mid-run."""
    parts = urlsplit(redis_url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 6379)
    await proxy.start()
    yield f"redis://127.0.0.1:{proxy.port}{parts.path}", proxy
    with contextlib.suppress(Exception):
        await proxy.cut()
