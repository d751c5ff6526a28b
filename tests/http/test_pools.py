"""Outbound pools keep separate statistics per class of service, counted at the transport."""

from __future__ import annotations

import httpx
import pytest

from samtale.http import HttpPools, PoolConfig, PoolsConfig, pool_stats_of, retrying_request


@pytest.fixture
async def pools() -> HttpPools:
    # The orders pool gets a short timeout so a slow shop times out quickly in the test.
    config = PoolsConfig(orders=PoolConfig(max_connections=3, timeout_s=0.2))
    pools = HttpPools(config=config)
    yield pools  # type: ignore[misc]
    await pools.aclose()


def test_seed_figures_are_the_defaults() -> None:
    config = PoolsConfig()
    assert (config.ai.max_connections, config.ai.timeout_s) == (5, 45.0)
    assert (config.orders.max_connections, config.orders.timeout_s) == (3, 15.0)
    assert (config.general.max_connections, config.general.timeout_s) == (10, 30.0)


async def test_successful_order_lookups_are_counted_with_latency(pools: HttpPools, shop_url: str) -> None:
    for number in ("1001", "1002", "1003"):
        response = await pools.orders.get(f"{shop_url}/orders/{number}")
        assert response.json()["order_number"] == number

    orders = pools.stats()["orders"]
    assert orders["requests"] == 3
    assert orders["successes"] == 3
    assert orders["failures"] == 0
    assert orders["success_rate"] == 1.0
    assert orders["latency_ms"]["p50"] > 0
    assert orders["latency_ms"]["p50"] <= orders["latency_ms"]["p95"] <= orders["latency_ms"]["p99"]
    assert pools.stats()["ai"]["requests"] == 0


async def test_a_timing_out_order_api_fills_only_the_orders_timeout_counter(pools: HttpPools, shop_url: str) -> None:
    with pytest.raises(httpx.ReadTimeout):
        await pools.orders.get(f"{shop_url}/slow", params={"seconds": 1.0})
    # The same slow answer through the general pool (30 s timeout) succeeds.
    response = await pools.general.get(f"{shop_url}/slow", params={"seconds": 0.3})
    assert response.status_code == 200

    stats = pools.stats()
    assert stats["orders"]["timeouts"] == 1
    assert stats["orders"]["failures"] == 1
    assert stats["orders"]["success_rate"] == 0.0
    assert stats["general"]["timeouts"] == 0
    assert stats["general"]["successes"] == 1
    assert stats["general"]["latency_ms"]["p50"] >= 300
    assert stats["ai"]["timeouts"] == 0


async def test_server_errors_count_as_failures_but_not_timeouts(pools: HttpPools, shop_url: str) -> None:
    await pools.general.get(f"{shop_url}/orders/1")
    response = await pools.general.get(f"{shop_url}/broken")
    assert response.status_code == 503

    general = pools.stats()["general"]
    assert (general["requests"], general["successes"], general["failures"], general["timeouts"]) == (2, 1, 1, 0)
    assert general["success_rate"] == 0.5


async def test_streamed_body_is_timed_to_its_last_byte(pools: HttpPools, shop_url: str) -> None:
    async with pools.ai.stream("GET", f"{shop_url}/orders/7") as response:
        assert pools.stats()["ai"]["successes"] == 0  # headers in, body not read yet
        body = await response.aread()
    assert b"shipped" in body
    assert pools.stats()["ai"]["successes"] == 1


async def test_network_errors_are_retried_and_each_retry_is_counted(pools: HttpPools, closed_url: str) -> None:
    closed = f"{closed_url}/orders/1"
    with pytest.raises(httpx.ConnectError):
        await retrying_request(pools.orders, "GET", closed, attempts=3, initial_wait_s=0.01)

    orders = pools.stats()["orders"]
    assert orders["requests"] == 3
    assert orders["failures"] == 3
    assert orders["retries"] == 2
    assert orders["timeouts"] == 0


async def test_a_read_timeout_is_not_retried_by_default(pools: HttpPools, shop_url: str) -> None:
    with pytest.raises(httpx.ReadTimeout):
        await retrying_request(pools.orders, "GET", f"{shop_url}/slow", params={"seconds": 1.0}, initial_wait_s=0.01)
    assert pools.stats()["orders"]["retries"] == 0
    assert pools.stats()["orders"]["requests"] == 1


async def test_reset_zeroes_every_pool(pools: HttpPools, shop_url: str) -> None:
    await pools.ai.get(f"{shop_url}/orders/1")
    pools.record_retry("ai")
    assert pools.stats()["ai"]["retries"] == 1
    pools.reset()
    ai = pools.stats()["ai"]
    assert (ai["requests"], ai["successes"], ai["retries"], ai["latency_ms"]["p99"]) == (0, 0, 0, 0.0)


async def test_a_client_made_elsewhere_has_no_pool_stats() -> None:
    async with httpx.AsyncClient() as client:
        assert pool_stats_of(client) is None
