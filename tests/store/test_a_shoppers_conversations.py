"""A shopper reads their conversations back: the list on any device (verified identity), one
conversation with its token, rename, archive, pin and delete; nobody else sees any of it.

Through the public API in process, on SQLite (and PostgreSQL when ``SAMTALE_TEST_POSTGRES_URL``
is set); answers come from the fake OpenAI-compatible server on loopback.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from samtale.api.schemas_conversations import ConversationItem, ConversationListResponse, ConversationResponse
from samtale.conversation.titles import title_from_question
from samtale.llm.fake import FakeLLMServer
from samtale.services import Services
from tests.conversation.helpers import add_chatbot
from tests.store.helpers import SECRET, conforms, conversation, error_code, identity, say, shop, token


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer(replies=lambda body: f"answer {len(body['messages'])}") as server:
        yield server


@pytest.fixture
async def shops(services: Services, llm: FakeLLMServer) -> None:
    await add_chatbot(services, **shop("vinbar", llm.base_url, identity_secret=SECRET))
    await add_chatbot(services, **shop("olbar", llm.base_url, identity_secret=SECRET))


async def listed(
    client: httpx.AsyncClient, services: Services, user: str = "anna", chatbot: str = "vinbar", **params: str
) -> list[dict]:
    await services.conversation.drain()  # every answered turn stored, as a moment later it is
    query, headers = identity(user, chatbot)
    response = await client.get("/api/conversations", params={**query, **params}, headers=headers)
    assert response.status_code == 200, response.text
    conforms(ConversationListResponse, response.json())
    return list(response.json()["conversations"])


async def test_a_verified_shopper_sees_their_conversations_pinned_first_then_by_last_activity(
    client: httpx.AsyncClient, services: Services, shops: None
) -> None:
    oldest = await conversation(client, "Hi! Do you deliver to Bornholm?")
    middle = await conversation(client, "Which wines go with cod?", "And with salmon?")
    newest = await conversation(client, "What does shipping cost?")
    await conversation(client, "Bob's own question", user="bob")
    await conversation(client, "Anna at another shop", chatbot="olbar")

    first = await listed(client, services)
    assert [c["id"] for c in first] == [newest["session_id"], middle["session_id"], oldest["session_id"]]
    by_id = {c["id"]: c for c in first}
    assert by_id[oldest["session_id"]]["title"] == title_from_question("Hi! Do you deliver to Bornholm?")
    assert by_id[oldest["session_id"]]["title"] == "Do you deliver to Bornholm?"
    assert by_id[middle["session_id"]]["message_count"] == 4 and by_id[newest["session_id"]]["message_count"] == 2
    assert set(by_id[newest["session_id"]]) == {
        "id", "title", "is_archived", "is_pinned", "message_count", "created_at", "updated_at", "last_message_at",
    }  # fmt: skip

    pinned = await client.patch(
        f"/api/conversations/{oldest['session_id']}", json={"is_pinned": True}, headers=token(oldest)
    )
    assert pinned.status_code == 200 and pinned.json()["is_pinned"] is True
    again = await say(
        client, "One more about cod", session_id=middle["session_id"], session_token=middle["session_token"]
    )
    assert again.status_code == 200

    # Pinned first; then the latest activity: the cod conversation was just continued.
    assert [c["id"] for c in await listed(client, services)] == [
        oldest["session_id"],
        middle["session_id"],
        newest["session_id"],
    ]
    assert [c["id"] for c in await listed(client, services, pinned="true")] == [oldest["session_id"]]
    assert oldest["session_id"] not in [c["id"] for c in await listed(client, services, pinned="false")]
    assert [c["title"] for c in await listed(client, services, user="bob")] == ["Bob's own question"]
    assert [c["title"] for c in await listed(client, services, chatbot="olbar")] == ["Anna at another shop"]


async def test_the_list_pages_with_an_opaque_cursor(client: httpx.AsyncClient, services: Services, shops: None) -> None:
    started = [await conversation(client, f"Question number {n}") for n in range(5)]
    await client.patch(
        f"/api/conversations/{started[1]['session_id']}", json={"is_pinned": True}, headers=token(started[1])
    )
    await services.conversation.drain()
    query, headers = identity("anna")
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {**query, "limit": "2", **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/conversations", params=params, headers=headers)).json()
        seen += [c["id"] for c in page["conversations"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    expected = [started[n]["session_id"] for n in (1, 4, 3, 2, 0)]  # the pinned one, then newest first
    assert seen == expected and pages == 3

    for bad in ("not-a-cursor", "eyJ4IjoxfQ", "W10"):
        refused = await client.get("/api/conversations", params={**query, "cursor": bad}, headers=headers)
        assert refused.status_code == 422 and error_code(refused) == "invalid_cursor"
    for limit in ("0", "101"):
        refused = await client.get("/api/conversations", params={**query, "limit": limit}, headers=headers)
        assert refused.status_code == 422


async def test_an_archived_conversation_leaves_the_list_until_the_archive_is_asked_for(
    client: httpx.AsyncClient, services: Services, shops: None
) -> None:
    kept = await conversation(client, "Do you sell gift cards?")
    archived = await conversation(client, "Where is my parcel?")
    changed = await client.patch(
        f"/api/conversations/{archived['session_id']}", json={"is_archived": True}, headers=token(archived)
    )
    assert changed.status_code == 200 and changed.json()["is_archived"] is True
    assert [c["id"] for c in await listed(client, services)] == [kept["session_id"]]
    assert [c["id"] for c in await listed(client, services, archived="false")] == [kept["session_id"]]
    assert [c["id"] for c in await listed(client, services, archived="true")] == [archived["session_id"]]
    await client.patch(
        f"/api/conversations/{archived['session_id']}", json={"is_archived": False}, headers=token(archived)
    )
    assert len(await listed(client, services)) == 2


async def test_a_conversation_reads_back_with_its_token_or_its_shoppers_identity(
    client: httpx.AsyncClient, services: Services, shops: None
) -> None:
    started = await conversation(client, "Do you have Barolo?", "And the price?")
    path = f"/api/conversations/{started['session_id']}"

    read = await client.get(path, headers=token(started))
    assert read.status_code == 200
    body = read.json()
    conforms(ConversationResponse, body)
    assert body["id"] == started["session_id"] and body["message_count"] == 4
    assert [(m["sequence"], m["role"]) for m in body["messages"]] == [
        (1, "user"), (2, "assistant"), (3, "user"), (4, "assistant"),
    ]  # fmt: skip
    assert [m["content"] for m in body["messages"] if m["role"] == "user"] == ["Do you have Barolo?", "And the price?"]
    assert not any(m["is_edited"] for m in body["messages"])
    assert set(body["messages"][0]) == {"id", "sequence", "role", "content", "created_at", "is_edited", "image"}

    query, headers = identity("anna")
    assert (await client.get(path, params=query, headers=headers)).json() == body  # another device, same shopper
    assert (await client.get(path, params={"token": started["session_token"]})).status_code == 200


async def test_a_rename_is_stripped_and_an_empty_change_is_refused(
    client: httpx.AsyncClient, services: Services, shops: None
) -> None:
    started = await conversation(client, "Which red for lamb?")
    path = f"/api/conversations/{started['session_id']}"
    renamed = await client.patch(path, json={"title": "   Lamb   and   red  "}, headers=token(started))
    assert renamed.status_code == 200
    conforms(ConversationItem, renamed.json())
    assert renamed.json()["title"] == "Lamb and red" and renamed.json()["is_pinned"] is False
    assert (await client.get(path, headers=token(started))).json()["title"] == "Lamb and red"

    for body in (
        {},
        {"title": "   "},
        {"title": "x" * 201},
        {"title": ""},
        {"colour": "red"},
        {"is_pinned": "perhaps"},
    ):
        refused = await client.patch(path, json=body, headers=token(started))
        assert refused.status_code == 422, body
        assert error_code(refused) == "invalid_input"
    assert (await client.get(path, headers=token(started))).json()["title"] == "Lamb and red"


async def test_a_deleted_conversation_is_gone_for_its_shopper_and_cannot_be_continued(
    client: httpx.AsyncClient, services: Services, shops: None
) -> None:
    kept = await conversation(client, "Do you have rosé?")
    gone = await conversation(client, "Please forget this one")
    path = f"/api/conversations/{gone['session_id']}"

    deleted = await client.delete(path, headers=token(gone))
    assert deleted.status_code == 204 and deleted.content == b""
    assert (await client.get(path, headers=token(gone))).status_code == 404
    assert [c["id"] for c in await listed(client, services)] == [kept["session_id"]]
    assert [c["id"] for c in await listed(client, services, archived="true")] == []
    continued = await say(client, "Hello again", session_id=gone["session_id"], session_token=gone["session_token"])
    assert continued.status_code == 404 and error_code(continued) == "session_not_found"
    assert (await client.delete(path, headers=token(gone))).status_code == 404
    assert (await client.patch(path, json={"title": "Back"}, headers=token(gone))).status_code == 404


ROUTES = [
    ("GET", "", None),
    ("PATCH", "", {"title": "Mine now"}),
    ("DELETE", "", None),
    ("PATCH", "/messages/{message_id}", {"content": "Edited by a stranger"}),
]


@pytest.mark.parametrize(("method", "suffix", "body"), ROUTES)
async def test_nobody_else_reaches_a_conversation_and_nothing_says_it_exists(
    client: httpx.AsyncClient, services: Services, shops: None, method: str, suffix: str, body: dict | None
) -> None:
    started = await conversation(client, "My private question")
    message_id = (await client.get(f"/api/conversations/{started['session_id']}", headers=token(started))).json()[
        "messages"
    ][0]["id"]
    path = f"/api/conversations/{started['session_id']}" + suffix.format(message_id=message_id)
    unknown = "/api/conversations/no-such-conversation" + suffix.format(message_id=message_id)

    async def call(url: str, **kwargs: object) -> httpx.Response:
        return await client.request(method, url, json=body, **kwargs)  # type: ignore[arg-type]

    anonymous = await call(path)
    assert anonymous.status_code == 401 and error_code(anonymous) == "session_token_required"
    assert (await call(unknown)).status_code == 401  # no credentials: nothing is looked up

    bob_query, bob_headers = identity("bob")
    other_shop_query, other_shop_headers = identity("anna", "olbar")
    other = await conversation(client, "Bob's question", user="bob")
    attempts = [
        {"headers": {"X-Session-Token": "a-guessed-token"}},
        {"headers": token(other)},  # a real token, of another conversation
        {"params": bob_query, "headers": bob_headers},  # verified, but another shopper
        {"params": other_shop_query, "headers": other_shop_headers},  # the same user id at another chatbot
    ]
    for attempt in attempts:
        refused = await call(path, **attempt)
        assert refused.status_code == 404, attempt
        assert error_code(refused) == "session_not_found"
        assert "My private question" not in refused.text
        nothing = await call(unknown, **attempt)  # the same answer as for no conversation at all
        assert nothing.status_code == 404 and error_code(nothing) == "session_not_found"
        assert set(nothing.json()["error"]) == set(refused.json()["error"])
    forged_query, _ = identity("anna")
    forged = await call(path, params=forged_query, headers={"X-User-Hash": "00" * 32})
    assert forged.status_code == 401 and error_code(forged) == "invalid_user_hash"
    still = await client.get(f"/api/conversations/{started['session_id']}", headers=token(started))
    assert still.status_code == 200 and still.json()["messages"][0]["content"] == "My private question"
    assert still.json()["title"] == "My private question"


async def test_the_list_needs_the_shoppers_verified_identity(
    client: httpx.AsyncClient, services: Services, shops: None
) -> None:
    await conversation(client, "Anything")
    query, headers = identity("anna")
    assert (await client.get("/api/conversations", params=query)).status_code == 401
    bobs_hash = identity("bob")[1]
    wrong = await client.get("/api/conversations", params=query, headers=bobs_hash)
    assert wrong.status_code == 401 and error_code(wrong) == "invalid_user_hash"
    unknown_shop = await client.get("/api/conversations", params={**query, "chatbot_id": "nobar"}, headers=headers)
    assert unknown_shop.status_code == 404
