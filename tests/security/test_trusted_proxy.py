"""Behind nginx (a trusted proxy), shoppers are counted by the address nginx saw, not by nginx's."""

from __future__ import annotations

import httpx
import pytest

from samtale.services import Services
from tests.conftest import SettingsFactory
from tests.security.test_rate_limits import limited_shop, message


@pytest.fixture
def settings(make_settings: SettingsFactory) -> object:
    return make_settings(trusted_proxies=["127.0.0.1/32"])


async def test_behind_a_trusted_proxy_each_shopper_is_counted_by_their_own_address(
    client: httpx.AsyncClient, services: Services
) -> None:
    await limited_shop(services, process_message_per_address="1/minute")
    # nginx on 127.0.0.1 appends the address it saw; a client-sent first hop is not believed.
    for n, chain in enumerate(["198.51.100.7", "10.9.9.9, 198.51.100.8", "198.51.100.9, 127.0.0.1"]):
        response = await client.post("/api/process-message", json=message(f"p{n}"), headers={"X-Forwarded-For": chain})
        assert response.status_code == 200, chain
    again = await client.post(
        "/api/process-message", json=message("p9"), headers={"X-Forwarded-For": "1.2.3.4, 198.51.100.7"}
    )
    assert again.status_code == 429
