"""Fixtures for operations tests: Redis behind a proxy the test can cut (Redis dying mid-run)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest

from tests.cache.conftest import TcpProxy


@pytest.fixture
async def proxied_redis_url(redis_url: str) -> AsyncIterator[tuple[str, TcpProxy]]:
    """A Redis URL through a proxy the test can cut to simulate Redis dying mid-run."""
    parts = urlsplit(redis_url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 6379)
    await proxy.start()
    yield f"redis://127.0.0.1:{proxy.port}{parts.path}", proxy
    with contextlib.suppress(Exception):
        await proxy.cut()
