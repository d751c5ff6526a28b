"""In production: a Prometheus scraper reaches /metrics with the metrics token, nobody else does;
the chat page never hands its stream URLs (with their tokens) on in a Referer."""

from __future__ import annotations

import httpx
import pytest

from samtale.chatbots.apikeys import create_api_key
from samtale.services import Services
from samtale.settings import Settings
from tests.conftest import SettingsFactory


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    return make_settings(environment="production", secret_key="s" * 40, metrics_token="scrape-token-123")


async def test_metrics_in_production_need_the_metrics_token_or_a_deployment_admin_key(
    client: httpx.AsyncClient, services: Services
) -> None:
    ops = await create_api_key(db=services.db, name="ops", is_admin=True)
    shop = await create_api_key(db=services.db, name="shop", is_admin=True, chatbot_id="wine-shop")

    assert (await client.get("/metrics")).status_code == 401
    assert (await client.get("/metrics", headers=bearer("scrape-token-12"))).status_code == 401
    assert (await client.get("/metrics", headers=bearer(shop))).status_code == 403
    scraped = await client.get("/metrics", headers=bearer("scrape-token-123"))
    assert scraped.status_code == 200 and "samtale_" in scraped.text
    assert (await client.get("/metrics", headers=bearer(ops))).status_code == 200


async def test_the_chat_page_sends_no_referrer(client: httpx.AsyncClient) -> None:
    page = await client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["X-Content-Type-Options"] == "nosniff"


async def test_guessing_keys_at_metrics_counts_like_any_admin_route(
    client: httpx.AsyncClient, services: Services
) -> None:
    limit = int(services.settings.admin_key_failure_limit.split("/")[0])
    for n in range(limit):
        assert (await client.get("/metrics", headers=bearer(f"sk_samtale_guess{n}"))).status_code == 401
    locked = await client.get("/metrics", headers=bearer("sk_samtale_one-more"))
    assert locked.status_code == 429 and locked.json()["error"]["details"]["rule"] == "admin_key_failures"
