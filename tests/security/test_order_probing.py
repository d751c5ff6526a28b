"""A script probes order numbers and e-mail addresses, rotating its user id and conversation on
every try so that no shopper's own lockout ever fills: the failed look-ups are counted per client
address too (``rate_limits.order_lookup_failures``), and once they are used up even a right
guess gets the lockout reply, whatever id it claims."""

from __future__ import annotations

import httpx
import pytest

from samtale.orders.simulators import SimulatorControl, create_shopify_simulator
from samtale.services import Services
from tests.conversation.helpers import add_chatbot, answer_text, read_sse
from tests.orders.conftest import ServeApp, serve_app  # noqa: F401 (fixture)
from tests.orders.test_order_turns import TOKEN, shop_document

LOCKED = "cannot look up more orders"


@pytest.fixture
def control() -> SimulatorControl:
    return SimulatorControl()


@pytest.fixture
def shop_url(serve_app: ServeApp, control: SimulatorControl, monkeypatch: pytest.MonkeyPatch) -> str:  # noqa: F811
    monkeypatch.setenv("ORDERSHOP_SHOPIFY_TOKEN", TOKEN)
    return serve_app(create_shopify_simulator(control=control, access_token=TOKEN))


async def probe(client: httpx.AsyncClient, user: str, text: str) -> tuple[str, list[dict]]:
    """One message as a new shopper in a new conversation: the answer and its events."""
    response = await client.post(
        "/api/process-message", json={"chatbot_id": "ordershop", "user_id": user, "message_text": text}
    )
    assert response.status_code == 200, response.text
    events = await read_sse(client, response.json()["sse_url"])
    return answer_text(events), events


async def test_rotating_user_ids_does_not_escape_the_per_address_count_of_failed_lookups(
    client: httpx.AsyncClient, services: Services, shop_url: str, control: SimulatorControl
) -> None:
    document = shop_document(shop_url)
    document["rate_limits"] = {"order_lookup_failures": "3/hour"}
    await add_chatbot(services, **document)

    for n in range(3):
        reply, _ = await probe(client, f"probe-{n}", f"Where is my order #100{n + 3}? My email is jane@example.com")
        assert "could not find" in reply, reply
    calls_before = control.calls["orders"]

    right, events = await probe(client, "probe-new", "Where is my order #1001? My email is jane@example.com")
    assert LOCKED in right
    assert not any(event["event"] == "order" for event in events)
    assert control.calls["orders"] == calls_before, "a locked-out address still reached the order API"
