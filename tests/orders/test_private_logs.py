"""Failed lookups leave no personal data in the logs, whatever the shop system.

Every logger is captured at DEBUG (the order flow's own lines, the trackers', httpx's request
lines, httpcore's) while a shopper gets a wrong email refused, an unknown order refused, the
order system failing, and finally their order; no record names the order number or an email.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from datetime import datetime

import httpx
import pytest

from samtale.orders.flow import handle_order_turn
from samtale.orders.simulators import SimItem, SimOrder
from samtale.orders.trackers import RetryPolicy, create_tracker

from .shops import ENVIRON, ServeApp, make_shop

ORDER_NUMBER = "58213"
UNKNOWN_NUMBER = "77341"
EMAIL = "liv.lookup@example.org"
WRONG_EMAIL = "wrong.guess@example.net"
SECRETS = (ORDER_NUMBER, UNKNOWN_NUMBER, EMAIL, WRONG_EMAIL, "liv.lookup", "wrong.guess", "Liv Larsen", "Nørregade")
ORDER = SimOrder(
    number=ORDER_NUMBER,
    email=EMAIL,
    postcode="5000",
    customer_name="Liv Larsen",
    phone="+4522223333",
    street="Nørregade 9",
    city="Odense C",
    placed_at=datetime.fromisoformat("2025-04-01T10:00:00+00:00"),
    fulfillment="unfulfilled",
    items=[SimItem(name="Cava Brut", quantity=3, price=99.0)],
)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        yield client


@pytest.mark.parametrize("kind", ["shopify", "magento", "commercetools", "bevco"])
async def test_failed_verifications_are_logged_without_the_order_number_or_email(
    kind: str, serve_app: ServeApp, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    shop = make_shop(kind, orders=[ORDER])
    tracker = create_tracker(
        shop.integration(await asyncio.to_thread(serve_app, shop.app)),
        client=http,
        environ=ENVIRON,
        retry=RetryPolicy(attempts=2, initial_wait_s=0.01, max_wait_s=0.02),
    )
    caplog.set_level(logging.DEBUG)

    kinds = []
    state: dict = {}
    for message in (
        f"Where is order #{ORDER_NUMBER}? My email is {WRONG_EMAIL}",
        f"Where is order #{UNKNOWN_NUMBER}? My email is {EMAIL}",
    ):
        turn = await handle_order_turn(message=message, history=[], state=state, tracker=tracker, language="en")
        kinds.append(turn.kind)
        state = turn.state
    shop.control.fail_next = 5
    down = await handle_order_turn(
        message=f"order {ORDER_NUMBER}, {EMAIL}", history=[], state=state, tracker=tracker, language="en"
    )
    shop.control.fail_next = 0
    found = await handle_order_turn(
        message=f"order {ORDER_NUMBER}, {EMAIL}", history=[], state=down.state, tracker=tracker, language="en"
    )

    assert kinds == ["not_found", "not_found"] and down.kind == "unavailable" and found.kind == "order"
    logged = caplog.text + "\n".join(record.getMessage() for record in caplog.records)
    assert any(record.name == "samtale.orders.flow" for record in caplog.records)  # failures were logged
    assert any(record.name == "httpx" for record in caplog.records)  # and so were the requests
    for secret in SECRETS:
        assert re.search(rf"(?<!\d){re.escape(secret)}(?!\d)", logged, re.IGNORECASE) is None, secret
