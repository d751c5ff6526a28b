"""Attacks across tenants, as the peers' advisories describe them (Flowise, Dify, Open WebUI,
Chatwoot): the staff of shop A hold a real admin key of A and guess the ids of shop B's objects.

Every attempt answers as if the object did not exist (404) or the key did not cover it (403), and
nothing of B's is changed. Shop B's objects are made through the public API with B's own key.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from samtale.chatbots.apikeys import create_api_key
from samtale.services import Services
from tests.conversation.helpers import add_chatbot, read_sse


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def job_done(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> dict[str, Any]:
    for _ in range(600):
        job = (await client.get(url, headers=headers)).json()
        if job["state"] not in ("queued", "running"):
            return job
        await asyncio.sleep(0.1)
    raise AssertionError("the knowledge job did not end")


@pytest.fixture
async def two_shops(client: httpx.AsyncClient, services: Services) -> dict[str, Any]:
    """Shops A and B with their own admin keys; B has a conversation, a stream and a knowledge job."""
    await add_chatbot(services, id="shop-a", name="Shop A")
    await add_chatbot(services, id="shop-b", name="Shop B")
    key_a = await create_api_key(db=services.db, name="a staff", is_admin=True, chatbot_id="shop-a")
    key_b = await create_api_key(db=services.db, name="b staff", is_admin=True, chatbot_id="shop-b")
    turn = (
        await client.post(
            "/api/process-message",
            json={"chatbot_id": "shop-b", "user_id": "bob", "message_text": "My address is secret"},
        )
    ).json()
    await read_sse(client, turn["sse_url"])
    await services.conversation.drain()
    await services.recorder.flush()
    upload = await client.post(
        "/api/admin/chatbots/shop-b/knowledge/indexes/faq/documents",
        files=[("files", ("faq.md", b"# Returns\nReturns within 30 days.\n", "text/markdown"))],
        headers=bearer(key_b),
    )
    assert upload.status_code == 202, upload.text
    await job_done(client, upload.json()["status_url"], bearer(key_b))
    return {"a": bearer(key_a), "b": bearer(key_b), "turn": turn, "job_id": upload.json()["job_id"]}


async def test_shop_a_cannot_read_shop_bs_conversation_stream_or_job_by_guessing_ids(
    client: httpx.AsyncClient, two_shops: dict[str, Any]
) -> None:
    a, turn = two_shops["a"], two_shops["turn"]
    b_conversation, b_stream = turn["session_id"], turn["streaming_session_id"]

    # B's objects under A's own path (A's key covers it): not found.
    assert (
        await client.get(f"/api/admin/chatbots/shop-a/conversations/{b_conversation}", headers=a)
    ).status_code == 404
    assert (
        await client.get(f"/api/admin/chatbots/shop-a/knowledge/jobs/{two_shops['job_id']}", headers=a)
    ).status_code == 404
    docs = await client.get("/api/admin/chatbots/shop-a/knowledge/indexes/faq/documents", headers=a)
    assert docs.status_code == 404 or docs.json().get("documents") == []
    listed = (await client.get("/api/admin/chatbots/shop-a/conversations", headers=a)).json()
    assert listed["conversations"] == []
    # B's objects under B's path: A's key does not cover it.
    for path in (
        f"/api/admin/chatbots/shop-b/conversations/{b_conversation}",
        f"/api/admin/chatbots/shop-b/knowledge/jobs/{two_shops['job_id']}",
        "/api/admin/chatbots/shop-b/knowledge/indexes",
        "/api/admin/chatbots/shop-b",
    ):
        assert (await client.get(path, headers=a)).status_code == 403, path
    # B's stream with A's admin key instead of the shopper's token.
    stream = await client.get(f"/api/stream-events/{b_stream}", headers=a)
    assert stream.status_code == 403
    assert "secret" not in stream.text
    # The erasure of B's shopper through A's path removes nothing of B's.
    erased = await client.delete("/api/admin/chatbots/shop-a/users/bob", headers=a)
    assert erased.status_code == 200 and all(count == 0 for count in erased.json()["removed"].values())
    still = await client.get(f"/api/admin/chatbots/shop-b/conversations/{b_conversation}", headers=two_shops["b"])
    assert still.status_code == 200 and len(still.json()["messages"]) == 2


async def test_a_put_under_as_path_carrying_bs_id_does_not_become_an_upsert_into_b(
    client: httpx.AsyncClient, services: Services, two_shops: dict[str, Any]
) -> None:
    document = {"id": "shop-b", "name": "Taken over", "flows": [{"type": "main"}]}
    response = await client.put("/api/admin/chatbots/shop-a", json=document, headers=two_shops["a"])
    assert response.status_code == 422 and "does not match" in response.json()["error"]["message"]
    b = await client.get("/api/admin/chatbots/shop-b", headers=two_shops["b"])
    assert b.json()["name"] == "Shop B"


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd", "..\\..\\boot.ini", "faq\x00.md", "...."])
async def test_a_document_name_cannot_climb_out_of_the_upload_folder(
    client: httpx.AsyncClient, services: Services, two_shops: dict[str, Any], name: str, tmp_path: Path
) -> None:
    before = await asyncio.to_thread(_files_under, tmp_path.parent)
    response = await client.post(
        "/api/admin/chatbots/shop-b/knowledge/indexes/faq/documents",
        files=[("files", (name, b"# Delivery\nTwo days.\n", "text/markdown"))],
        headers=two_shops["b"],
    )
    assert response.status_code in (202, 422), response.text
    if response.status_code == 202:
        job = await job_done(client, response.json()["status_url"], two_shops["b"])
        for file_name in job["files"]:
            assert "/" not in file_name and "\\" not in file_name and "\x00" not in file_name and ".." != file_name
    climbed = await asyncio.to_thread(_climbed_out, tmp_path.parent, before, services.settings.data_dir)
    assert not climbed, climbed


def _files_under(root: Path) -> set[Path]:
    return {path.resolve() for path in root.rglob("*")}


def _climbed_out(root: Path, before: set[Path], data_dir: Path) -> list[Path]:
    """Files made since ``before`` named like a traversal target and not under ``data_dir``."""
    inside = data_dir.resolve()
    created = _files_under(root) - before
    return [p for p in created if ("passwd" in p.name or "boot" in p.name) and inside not in p.parents]
