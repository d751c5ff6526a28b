"""A shopper sends a photo with their message and gets an answer that uses it: the vision model
(the fake OpenAI and Flowise servers on loopback, scripted per image SHA-256) describes it, the
description arrives as the ``image`` event before any token, routes and retrieves (a wine label
finds that wine; a broken bottle the damaged-goods policy), reaches the prompt and is stored
with the message. Without a vision model nothing is invented: the shopper is told, in their
language, that the photo cannot be looked at here."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from samtale.conversation.steps.image import UNSEEN_NOTICE
from samtale.knowledge.ingest import ingest_paths
from samtale.llm.fake import FakeFlowiseServer, FakeLLMServer
from samtale.observability.metrics import PHASE
from samtale.services import Services
from samtale.storage.models import ConversationProcessingMetrics, Message, UploadedFile
from tests.conversation.helpers import add_chatbot, answer_text, read_sse
from tests.images.photos import animated_gif, jpeg_with_gps, photo

KNOWLEDGE = {
    "products": (
        "# Giacomo Conterno Barolo 2016\n\nA red wine from Piedmont, Italy. Nebbiolo. 1,450 kr.\n\n"
        "# Château Musar 2015\n\nA red wine from the Bekaa Valley, Lebanon. 420 kr.\n"
    ),
    "policies": (
        "# Damaged goods\n\nIf a bottle arrives broken or leaking, keep the box and send us a photo: "
        "we refund or replace it within 5 days.\n\n# Delivery\n\nWe deliver in 2 to 4 working days.\n"
    ),
}
LABEL = "A wine label that reads Giacomo Conterno Barolo 2016, a red wine from Piedmont."
BROKEN = "A cardboard box with a broken bottle inside; it has leaked onto the packaging."


@pytest.fixture(scope="module")
def photos() -> dict[str, bytes]:
    return {
        "label": jpeg_with_gps(photo("chelsea.png"), orientation=1),
        "box": jpeg_with_gps(photo("coffee.png"), orientation=1),
        "gif": animated_gif(3),
    }


@pytest.fixture
async def knowledge_files(tmp_path: Path) -> dict[str, Path]:
    pages = {}
    for name, text in KNOWLEDGE.items():
        pages[name] = tmp_path / f"{name}.md"
        await asyncio.to_thread(pages[name].write_text, text, encoding="utf-8")
    return pages


async def wine_shop(services: Services, pages: dict[str, Path], *, llm: dict[str, Any], **extra: Any) -> None:
    await add_chatbot(
        services,
        id="vinbar",
        name="Vinbar",
        image_enabled=True,
        llm=llm,
        flows=[
            {"type": "main", "knowledge_index": "policies", "top_k": 1},
            {"type": "flow3", "route_key": "product", "knowledge_index": "products", "top_k": 1},
        ],
        routing={"strategy": "keywords", "keywords": [{"route_key": "product", "pattern": "(?i)\\b(wine|label)\\b"}]},
        **extra,
    )
    for name, page in pages.items():
        await ingest_paths(
            db=services.db, embedder=services.embedder, chatbot_id="vinbar", index_name=name, paths=[page]
        )


def inline(data: bytes) -> dict[str, str]:
    return {"name": "photo.jpg", "data": base64.b64encode(data).decode(), "mime": "image/jpeg"}


async def upload(client: httpx.AsyncClient, data: bytes) -> dict[str, Any]:
    answer = await client.post(
        "/api/upload-image", data={"chatbot_id": "vinbar"}, files={"file": ("photo.jpg", data, "image/jpeg")}
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def send(client: httpx.AsyncClient, **body: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    started = await client.post("/api/process-message", json={"user_id": "shopper-7", "chatbot_id": "vinbar", **body})
    assert started.status_code == 200, started.text
    return started.json(), await read_sse(client, started.json()["sse_url"])


def data_of(events: list[dict[str, Any]], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(event["data"] for event in events if event["event"] == name)
    return found


def sent_image_sha(request_body: dict[str, Any]) -> str:
    parts = request_body["messages"][-1]["content"]
    url = next(part["image_url"]["url"] for part in parts if part["type"] == "image_url")
    return hashlib.sha256(base64.b64decode(url.partition(";base64,")[2])).hexdigest()


async def test_a_photo_of_a_wine_label_is_described_routed_retrieved_answered_and_stored(
    client: httpx.AsyncClient, services: Services, photos: dict[str, bytes], knowledge_files: dict[str, Path]
) -> None:
    def reply(body: dict[str, Any]) -> str:
        return "Yes, we have that Barolo for 1,450 kr."

    async with FakeLLMServer(replies=reply, fail_first=1, fault_status=503) as llm:
        await wine_shop(
            services, knowledge_files, llm={"provider": "openai", "model": "vision", "base_url": llm.base_url}
        )
        uploaded = await upload(client, photos["label"])
        llm.image_descriptions[uploaded["sha256"]] = LABEL
        before = PHASE.labels("vinbar", "flow3", "image")._sum.get()  # type: ignore[attr-defined]
        started, events = await send(client, message_text="Do you have this one?", file_id=uploaded["file_id"])

        names = [event["event"] for event in events]
        assert names.index("image") < names.index("flow") < names.index("token")
        image = data_of(events, "image")
        assert image == {
            "file_id": uploaded["file_id"],
            "description": LABEL,
            "source": "model",
            "facts": {
                "format": "jpeg",
                "width": 451,
                "height": 300,
                "bytes": uploaded["bytes"],
                "orientation": "landscape",
            },
        }
        assert data_of(events, "flow")["route_key"] == "product"  # the question alone names no wine
        assert [source["title"] for source in data_of(events, "sources")["sources"]] == ["Giacomo Conterno Barolo 2016"]
        assert answer_text(events) == "Yes, we have that Barolo for 1,450 kr."

        vision = [
            request.json for request in llm.chat_requests if isinstance(request.json["messages"][-1]["content"], list)
        ]
        assert len(vision) == 2  # a 503 first, retried before any token
        assert sent_image_sha(vision[-1]) == uploaded["sha256"]
        assert "Vinbar" in vision[-1]["messages"][0]["content"]  # the default English image prompt
        answering = llm.chat_requests[-1].json
        assert LABEL in answering["messages"][0]["content"]

    await services.conversation.drain()
    async with services.db.session() as session:
        question = await session.scalar(
            select(Message).where(Message.session_id == started["session_id"], Message.role == "user")
        )
        stored = await session.get(UploadedFile, uploaded["file_id"])
        metrics = await session.scalar(
            select(ConversationProcessingMetrics).where(
                ConversationProcessingMetrics.streaming_session_id == started["streaming_session_id"]
            )
        )
    assert question is not None and question.extra["image"]["description"] == LABEL
    assert (
        stored is not None
        and stored.message_id == question.id
        and stored.conversation_session_id == question.session_id
    )
    assert stored.processed and stored.description == LABEL
    assert metrics is not None and metrics.image_ms is not None and metrics.image_ms > 0
    assert data_of(events, "end")["metrics"]["image_ms"] > 0
    assert PHASE.labels("vinbar", "flow3", "image")._sum.get() > before  # type: ignore[attr-defined]
    token = {"X-Session-Token": started["session_token"]}
    assert (await client.get(uploaded["url"], headers=token)).status_code == 200
    read_back = (await client.get(f"/api/conversations/{started['session_id']}", headers=token)).json()
    asked, answered = read_back["messages"]
    assert asked["image"]["file_id"] == uploaded["file_id"] and asked["image"]["description"] == LABEL
    assert answered["image"] is None
    reused = await client.post(
        "/api/process-message",
        json={"user_id": "shopper-7", "chatbot_id": "vinbar", "message_text": "again", "file_id": uploaded["file_id"]},
    )
    assert reused.status_code == 404  # an image carried by a message is not sent again by id


async def test_the_same_photo_again_is_described_from_the_store_and_a_broken_bottle_finds_the_policy(
    client: httpx.AsyncClient, services: Services, photos: dict[str, bytes], knowledge_files: dict[str, Path]
) -> None:
    async with FakeLLMServer(replies=["We are sorry: we will replace it."]) as llm:
        await wine_shop(
            services, knowledge_files, llm={"provider": "openai", "model": "vision", "base_url": llm.base_url}
        )
        uploaded = await upload(client, photos["box"])
        llm.image_descriptions[uploaded["sha256"]] = BROKEN
        _, events = await send(client, message_text="It came like this", image_data=inline(photos["box"]))
        assert data_of(events, "image")["source"] == "model" and data_of(events, "flow")["route_key"] == "main"
        assert [source["title"] for source in data_of(events, "sources")["sources"]] == ["Damaged goods"]
        _, alone = await send(client, image_data=inline(photos["box"]))  # a photo without text
        assert data_of(alone, "image")["source"] == "cache"
        assert llm.chat_requests[-1].json["messages"][-1]["content"] == "What can you tell me about this photo?"
        await services.conversation.drain()
        seen = len(llm.images_seen)
        _, again = await send(client, message_text="Same box", image_data=inline(photos["box"]))
        assert data_of(again, "image")["source"] == "cache" and data_of(again, "image")["description"] == BROKEN
        assert len(llm.images_seen) == seen  # not described twice


async def test_flowise_gets_the_photo_as_an_upload_and_an_animated_gif_is_described_by_its_first_frame(
    client: httpx.AsyncClient, services: Services, photos: dict[str, bytes], knowledge_files: dict[str, Path]
) -> None:
    async with FakeFlowiseServer(chatflow_id="vision-flow", replies=["Den er rød."]) as flowise:
        llm = {"provider": "flowise", "chatflow_id": "vision-flow", "base_url": flowise.base_url}
        await wine_shop(services, knowledge_files, llm=llm, language="da")
        uploaded = await upload(client, photos["gif"])
        assert uploaded["source"]["frames"] == 3 and "first frame" in uploaded["note"]
        flowise.image_descriptions[uploaded["sha256"]] = "Et helt rødt billede."
        _, events = await send(client, message_text="Hvad er det?", image_data=inline(photos["gif"]))
        image = data_of(events, "image")
        assert image["description"] == "Et helt rødt billede." and image["facts"]["frames"] == 3
        first = flowise.predictions[0].json
        upload_part = first["uploads"][0]
        assert upload_part["type"] == "file" and upload_part["mime"] == "image/jpeg"
        assert upload_part["data"].startswith("data:image/jpeg;base64,")
        assert "Beskriv" in first["question"] and "dansk" in first["overrideConfig"]["systemMessagePrompt"]


async def test_without_a_vision_model_the_shopper_is_told_in_their_language_and_nothing_is_invented(
    client: httpx.AsyncClient, services: Services, photos: dict[str, bytes], knowledge_files: dict[str, Path]
) -> None:
    await wine_shop(services, knowledge_files, llm={"provider": "offline"}, language="da")
    _, alone = await send(client, image_data=inline(photos["label"]))
    image = data_of(alone, "image")
    assert image["source"] == "none" and image["description"] == "" and image["reason"]
    assert image["facts"]["format"] == "jpeg" and image["facts"]["orientation"] == "landscape"
    assert answer_text(alone) == UNSEEN_NOTICE["da"]
    _, asked = await send(client, message_text="Hvor lang er leveringstiden?", image_data=inline(photos["label"]))
    assert answer_text(asked).startswith(UNSEEN_NOTICE["da"]) and len(answer_text(asked)) > len(UNSEEN_NOTICE["da"])


async def test_a_failing_vision_model_gives_no_description_and_images_follow_the_chatbots_rules(
    client: httpx.AsyncClient, services: Services, photos: dict[str, bytes], knowledge_files: dict[str, Path]
) -> None:
    async with FakeLLMServer(replies=["I cannot see it, sorry."], fail_first=100, fault_status=500) as llm:
        await wine_shop(
            services,
            knowledge_files,
            llm={"provider": "openai", "model": "text", "base_url": llm.base_url},
            images={"llm": {"model": "vision"}},
        )
        started = await client.post(
            "/api/process-message",
            json={
                "user_id": "u",
                "chatbot_id": "vinbar",
                "message_text": "look",
                "image_data": inline(photos["label"]),
            },
        )
        events = await read_sse(client, started.json()["sse_url"])
        image = data_of(events, "image")
        assert image["source"] == "none" and image["description"] == ""
        assert {request.json["model"] for request in llm.chat_requests[:3]} == {"vision"}
    await add_chatbot(services, id="plain", name="Plain")
    refused = await client.post(
        "/api/process-message",
        json={"user_id": "u", "chatbot_id": "plain", "message_text": "hi", "image_data": inline(photos["label"])},
    )
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "images_disabled"
    svg = {"name": "x.jpg", "data": base64.b64encode(b"<svg xmlns='http://www.w3.org/2000/svg'/>").decode()}
    wrong = await client.post(
        "/api/process-message", json={"user_id": "u", "chatbot_id": "vinbar", "message_text": "hi", "image_data": svg}
    )
    assert wrong.status_code == 415
    unknown = await client.post(
        "/api/process-message",
        json={
            "user_id": "u",
            "chatbot_id": "vinbar",
            "message_text": "hi",
            "file_id": "00000000-0000-0000-0000-000000000000",
        },
    )
    assert unknown.status_code == 404
