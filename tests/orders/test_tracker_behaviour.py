"""One behavioural suite, run against every tracker over real loopback HTTP to its simulator."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest

from samtale.errors import ErrorCategory
from samtale.orders.errors import OrderAPIError, OrderAPITimeoutError
from samtale.orders.trackers import RetryPolicy, create_tracker

from .shops import ENVIRON, ServeApp, Shop, make_shop

KINDS = ["shopify", "magento", "commercetools", "bevco"]
FAST_RETRY = RetryPolicy(attempts=3, initial_wait_s=0.01, max_wait_s=0.05)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0, limits=httpx.Limits(max_connections=3)) as http:
        yield http


@pytest.fixture(params=KINDS)
def shop_and_url(request: pytest.FixtureRequest, serve_app: ServeApp) -> tuple[Shop, str]:
    shop = make_shop(request.param)
    return shop, serve_app(shop.app)


async def test_the_right_email_shows_the_order_with_its_tracking_link(
    shop_and_url: tuple[Shop, str], client: httpx.AsyncClient
) -> None:
    shop, url = shop_and_url
    tracker = create_tracker(shop.integration(url), client=client, environ=ENVIRON, retry=FAST_RETRY)

    order = await tracker.find_order(order_number="#1001", email="Jane@Example.com", postcode=None)

    assert order is not None
    assert order.order_number.lstrip("#") == "1001"
    assert order.status == "shipped"
    assert [item.name for item in order.items] == ["Barolo DOCG 2019", "Riesling Kabinett 2022"]
    assert order.shipments[0].tracking_number == "GLS123456789DK"
    assert order.shipments[0].tracking_url is not None and "GLS123456789DK" in order.shipments[0].tracking_url
    summary = str(order.to_summary())
    for personal in ("jane@example.com", "Jane Jensen", "Østerbrogade", "2100", "+4512345678"):
        assert personal not in summary


async def test_a_wrong_email_for_a_real_order_shows_nothing(
    shop_and_url: tuple[Shop, str], client: httpx.AsyncClient
) -> None:
    shop, url = shop_and_url
    tracker = create_tracker(shop.integration(url), client=client, environ=ENVIRON, retry=FAST_RETRY)

    assert await tracker.find_order(order_number="1002", email="jane@example.com", postcode=None) is None
    assert await tracker.find_order(order_number="1001", email="other@example.com", postcode=None) is None


async def test_an_unknown_order_number_is_not_found_and_not_retried(
    shop_and_url: tuple[Shop, str], client: httpx.AsyncClient
) -> None:
    shop, url = shop_and_url
    tracker = create_tracker(shop.integration(url), client=client, environ=ENVIRON, retry=FAST_RETRY)

    assert await tracker.find_order(order_number="9999", email="jane@example.com", postcode=None) is None
    assert shop.control.calls["orders"] == 1


async def test_an_expired_token_is_refreshed_once_and_the_lookup_succeeds(
    shop_and_url: tuple[Shop, str], client: httpx.AsyncClient
) -> None:
    shop, url = shop_and_url
    tracker = create_tracker(shop.integration(url), client=client, environ=ENVIRON, retry=FAST_RETRY)
    assert await tracker.find_order(order_number="1001", email="jane@example.com", postcode=None) is not None

    shop.control.expire_tokens()
    order = await tracker.find_order(order_number="1001", email="jane@example.com", postcode=None)

    assert order is not None
    assert shop.control.calls["unauthorised"] == 1
    assert shop.control.calls["token"] == 2


async def test_a_429_is_retried_after_the_retry_after_the_shop_asked_for(
    shop_and_url: tuple[Shop, str], client: httpx.AsyncClient
) -> None:
    shop, url = shop_and_url
    tracker = create_tracker(shop.integration(url), client=client, environ=ENVIRON, retry=FAST_RETRY)
    shop.control.rate_limit_next = 1
    shop.control.retry_after = "0.3"

    started = time.monotonic()
    order = await tracker.find_order(order_number="1001", email="jane@example.com", postcode=None)

    assert order is not None
    assert time.monotonic() - started >= 0.3
    assert shop.control.calls["orders"] == 2


async def test_a_5xx_is_retried_with_backoff(shop_and_url: tuple[Shop, str], client: httpx.AsyncClient) -> None:
    shop, url = shop_and_url
    tracker = create_tracker(shop.integration(url), client=client, environ=ENVIRON, retry=FAST_RETRY)
    shop.control.fail_next = 2

    assert await tracker.find_order(order_number="1001", email="jane@example.com", postcode=None) is not None
    assert shop.control.calls["orders"] == 3


async def test_a_shop_that_does_not_answer_in_time_is_an_order_api_error(shop_and_url: tuple[Shop, str]) -> None:
    shop, url = shop_and_url
    async with httpx.AsyncClient(timeout=0.2) as impatient:
        tracker = create_tracker(shop.integration(url), client=impatient, environ=ENVIRON, retry=FAST_RETRY)
        await tracker.find_order(order_number="1001", email="jane@example.com", postcode=None)  # token first
        shop.control.delay_s = 0.4

        with pytest.raises(OrderAPITimeoutError) as caught:
            await tracker.find_order(order_number="1001", email="jane@example.com", postcode=None)

    assert isinstance(caught.value, OrderAPIError)
    assert caught.value.category is ErrorCategory.ORDER_API
    assert "jane@example.com" not in caught.value.message
