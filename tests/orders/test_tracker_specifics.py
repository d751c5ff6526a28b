"""What only some trackers do: Shopify THROTTLED, Magento OAuth 1.0a, generic auth and the host guard."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from samtale.chatbots.schema import IntegrationConfig
from samtale.chatbots.secrets import encrypt_secrets
from samtale.orders.errors import OrderAPIAuthError, OrderAPIConfigError
from samtale.orders.simulators import (
    SimulatorControl,
    create_bevco_simulator,
    create_magento_simulator,
    create_shopify_simulator,
)
from samtale.orders.trackers import RetryPolicy, create_tracker

from .shops import ServeApp

FAST_RETRY = RetryPolicy(attempts=3, initial_wait_s=0.01, max_wait_s=0.05)
OAUTH = {
    "consumer_key": "ck_demo",
    "consumer_secret": "cs_demo",
    "access_token": "at_demo",
    "access_token_secret": "ats_demo",
}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as http:
        yield http


async def test_shopify_throttled_is_retried_after_the_cost_wait(serve_app: ServeApp, client: httpx.AsyncClient) -> None:
    control = SimulatorControl(throttle_next=1, retry_after="0.3")
    url = await asyncio.to_thread(serve_app, create_shopify_simulator(control=control, access_token="shpat_x"))
    integration = IntegrationConfig(
        name="shop",
        kind="shopify",
        settings={"shop": "demo", "base_url": url, "allow_private_network": True},
        secrets={"access_token": "shpat_x"},
    )
    tracker = create_tracker(integration, client=client, retry=FAST_RETRY)

    started = time.monotonic()
    order = await tracker.find_order(order_number="1001", email="jane@example.com", postcode=None)

    assert order is not None
    assert time.monotonic() - started >= 0.25
    assert control.calls["orders"] == 2


async def test_a_revoked_permanent_shopify_token_is_an_auth_error_without_the_token_in_it(
    serve_app: ServeApp, client: httpx.AsyncClient
) -> None:
    url = await asyncio.to_thread(serve_app, create_shopify_simulator(access_token="shpat_valid"))
    integration = IntegrationConfig(
        name="shop",
        kind="shopify",
        settings={"shop": "demo", "base_url": url, "allow_private_network": True},
        secrets={"access_token": "shpat_revoked"},
    )
    tracker = create_tracker(integration, client=client, retry=FAST_RETRY)

    with pytest.raises(OrderAPIAuthError) as caught:
        await tracker.find_order(order_number="1001", email="jane@example.com", postcode=None)
    assert "shpat_revoked" not in caught.value.message


async def test_magento_integration_credentials_sign_requests_with_oauth1_hmac_sha256(
    serve_app: ServeApp, client: httpx.AsyncClient
) -> None:
    url = await asyncio.to_thread(serve_app, create_magento_simulator(oauth_credentials=OAUTH))
    stored = encrypt_secrets(OAUTH, secret_key="test-key")
    integration = IntegrationConfig(
        name="shop", kind="magento", settings={"base_url": url, "allow_private_network": True}
    )

    tracker = create_tracker(integration, client=client, encrypted_secrets=stored, secret_key="test-key")
    order = await tracker.find_order(order_number="1001", email="jane@example.com", postcode=None)
    assert order is not None and order.shipments[0].tracking_number == "GLS123456789DK"

    wrong = create_tracker(integration, client=client, secrets={**OAUTH, "consumer_secret": "not-it"}, retry=FAST_RETRY)
    with pytest.raises(OrderAPIAuthError):
        await wrong.find_order(order_number="1001", email="jane@example.com", postcode=None)


async def test_a_generic_rest_api_with_an_api_key_header_and_json_paths(
    serve_app: ServeApp, client: httpx.AsyncClient
) -> None:
    url = await asyncio.to_thread(serve_app, create_bevco_simulator(api_key="k-123"))
    integration = IntegrationConfig(
        name="shop",
        kind="generic",
        settings={
            "url": url + "/api/v1/orders/{order_number}",
            "auth": {"type": "header", "header_name": "X-Api-Key"},
            "allow_private_network": True,
            "paths": {
                "order": "order",
                "order_number": "orderNumber",
                "email": "customer.email",
                "status": "status",
                "items": "lines",
                "item_name": "productName",
                "shipments": "shipments",
                "tracking_number": "trackingNumber",
                "tracking_url": "trackingUrl",
            },
            "status_map": {"SHIPPED": "shipped"},
        },
        secrets={"api_key": "k-123"},
    )
    tracker = create_tracker(integration, client=client, retry=FAST_RETRY)

    order = await tracker.find_order(order_number="#1001", email="jane@example.com", postcode=None)

    assert order is not None and order.status == "shipped"
    assert [item.name for item in order.items] == ["Barolo DOCG 2019", "Riesling Kabinett 2022"]
    assert order.shipments[0].tracking_url == "https://gls-group.com/DK/da/find-pakke?match=GLS123456789DK"
    assert await tracker.find_order(order_number="1001", email="other@example.com", postcode=None) is None


async def test_an_order_api_on_loopback_is_refused_unless_the_chatbot_allows_it(
    serve_app: ServeApp, client: httpx.AsyncClient
) -> None:
    url = await asyncio.to_thread(serve_app, create_bevco_simulator())
    integration = IntegrationConfig(
        name="shop", kind="bevco", settings={"base_url": url}, secrets={"client_id": "sim-client", "client_secret": "s"}
    )
    tracker = create_tracker(integration, client=client, retry=FAST_RETRY)

    with pytest.raises(OrderAPIConfigError, match="private or loopback"):
        await tracker.find_order(order_number="1001", email="jane@example.com", postcode=None)


@pytest.mark.parametrize(
    ("kind", "settings", "secrets", "message"),
    [
        ("woocommerce", {}, {}, "order trackers are"),
        ("shopify", {"shop": "demo"}, {}, "access_token"),
        ("shopify", {"shop": "demo"}, {"access_token": "${UNSET_TOKEN_VARIABLE}"}, "UNSET_TOKEN_VARIABLE"),
        ("generic", {"url": "https://{email}.example.com/orders", "paths": {"email": "e"}}, {}, "host"),
        ("generic", {"url": "https://api.example.com/o/{order_number}", "paths": {}}, {}, "second factor"),
    ],
)
def test_a_misconfigured_integration_says_what_is_wrong(
    kind: str, settings: dict[str, object], secrets: dict[str, str], message: str
) -> None:
    integration = IntegrationConfig(name="shop", kind=kind, settings=settings, secrets=secrets)

    with pytest.raises(OrderAPIConfigError, match=message):
        create_tracker(integration, client=httpx.AsyncClient(), environ={})
