"""Another site embeds a shop's chatbot to spend its LLM budget from its visitors' browsers: the
browser names that site in ``Origin``, and the chatbot, which lists only its own shop, refuses it.
A server calling without ``Origin`` is not a browser and is held by the rate limits instead."""

from __future__ import annotations

import httpx

from samtale.chatbots.service import ChatbotConfigError, parse_chatbot_documents
from samtale.services import Services
from tests.conversation.helpers import add_chatbot, read_sse

SHOP = "https://wine-shop.example"
EVIL = "https://evil.example"


def message(chatbot: str = "wine") -> dict[str, str]:
    return {"chatbot_id": chatbot, "user_id": "u", "message_text": "Hello"}


async def shops(services: Services) -> None:
    await add_chatbot(services, id="wine", name="Wine", allowed_origins=[SHOP + "/"])
    await add_chatbot(services, id="beer", name="Beer", allowed_origins=["https://beer.example"])


async def test_a_page_the_chatbot_does_not_list_is_refused_and_its_own_page_is_answered_with_cors(
    client: httpx.AsyncClient, services: Services
) -> None:
    await shops(services)
    refused = await client.post("/api/process-message", json=message(), headers={"Origin": EVIL})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "origin_not_allowed"
    assert "access-control-allow-origin" not in refused.headers
    # Another chatbot's page is no better: beer.example may call the beer chatbot only.
    other = await client.post("/api/process-message", json=message(), headers={"Origin": "https://beer.example"})
    assert other.status_code == 403

    answered = await client.post("/api/process-message", json=message(), headers={"Origin": SHOP})
    assert answered.status_code == 200
    assert answered.headers["access-control-allow-origin"] == SHOP
    assert "X-Session-Token" in answered.headers["access-control-expose-headers"]
    events = await read_sse(client, answered.json()["sse_url"], headers={"Origin": SHOP})
    assert events[-1]["event"] == "end"
    stolen = await client.get(answered.json()["sse_url"], headers={"Origin": EVIL})
    assert stolen.status_code == 403


async def test_a_preflight_is_answered_for_listed_origins_only(client: httpx.AsyncClient, services: Services) -> None:
    await shops(services)
    ask = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type,x-session-token"}
    ok = await client.options("/api/process-message", headers={"Origin": SHOP, **ask})
    assert ok.status_code == 204
    assert ok.headers["access-control-allow-origin"] == SHOP
    assert "POST" in ok.headers["access-control-allow-methods"]
    assert ok.headers["access-control-allow-headers"] == "content-type,x-session-token"
    no = await client.options("/api/process-message", headers={"Origin": EVIL, **ask})
    assert no.status_code == 403 and "access-control-allow-origin" not in no.headers


async def test_servers_and_samtales_own_pages_are_not_held_to_the_list(
    client: httpx.AsyncClient, services: Services
) -> None:
    await shops(services)
    assert (await client.post("/api/process-message", json=message())).status_code == 200  # no Origin: a server
    own = await client.post("/api/process-message", json=message(), headers={"Origin": "http://samtale.test"})
    assert own.status_code == 200  # the chat page samtale serves itself is same-origin


async def test_saving_a_chatbot_with_a_new_origin_takes_effect_at_once(
    client: httpx.AsyncClient, services: Services
) -> None:
    await shops(services)
    assert (await client.post("/api/process-message", json=message(), headers={"Origin": EVIL})).status_code == 403
    await add_chatbot(services, id="wine", name="Wine", allowed_origins=[SHOP, EVIL])
    assert (await client.post("/api/process-message", json=message(), headers={"Origin": EVIL})).status_code == 200


def test_an_origin_with_a_path_is_refused_at_import() -> None:
    try:
        parse_chatbot_documents("id: x\nname: X\nallowed_origins: ['https://shop.example/widget']\n")
    except ChatbotConfigError as exc:
        assert "allowed_origins" in exc.message and "no path" in exc.message
    else:
        raise AssertionError("an origin with a path was accepted")


async def test_a_shoppers_own_conversations_are_read_only_from_the_chatbots_pages(
    client: httpx.AsyncClient, services: Services
) -> None:
    from samtale.conversation.access import user_hash_for

    secret = "s" * 32
    await add_chatbot(services, id="wine", name="Wine", allowed_origins=[SHOP], identity_secret=secret)
    signed = {"X-User-Hash": user_hash_for(identity_secret=secret, user_id="anna")}
    query = {"chatbot_id": "wine", "user_id": "anna"}
    for path, extra in (
        ("/api/conversations", {}),
        ("/api/memories", {}),
        ("/api/conversations/search", {"q": "wine"}),
    ):
        params = {**query, **extra}
        evil = await client.get(path, params=params, headers={**signed, "Origin": EVIL})
        assert evil.status_code == 403 and evil.json()["error"]["code"] == "origin_not_allowed", path
        own = await client.get(path, params=params, headers={**signed, "Origin": SHOP})
        assert own.status_code == 200, (path, own.text)
