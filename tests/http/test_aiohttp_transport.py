"""The pools' aiohttp transport reports network failures as httpx does: only real timeouts are timeouts."""

from __future__ import annotations

import httpx
import pytest

from samtale.http.pools import HttpPools, PoolConfig, PoolsConfig
from samtale.llm.fake import FakeLLMServer


def _pools(timeout_s: float = 5.0) -> HttpPools:
    config = PoolConfig(max_connections=4, timeout_s=timeout_s)
    return HttpPools(config=PoolsConfig(ai=config, orders=config, general=config))


async def test_a_refused_connection_is_a_connect_error_not_a_timeout(closed_url: str) -> None:
    pools = _pools()
    try:
        with pytest.raises(httpx.ConnectError):
            await pools.ai.get(f"{closed_url}/v1/models")
    finally:
        await pools.aclose()
    stats = pools.stats()["ai"]
    assert stats["failures"] == 1 and stats["timeouts"] == 0


async def test_a_server_that_drops_the_connection_is_a_read_error_and_one_that_hangs_times_out() -> None:
    pools = _pools(timeout_s=0.3)
    body = {"model": "m", "messages": [{"role": "user", "content": "Hi"}]}
    try:
        async with FakeLLMServer(fail_first=1, fault="close") as server:
            with pytest.raises(httpx.TransportError) as dropped:
                await pools.ai.post(f"{server.base_url}/chat/completions", json=body)
            answered = await pools.ai.post(f"{server.base_url}/chat/completions", json=body)
        async with FakeLLMServer(fail_first=1, fault="hang") as server:
            with pytest.raises(httpx.ReadTimeout):
                await pools.ai.post(f"{server.base_url}/chat/completions", json=body)
    finally:
        await pools.aclose()
    assert not isinstance(dropped.value, httpx.TimeoutException)
    assert answered.status_code == 200 and answered.json()["choices"][0]["message"]["content"]
    stats = pools.stats()["ai"]
    assert stats["requests"] == 3 and stats["failures"] == 2 and stats["timeouts"] == 1
