"""A chatbot's admin points its URLs at the server's own network: the connection is never made.

The operator allows nothing private here (``outbound_allow=[]``, test mode: no loopback either).
The shop's simulator and the fake LLM listen on 127.0.0.1, so reaching them is what an attacker
would do; the operator's own ``SAMTALE_OPENAI_BASE_URL`` on 127.0.0.1 stays reachable.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from samtale.http.outbound_guard import OutboundPolicy
from samtale.http.pools import HttpPools
from samtale.llm.fake import FakeLLMServer
from samtale.orders.simulators import SimulatorControl, create_shopify_simulator
from samtale.services import Services
from samtale.settings import Settings
from tests.conftest import SettingsFactory
from tests.conversation.helpers import add_chatbot, answer_text, read_sse
from tests.orders.conftest import ServeApp, serve_app  # noqa: F401 (fixture)

METADATA = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"


@pytest.fixture
async def operator_llm() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer(replies=lambda body: "From the operator's own model.") as server:
        yield server


@pytest.fixture
def settings(make_settings: SettingsFactory, operator_llm: FakeLLMServer) -> Settings:
    return make_settings(outbound_allow=[], openai_base_url=operator_llm.base_url)


@pytest.fixture
def control() -> SimulatorControl:
    return SimulatorControl()


@pytest.fixture
def shop_url(serve_app: ServeApp, control: SimulatorControl) -> str:  # noqa: F811
    url = serve_app(create_shopify_simulator(control=control, access_token="shpat_guard"))
    return url.replace("127.0.0.1", "localhost")  # a name that resolves to loopback


async def test_an_order_api_on_localhost_is_never_called_even_when_the_tenant_allows_it(
    client: httpx.AsyncClient,
    services: Services,
    shop_url: str,
    control: SimulatorControl,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GUARD_SHOP_TOKEN", "shpat_guard")
    await add_chatbot(
        services,
        id="guarded",
        name="Guarded Shop",
        flows=[{"type": "main"}, {"type": "apiflow", "route_key": "order", "integration": "shop"}],
        routing={"strategy": "keywords", "keywords": [{"route_key": "order", "pattern": r"#\d{3,}"}]},
        integrations=[
            {
                "name": "shop",
                "kind": "shopify",
                # The tenant's own word is not enough: the operator allowed no private network.
                "settings": {"shop": "guarded", "base_url": shop_url, "allow_private_network": True},
                "secrets": {"access_token": "${GUARD_SHOP_TOKEN}"},
            }
        ],
    )
    started = await client.post(
        "/api/process-message",
        json={"chatbot_id": "guarded", "user_id": "u", "message_text": "Where is #1001? jane@example.com"},
    )
    events = await read_sse(client, started.json()["sse_url"])
    assert events[-1]["event"] == "error" and events[-1]["data"]["category"] == "order_api"
    assert "not answering" in events[-1]["data"]["shopper_message"]
    assert sum(control.calls.values()) == 0, "the simulator on loopback got a request"


async def test_a_tenant_llm_base_url_on_loopback_is_refused_but_the_operators_own_answers(
    client: httpx.AsyncClient, services: Services, operator_llm: FakeLLMServer
) -> None:
    async with FakeLLMServer(replies=lambda body: "internal service reached") as internal:
        await add_chatbot(
            services,
            id="sneaky",
            name="Sneaky",
            llm={"provider": "openai", "model": "fake-model", "base_url": internal.base_url},
        )
        await add_chatbot(services, id="honest", name="Honest", llm={"provider": "openai", "model": "fake-model"})
        sneaky = await client.post(
            "/api/process-message", json={"chatbot_id": "sneaky", "user_id": "u", "message_text": "Hi"}
        )
        events = await read_sse(client, sneaky.json()["sse_url"])
        assert events[-1]["event"] == "error" and "internal service reached" not in answer_text(events)
        assert internal.chat_requests == []
    honest = await client.post(
        "/api/process-message", json={"chatbot_id": "honest", "user_id": "u", "message_text": "Hi"}
    )
    assert answer_text(await read_sse(client, honest.json()["sse_url"])) == "From the operator's own model."


class _Redirect(BaseHTTPRequestHandler):
    hits = 0

    def do_GET(self) -> None:
        type(self).hits += 1
        self.send_response(302)
        self.send_header("Location", METADATA)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def redirector() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Redirect)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/webhook"
    server.shutdown()
    server.server_close()


async def test_a_redirect_to_the_metadata_service_is_refused_at_the_hop(redirector: str) -> None:
    # The redirecting host is allowed (as if it were public); the hop to 169.254.169.254 is not.
    pools = HttpPools(policy=OutboundPolicy(allow=["127.0.0.1/32"]))
    try:
        with pytest.raises(httpx.ConnectError) as caught:
            await pools.general.get(redirector, follow_redirects=True)
        assert "169.254.169.254" in str(caught.value) and "SAMTALE_OUTBOUND_ALLOW" in str(caught.value)
        assert _Redirect.hits == 1
        with pytest.raises(httpx.ConnectError):
            await pools.general.get(METADATA)
    finally:
        await pools.aclose()
    strict = HttpPools(policy=OutboundPolicy())
    try:
        with pytest.raises(httpx.ConnectError) as named:
            await strict.general.get(redirector.replace("127.0.0.1", "localhost"))  # a name: the resolver refuses
        assert "refused" in str(named.value) and _Redirect.hits == 1
    finally:
        await strict.aclose()


def test_the_policy_allows_public_addresses_operator_endpoints_and_listed_networks_only() -> None:
    policy = OutboundPolicy(allow=["10.1.0.0/16", "shop.internal"], trusted_urls=["http://127.0.0.1:3000"])
    assert policy.allows_address("93.184.215.14") and policy.allows_address("10.1.2.3")
    for address in ("10.2.0.1", "127.0.0.1", "169.254.169.254", "::1", "::ffff:127.0.0.1", "fd00::1", "0.0.0.0"):
        assert not policy.allows_address(address), address
    assert policy.allows_name("127.0.0.1", 3000) and not policy.allows_name("127.0.0.1", 3001)
    assert policy.allows_name("Shop.Internal.", 443)
    assert OutboundPolicy(allow_loopback=True).allows_address("127.0.0.1")
