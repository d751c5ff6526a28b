"""The chat page lets a shopper attach a photo when the chatbot takes images, and does what the
page's script does: upload the photo into the running conversation (form, session token), then
send the message naming its file id; the answer uses the fake vision model's description."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from samtale.llm.fake import FakeLLMServer
from samtale.services import Services
from tests.conversation.helpers import add_chatbot, answer_text, read_sse
from tests.images.photos import jpeg_with_gps, photo

DESCRIPTION = "A cup of coffee on a saucer, with a spoon."


@pytest.fixture(scope="module")
def cup() -> bytes:
    return jpeg_with_gps(photo("coffee.png"), orientation=1)


async def test_the_page_offers_the_photo_button_and_its_upload_then_message_sequence_answers_with_it(
    client: httpx.AsyncClient, services: Services, cup: bytes
) -> None:
    page = await client.get("/")
    assert page.status_code == 200
    html = page.text
    assert 'id="photo" type="file" accept="image/jpeg,image/png,image/gif,image/webp"' in html
    assert "image_enabled" in html and "/api/upload-image" in html and "message.file_id = fileId" in html
    assert 'form.append("user_id", userId)' in html
    assert 'addEventListener("image"' in html

    def reply(body: dict[str, Any]) -> str:
        system = body["messages"][0]["content"]
        return "That is our espresso cup." if DESCRIPTION in system else "Hello!"

    async with FakeLLMServer(replies=reply) as llm:
        await add_chatbot(
            services,
            id="kaffebar",
            name="Kaffebar",
            image_enabled=True,
            llm={"provider": "openai", "model": "vision", "base_url": llm.base_url},
        )
        config = (await client.get("/api/conversation-config/kaffebar")).json()["configuration"]
        assert config["image_enabled"] is True
        first = (
            await client.post(
                "/api/process-message", json={"user_id": "web-1", "chatbot_id": "kaffebar", "message_text": "Hi"}
            )
        ).json()
        assert answer_text(await read_sse(client, first["sse_url"])) == "Hello!"
        await services.conversation.drain()
        token = {"X-Session-Token": first["session_token"]}
        uploaded = await client.post(
            "/api/upload-image",
            data={"chatbot_id": "kaffebar", "session_id": first["session_id"], "user_id": "web-1"},
            files={"file": ("cup.jpg", cup, "image/jpeg")},
            headers=token,
        )
        assert uploaded.status_code == 200, uploaded.text
        assert uploaded.json()["session_id"] == first["session_id"]
        llm.image_descriptions[uploaded.json()["sha256"]] = DESCRIPTION
        second = await client.post(
            "/api/process-message",
            json={
                "user_id": "web-1",
                "chatbot_id": "kaffebar",
                "message_text": "Which cup is this?",
                "session_id": first["session_id"],
                "file_id": uploaded.json()["file_id"],
            },
            headers=token,
        )
        assert second.status_code == 200, second.text
        events = await read_sse(client, second.json()["sse_url"])
        image = next(event["data"] for event in events if event["event"] == "image")
        assert image["description"] == DESCRIPTION and image["source"] == "model"
        assert answer_text(events) == "That is our espresso cup."
    await services.conversation.drain()
    shown = await client.get(uploaded.json()["url"], headers=token)
    assert shown.status_code == 200 and shown.headers["content-type"] == "image/jpeg"
