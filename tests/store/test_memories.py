"""A verified shopper keeps memories (seed 003: question, answer, tags, importance 1–5): creates,
lists, changes, searches (in the chatbot's language) and deletes them; nobody else reaches them.

Through the public API in process, on SQLite (and PostgreSQL when ``SAMTALE_TEST_POSTGRES_URL`` is set).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import insert

from samtale.conversation.access import user_hash_for
from samtale.conversation.memories import MAX_MEMORIES_PER_SHOPPER
from samtale.conversation.shoppers import shopper_id
from samtale.services import Services
from samtale.storage.base import new_id, utcnow
from samtale.storage.models import Memory, Shopper
from tests.conversation.helpers import add_chatbot

SECRET = "shop-backend-signing-key-0123456789"


@pytest.fixture
async def shops(services: Services) -> None:
    await add_chatbot(services, id="vinhus", name="Vinhus", language="da", identity_secret=SECRET)
    await add_chatbot(services, id="wineshop", name="Wine", language="en", identity_secret=SECRET)


def who(user: str, chatbot: str = "vinhus") -> dict[str, str]:
    return {"chatbot_id": chatbot, "user_id": user}


def signed(user: str) -> dict[str, str]:
    return {"X-User-Hash": user_hash_for(identity_secret=SECRET, user_id=user)}


async def remember(client: httpx.AsyncClient, user: str, chatbot: str = "vinhus", **memory: Any) -> dict[str, Any]:
    response = await client.post("/api/memories", params=who(user, chatbot), headers=signed(user), json=memory)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def listed(client: httpx.AsyncClient, user: str, chatbot: str = "vinhus", **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/api/memories", params={**who(user, chatbot), **params}, headers=signed(user))
    assert response.status_code == 200, response.text
    return list(response.json()["memories"])


async def test_a_shopper_keeps_changes_and_forgets_memories_most_important_first(
    client: httpx.AsyncClient, shops: None
) -> None:
    wines = await remember(client, "anna", question="Hvilke vine kan jeg lide?", answer="Tørre hvidvine uden eg")
    assert wines["importance"] == 3 and wines["tags"] == [] and wines["created_at"] == wines["updated_at"]
    allergy = await remember(
        client, "anna", question="Har jeg allergier?", answer="Sulfitter", tags=[" Helbred ", "helbred"], importance=5
    )
    assert allergy["tags"] == ["helbred"]
    gifts = await remember(client, "anna", question="Gaver til far?", answer="Portvin", tags=["gaver"], importance=2)
    assert [memory["id"] for memory in await listed(client, "anna")] == [allergy["id"], wines["id"], gifts["id"]]

    changed = await client.patch(
        f"/api/memories/{gifts['id']}", params=who("anna"), headers=signed("anna"), json={"importance": 4}
    )
    assert changed.status_code == 200 and changed.json()["importance"] == 4
    assert changed.json()["updated_at"] > gifts["updated_at"] and changed.json()["answer"] == "Portvin"
    assert [memory["id"] for memory in await listed(client, "anna")] == [allergy["id"], gifts["id"], wines["id"]]
    assert [memory["id"] for memory in await listed(client, "anna", tag="Helbred")] == [allergy["id"]]

    gone = await client.delete(f"/api/memories/{wines['id']}", params=who("anna"), headers=signed("anna"))
    assert gone.status_code == 204 and gone.content == b""
    assert [memory["id"] for memory in await listed(client, "anna")] == [allergy["id"], gifts["id"]]
    again = await client.delete(f"/api/memories/{wines['id']}", params=who("anna"), headers=signed("anna"))
    assert again.status_code == 404 and again.json()["error"]["code"] == "memory_not_found"


async def test_memories_are_found_in_the_chatbots_language_by_question_answer_or_tag(
    client: httpx.AsyncClient, shops: None
) -> None:
    delivery = await remember(
        client, "anna", question="Hvor skal leveringen hen?", answer="Til pakkeshoppen i Valby", tags=["levering"]
    )
    wines = await remember(client, "anna", question="Hvilke vine kan jeg lide?", answer="Tørre hvidvine", tags=["smag"])
    await remember(client, "bo", question="Hvor skal leveringen hen?", answer="Hjem til mig")  # someone else's
    english = await remember(client, "sam", "wineshop", question="Where do deliveries go?", answer="To the office")

    async def search(q: str, user: str = "anna", chatbot: str = "vinhus") -> list[dict[str, Any]]:
        response = await client.get("/api/memories/search", params={"q": q, **who(user, chatbot)}, headers=signed(user))
        assert response.status_code == 200, response.text
        return list(response.json()["results"])

    found = await search("levering")
    assert [hit["id"] for hit in found] == [delivery["id"]]
    assert found[0]["snippet"] == "Hvor skal <mark>leveringen</mark> hen? — Til pakkeshoppen i Valby"
    assert found[0]["score"] > 0 and found[0]["answer"] == "Til pakkeshoppen i Valby"
    assert [hit["id"] for hit in await search("smag")] == [wines["id"]]  # by its tag
    assert [hit["id"] for hit in await search("hvidvin")] == [wines["id"]]  # hvidvine → hvidvin
    assert await search("levering valby -pakkeshoppen") == []
    assert [hit["id"] for hit in await search("delivery", "sam", "wineshop")] == [english["id"]]
    assert await search("delivery", "anna", "wineshop") == []  # Anna has no memories at the other shop

    changed = await client.patch(
        f"/api/memories/{wines['id']}",
        params=who("anna"),
        headers=signed("anna"),
        json={"answer": "Rødvin fra Piemonte"},
    )
    assert changed.status_code == 200
    assert await search("hvidvine") == []
    assert [hit["id"] for hit in await search("piemonte")] == [wines["id"]]


async def test_nobody_reaches_another_shoppers_memories(
    client: httpx.AsyncClient, services: Services, shops: None
) -> None:
    annas = await remember(client, "anna", question="Min adresse?", answer="Valby Langgade 1")
    url = f"/api/memories/{annas['id']}"
    as_bo = await client.patch(url, params=who("bo"), headers=signed("bo"), json={"answer": "mine now"})
    assert as_bo.status_code == 404 and as_bo.json()["error"]["code"] == "memory_not_found"
    assert (await client.delete(url, params=who("bo"), headers=signed("bo"))).status_code == 404
    other_shop = await client.delete(url, params=who("anna", "wineshop"), headers=signed("anna"))
    assert other_shop.status_code == 404  # the same shopper id at another chatbot is another shopper
    assert await listed(client, "bo") == []

    unsigned = await client.get("/api/memories", params=who("anna"))
    assert unsigned.status_code == 401 and unsigned.json()["error"]["code"] == "user_hash_required"
    forged = await client.post(
        "/api/memories", params=who("anna"), headers={"X-User-Hash": "ab" * 32}, json={"question": "q", "answer": "a"}
    )
    assert forged.status_code == 401 and forged.json()["error"]["code"] == "invalid_user_hash"
    assert [memory["answer"] for memory in await listed(client, "anna")] == ["Valby Langgade 1"]
    async with services.db.session() as session:
        anna = await session.get(Shopper, shopper_id(chatbot_id="vinhus", user_id="anna"))
    assert anna is not None and anna.verified_at is not None  # created by her first memory


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"question": "q", "answer": "a", "importance": 6}, "importance"),
        ({"question": "q", "answer": "a", "importance": 0}, "importance"),
        ({"question": "", "answer": "a"}, "question"),
        ({"question": "q"}, "answer"),
        ({"question": "q", "answer": "a", "tags": ["x" * 41]}, "tags"),
        ({"question": "q", "answer": "a", "tags": [str(n) for n in range(21)]}, "tags"),
        ({"question": "q", "answer": "a", "colour": "red"}, "colour"),
    ],
)
async def test_a_memory_that_breaks_the_rules_is_refused_with_422(
    client: httpx.AsyncClient, shops: None, body: dict[str, Any], field: str
) -> None:
    response = await client.post("/api/memories", params=who("anna"), headers=signed("anna"), json=body)
    assert response.status_code == 422 and response.json()["error"]["code"] == "invalid_input"
    assert field in response.text
    assert await listed(client, "anna") == []


async def test_a_change_must_change_something_and_a_shopper_keeps_at_most_500(
    client: httpx.AsyncClient, services: Services, shops: None
) -> None:
    first = await remember(client, "anna", question="q", answer="a")
    empty = await client.patch(f"/api/memories/{first['id']}", params=who("anna"), headers=signed("anna"), json={})
    assert empty.status_code == 422
    now = utcnow()
    owner = shopper_id(chatbot_id="vinhus", user_id="anna")
    async with services.db.session() as session:
        await session.execute(
            insert(Memory),
            [
                {"id": new_id(), "chatbot_id": "vinhus", "shopper_id": owner, "question": f"q{n}", "answer": "a",
                 "tags": [], "importance": 1, "language": "da", "created_at": now, "updated_at": now}
                for n in range(MAX_MEMORIES_PER_SHOPPER - 1)
            ],
        )  # fmt: skip
    full = await client.post(
        "/api/memories", params=who("anna"), headers=signed("anna"), json={"question": "q", "answer": "a"}
    )
    assert full.status_code == 409 and full.json()["error"]["code"] == "memory_limit_reached"
    assert len(await listed(client, "anna", limit=500)) == 500
