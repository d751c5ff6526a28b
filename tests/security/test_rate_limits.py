"""A script that hammers the chat spends no more of the shop's LLM budget than its limits allow;
real shoppers are not affected, a spoofed X-Forwarded-For picks no new bucket, wrong API keys are
counted per address, and every worker of a deployment counts against the same Redis counters."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from samtale.app import create_app
from samtale.chatbots.apikeys import create_api_key
from samtale.chatbots.service import ChatbotConfigError, parse_chatbot_documents
from samtale.services import Services
from tests.conftest import SettingsFactory
from tests.conversation.helpers import add_chatbot


def message(user_id: str, text: str = "Hello", **extra: str) -> dict[str, str]:
    return {"chatbot_id": "limited", "user_id": user_id, "message_text": text, **extra}


async def limited_shop(services: Services, **rate_limits: str) -> None:
    await add_chatbot(services, id="limited", name="Limited Shop", rate_limits=rate_limits)


async def test_a_shopper_over_the_limit_gets_429_with_retry_after_and_others_still_chat(
    client: httpx.AsyncClient, services: Services
) -> None:
    await limited_shop(services, process_message="3/minute")
    for n in range(3):
        assert (await client.post("/api/process-message", json=message("bot", f"q{n}"))).status_code == 200

    refused = await client.post("/api/process-message", json=message("bot", "q4"))
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["code"] == "rate_limited" and "3 per 1 minute" in error["message"]
    assert error["details"]["rule"] == "process_message"
    assert 1 <= int(refused.headers["Retry-After"]) <= 61
    assert (await client.post("/api/process-message", json=message("real-shopper"))).status_code == 200


async def test_a_new_conversation_does_not_reset_a_shoppers_count_nor_a_new_user_id_the_conversations(
    client: httpx.AsyncClient, services: Services
) -> None:
    await limited_shop(services, process_message="2/minute")
    first = (await client.post("/api/process-message", json=message("u1"))).json()
    await client.post("/api/process-message", json=message("u1", "a new conversation"))
    over = await client.post("/api/process-message", json=message("u1", "and another"))
    assert over.status_code == 429 and "from you" in over.json()["error"]["message"]

    # Each continuation of one conversation counts for it, whatever user id it claims.
    session = {"session_id": first["session_id"]}
    token = {"X-Session-Token": first["session_token"]}
    for user in ("u2", "u3"):
        response = await client.post("/api/process-message", json=message(user, **session), headers=token)
        assert response.status_code != 429, user
    over = await client.post("/api/process-message", json=message("u4", **session), headers=token)
    assert over.status_code == 429 and "this conversation" in over.json()["error"]["message"]


async def test_the_address_limit_ignores_x_forwarded_for_from_an_untrusted_peer(
    client: httpx.AsyncClient, services: Services
) -> None:
    await limited_shop(services, process_message_per_address="2/minute")
    for n in range(2):
        spoofed = {"X-Forwarded-For": f"203.0.113.{n}"}
        response = await client.post("/api/process-message", json=message(f"s{n}"), headers=spoofed)
        assert response.status_code == 200
    third = await client.post("/api/process-message", json=message("s3"), headers={"X-Forwarded-For": "203.0.113.99"})
    assert third.status_code == 429 and "this address" in third.json()["error"]["message"]


async def test_guessing_admin_keys_locks_the_address_out_even_for_a_right_key(
    client: httpx.AsyncClient, services: Services
) -> None:
    good = await create_api_key(db=services.db, name="ops", is_admin=True)
    limit = int(services.settings.admin_key_failure_limit.split("/")[0])
    for n in range(limit):
        wrong = await client.get("/api/admin/chatbots", headers={"Authorization": f"Bearer sk_samtale_guess{n}"})
        assert wrong.status_code == 401
    locked = await client.get("/api/admin/chatbots", headers={"Authorization": f"Bearer {good}"})
    assert locked.status_code == 429 and locked.json()["error"]["details"]["rule"] == "admin_key_failures"
    assert int(locked.headers["Retry-After"]) >= 1


def test_a_limit_not_in_the_limits_notation_is_refused_naming_the_field() -> None:
    with pytest.raises(ChatbotConfigError) as caught:
        parse_chatbot_documents("id: x\nname: X\nrate_limits: {process_message: 'twenty a minute'}\n")
    assert "rate_limits.process_message" in caught.value.message and "20/minute" in caught.value.message


@pytest.mark.redis
async def test_two_workers_on_one_redis_count_a_shopper_once(make_settings: SettingsFactory, redis_url: str) -> None:
    prefix = f"test-limits-{uuid.uuid4().hex}"
    settings = make_settings(redis_url=redis_url, rate_limit_key_prefix=prefix)
    workers: list[Services] = []
    for _ in range(2):
        worker = await asyncio.to_thread(Services.create, settings)
        await worker.start(warm_up=False, scheduler=False)
        workers.append(worker)
    try:
        await limited_shop(workers[0], process_message="4/minute")
        statuses = []
        async with _client(workers[0]) as a, _client(workers[1]) as b:
            for n in range(6):
                response = await (a if n % 2 else b).post("/api/process-message", json=message("roamer", f"m{n}"))
                statuses.append(response.status_code)
        assert statuses == [200, 200, 200, 200, 429, 429]
    finally:
        for worker in workers:
            await worker.aclose()


def _client(services: Services) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(services=services)), base_url="http://w")


async def test_uploads_and_ratings_are_limited_per_address(
    client: httpx.AsyncClient, services: Services, make_settings: SettingsFactory
) -> None:
    from io import BytesIO

    from PIL import Image

    await add_chatbot(
        services, id="limited", name="Limited", image_enabled=True, rate_limits={"upload_image": "2/minute"}
    )
    out = BytesIO()
    Image.new("RGB", (8, 8), "red").save(out, format="PNG")
    statuses = []
    for _ in range(3):
        upload = await client.post(
            "/api/upload-image",
            data={"chatbot_id": "limited"},
            files={"file": ("dot.png", out.getvalue(), "image/png")},
        )
        statuses.append(upload.status_code)
    assert statuses == [200, 200, 429]

    limit = int(services.settings.feedback_rate_limit.split("/")[0])
    for _ in range(limit):
        rated = await client.post(
            "/api/feedback", json={"message_id": "nope", "rating": "up"}, headers={"X-Session-Token": "t"}
        )
        assert rated.status_code != 429
    over = await client.post(
        "/api/feedback", json={"message_id": "nope", "rating": "up"}, headers={"X-Session-Token": "t"}
    )
    assert over.status_code == 429 and over.json()["error"]["details"]["rule"] == "feedback"
