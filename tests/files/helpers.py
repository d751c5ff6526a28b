"""Helpers for the file store's stories: two shops, a shopper who chats (through the HTTP API)
and then sends photos, and the rows and objects the tests look at."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from PIL import Image
from sqlalchemy import select

from samtale.conversation.shoppers import shopper_id
from samtale.files.service import store_file
from samtale.files.types import StoredFile
from samtale.services import Services
from samtale.storage.models import Message, UploadedFile
from tests.conftest import shared_data
from tests.conversation.helpers import add_chatbot, read_sse


@dataclass(frozen=True)
class Photo:
    """A real photograph (``../shared/data/images``) and its size in pixels."""

    name: str
    data: bytes
    width: int
    height: int


def photo(name: str) -> Photo:
    """Read one of the shared photographs (call it outside the event loop: a sync fixture)."""
    path = shared_data("images", name)
    with Image.open(path) as image:
        width, height = image.size
    return Photo(name=name, data=path.read_bytes(), width=width, height=height)


@dataclass(frozen=True)
class Chat:
    """A shopper's conversation as the store has it after their first turn."""

    chatbot_id: str
    user_id: str
    session_id: str
    shopper_id: str
    question_id: str


async def add_shops(services: Services) -> None:
    """Two shops on the offline answerer: ``vinbar`` and ``olbar``."""
    for chatbot_id in ("vinbar", "olbar"):
        await add_chatbot(services, id=chatbot_id, name=chatbot_id.title(), flows=[{"type": "main"}])


async def chat(client: httpx.AsyncClient, services: Services, *, chatbot_id: str, user_id: str, text: str) -> Chat:
    """One turn through ``POST /api/process-message``, read to its end and stored."""
    response = await client.post(
        "/api/process-message", json={"chatbot_id": chatbot_id, "user_id": user_id, "message_text": text}
    )
    assert response.status_code == 200, response.text
    await read_sse(client, response.json()["sse_url"])
    await services.conversation.drain()
    session_id = response.json()["session_id"]
    async with services.db.session() as session:
        question_id = (
            await session.scalars(select(Message.id).where(Message.session_id == session_id, Message.role == "user"))
        ).one()
    return Chat(
        chatbot_id=chatbot_id,
        user_id=user_id,
        session_id=session_id,
        shopper_id=shopper_id(chatbot_id=chatbot_id, user_id=user_id),
        question_id=question_id,
    )


async def send_photo(
    services: Services, conversation: Chat, picture: Photo, *, chatbot_id: str | None = None, **fields: object
) -> StoredFile:
    """Store a photo as the upload route of the images issue will: the shopper's, in their conversation
    (``fields`` change the stored name, mime, ids…; ``chatbot_id`` stores it for another shop)."""
    values: dict[str, object] = {
        "name": picture.name,
        "mime": "image/png",
        "width": picture.width,
        "height": picture.height,
        "shopper_id": conversation.shopper_id,
        "conversation_session_id": conversation.session_id,
        **fields,
    }
    return await store_file(
        db=services.db,
        storage=services.files,
        chatbot_id=chatbot_id or conversation.chatbot_id,
        data=picture.data,
        max_bytes=services.settings.max_upload_bytes,
        **values,  # type: ignore[arg-type]
    )


async def file_rows(services: Services) -> list[UploadedFile]:
    """Every ``files`` row, oldest first."""
    async with services.db.session() as session:
        return list((await session.scalars(select(UploadedFile).order_by(UploadedFile.created_at))).all())
