"""The shop's order API stops answering while a shopper asks about an order (through the public API).

The process's ``orders`` pool gets a short timeout (0.5 s instead of seed 000's 15 s) so the
test does not wait long; the Shopify simulator answers after 2 s.
"""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from samtale.chatbots.apikeys import create_api_key
from samtale.orders.simulators import SimulatorControl, create_shopify_simulator
from samtale.services import Services
from samtale.settings import Settings
from samtale.storage.models import ConversationProcessingMetrics, Message
from tests.conftest import SettingsFactory
from tests.conversation.helpers import add_chatbot, read_sse

from .shops import ServeApp
from .test_order_turns import TOKEN, shop_document


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    """The shared test settings with an impatient ``orders`` pool."""
    return make_settings(pool_orders_timeout_s=0.5)


@pytest.fixture
def control() -> SimulatorControl:
    return SimulatorControl(delay_s=2.0)


@pytest.fixture
def shop_url(serve_app: ServeApp, control: SimulatorControl, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("ORDERSHOP_SHOPIFY_TOKEN", TOKEN)
    return serve_app(create_shopify_simulator(control=control, access_token=TOKEN))


async def test_an_order_api_timeout_tells_the_shopper_and_the_turn_is_still_stored(
    client: httpx.AsyncClient, services: Services, shop_url: str, control: SimulatorControl
) -> None:
    await add_chatbot(services, **shop_document(shop_url))
    admin = {"Authorization": f"Bearer {await create_api_key(db=services.db, name='ops', is_admin=True)}"}
    services.pools.reset()

    body = {
        "user_id": "shopper-1",
        "chatbot_id": "ordershop",
        "message_text": "Where is my order #1001? My email is jane@example.com",
    }
    started = (await client.post("/api/process-message", json=body)).json()
    events = await read_sse(client, started["sse_url"])
    await services.conversation.drain()

    # The shopper is told the order system is not answering, as an `order_api` error.
    error = events[-1]
    assert error["event"] == "error"
    assert error["data"]["category"] == "order_api"
    assert "not answering" in error["data"]["shopper_message"]
    assert not any(event["event"] == "order" for event in events)
    assert control.calls["orders"] >= 1

    # The turn is stored: both messages and its metrics row.
    async with services.db.session() as session:
        messages = (
            await session.scalars(
                select(Message).where(Message.session_id == started["session_id"]).order_by(Message.sequence)
            )
        ).all()
        metrics = (
            await session.scalars(
                select(ConversationProcessingMetrics).where(
                    ConversationProcessingMetrics.streaming_session_id == started["streaming_session_id"]
                )
            )
        ).one()
    assert [(m.role, m.content) for m in messages] == [
        ("user", body["message_text"]),
        ("assistant", error["data"]["shopper_message"]),
    ]
    assert metrics.status == "failed" and metrics.error_category == "order_api"

    # Only the orders pool saw the timeouts.
    pools = (await client.get("/api/monitoring/connection-pools", headers=admin)).json()
    assert pools["orders"]["timeouts"] >= 1
    assert pools["orders"]["timeout_s"] == 0.5
    assert pools["ai"]["timeouts"] == 0 and pools["general"]["timeouts"] == 0
