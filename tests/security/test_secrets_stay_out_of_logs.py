"""An operator runs a whole day's kinds of traffic with distinctive secrets, then searches every log
line, every ``error_logs`` row and every response body for them: none is there.

The secrets: the LLM API key, the shop's Admin API token, the chatbot's identity secret, an admin
API key, a wrong admin key, a shopper's session token (sent as ``?token=`` too) and a wrong one.
The order API fails (the simulator refuses the configured token), so the error path is logged.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from samtale.chatbots.apikeys import create_api_key
from samtale.conversation.access import user_hash_for
from samtale.llm.fake import FakeLLMServer
from samtale.orders.simulators import create_shopify_simulator
from samtale.services import Services
from samtale.storage.models import ErrorLog
from tests.conversation.helpers import add_chatbot, read_sse
from tests.orders.conftest import ServeApp, serve_app  # noqa: F401 (fixture)

LLM_KEY = "sk-llm-7b1e2f9c4d"
SHOP_TOKEN = "shpat_4a0c9e8b7d6f"
IDENTITY_SECRET = "idsec-5e3d1c0b9a8f"
WRONG_ADMIN_KEY = "sk_samtale_wr0ngGuessQ9x7"
WRONG_SESSION_TOKEN = "tok-wr0ng-8c7b6a5f"


@pytest.fixture
def shop_url(serve_app: ServeApp) -> str:  # noqa: F811
    """A Shopify simulator that expects another token than the one configured: every look-up fails."""
    return serve_app(create_shopify_simulator(access_token="shpat_the_shop_expects_another"))


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer(replies=lambda body: "Here is what I found.") as server:
        yield server


async def test_no_secret_reaches_a_log_line_an_error_row_or_a_response(
    client: httpx.AsyncClient,
    services: Services,
    llm: FakeLLMServer,
    shop_url: str,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("SECRETSHOP_TOKEN", SHOP_TOKEN)
    monkeypatch.setenv("SECRETSHOP_LLM_KEY", LLM_KEY)
    await add_chatbot(
        services,
        id="secretshop",
        name="Secret Shop",
        identity_secret=IDENTITY_SECRET,
        llm={"provider": "openai", "model": "fake-model", "base_url": llm.base_url, "api_key": "${SECRETSHOP_LLM_KEY}"},
        flows=[{"type": "main"}, {"type": "apiflow", "route_key": "order", "integration": "shop"}],
        routing={"strategy": "keywords", "keywords": [{"route_key": "order", "pattern": r"#\d{3,}"}]},
        integrations=[
            {
                "name": "shop",
                "kind": "shopify",
                "settings": {"shop": "secretshop", "base_url": shop_url, "allow_private_network": True},
                "secrets": {"access_token": "${SECRETSHOP_TOKEN}"},
            }
        ],
    )
    admin_key = await create_api_key(db=services.db, name="ops", is_admin=True)
    responses: list[httpx.Response] = []

    user_hash = user_hash_for(identity_secret=IDENTITY_SECRET, user_id="jane")
    first = await client.post(
        "/api/process-message",
        json={"chatbot_id": "secretshop", "user_id": "jane", "message_text": "Hello there"},
        headers={"X-User-Hash": user_hash},
    )
    assert first.status_code == 200
    session_token = first.json()["session_token"]  # handed to its shopper: the one body allowed to carry it
    responses.append(await client.get(first.json()["sse_url"]))  # the token travels as ?token=
    await read_sse(client, first.json()["sse_url"])
    order = await client.post(
        "/api/process-message",
        json={
            "chatbot_id": "secretshop",
            "user_id": "jane",
            "session_id": first.json()["session_id"],
            "message_text": "Where is order #1001? My email is jane@example.com",
        },
        headers={"X-Session-Token": session_token},
    )
    assert order.status_code == 200
    responses.append(await client.get(order.json()["sse_url"]))
    responses.append(
        await client.get(f"/api/stream/{order.json()['streaming_session_id']}?token={WRONG_SESSION_TOKEN}")
    )
    responses.append(await client.get("/api/admin/chatbots/secretshop", headers={"X-API-Key": admin_key}))
    responses.append(await client.get("/api/admin/chatbots", headers={"Authorization": f"Bearer {WRONG_ADMIN_KEY}"}))
    responses.append(
        await client.get(
            f"/api/admin/chatbots/secretshop/conversations/{first.json()['session_id']}",
            headers={"X-API-Key": admin_key},
        )
    )
    responses.append(await client.get("/api/monitoring/conversation-health", headers={"X-API-Key": admin_key}))
    responses.append(await client.get("/metrics"))
    await services.conversation.drain()
    await services.recorder.flush()

    async with services.db.session() as session:
        errors = (await session.scalars(select(ErrorLog))).all()
    assert any(row.category == "order_api" for row in errors), "the failing order API was logged"
    stored = [f"{row.code} {row.message} {row.recovery} {row.context} {row.system_state}" for row in errors]
    lines = [record.getMessage() + (record.exc_text or "") for record in caplog.records]
    assert lines, "the scenario logged something to search"
    bodies = [response.text + str(response.headers) for response in responses]
    for secret in (
        LLM_KEY,
        SHOP_TOKEN,
        IDENTITY_SECRET,
        admin_key,
        WRONG_ADMIN_KEY,
        session_token,
        WRONG_SESSION_TOKEN,
    ):
        for where, texts in (("log line", lines), ("error_logs row", stored), ("response", bodies)):
            leaks = [text for text in texts if secret in text]
            assert not leaks, f"{secret[:8]}… in a {where}: {leaks[0][:300]}"
