"""Who may attach an image to a conversation and read it back (issue 14).

* An upload that names a stored conversation (``session_id``) needs that conversation's session
  token; the image then belongs to it. An upload that names no conversation, or one not stored
  yet (its first turn is still to come), is unattached: the ``file_id`` it answers with is what
  the shopper's next message names, and that turn attaches the image to its message.
* An upload that names a ``user_id`` belongs to that shopper: another shopper's message cannot
  use it, and the shopper's erasure removes it.
* ``GET /api/files/{file_id}`` opens with the session token of the image's conversation or an
  API key of its chatbot. Without either: 401; with a token that does not fit (another
  conversation's, or an image no message uses yet): 404, never 403, as for conversations.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, bindparam, update
from sqlalchemy.ext.asyncio import AsyncConnection

from samtale.conversation.access import ConversationNotFoundError, token_matches
from samtale.conversation.sessions import SessionReader
from samtale.conversation.shoppers import ShopperSeen, shopper_id, upsert_shoppers
from samtale.errors import AuthError
from samtale.files.errors import FileNotFoundInStoreError
from samtale.files.service import load_file
from samtale.files.storage import FileStorage
from samtale.files.types import LoadedFile
from samtale.storage.base import utcnow
from samtale.storage.db import Database
from samtale.storage.models import UploadedFile


def _files_table() -> Table:
    table = UploadedFile.__table__
    assert isinstance(table, Table)
    return table


FILES = _files_table()

_ATTACH = (
    update(FILES)
    .where(FILES.c.id == bindparam("b_file_id"), FILES.c.chatbot_id == bindparam("b_chatbot_id"))
    .values(
        message_id=bindparam("b_message_id"),
        conversation_session_id=bindparam("b_session_id"),
        processed=bindparam("b_processed"),
        description=bindparam("b_description"),
    )
)
"""Link one file to the message that carried it (an ``executemany`` over a batch's messages)."""


async def attach_turn_images(conn: AsyncConnection, messages: list[dict[str, Any]]) -> None:
    """Link each user message's image (``extra["image"]["file_id"]``) to the message and its
    conversation, with its description (``processed`` when a model or the cache gave one), in the
    recorder's transaction right after the messages are inserted."""
    rows = [
        {
            "b_file_id": image["file_id"],
            "b_chatbot_id": message["chatbot_id"],
            "b_message_id": message["id"],
            "b_session_id": message["session_id"],
            "b_processed": image["source"] != "none",
            "b_description": image["description"] or None,
        }
        for message in messages
        if message["role"] == "user" and (image := message["extra"].get("image")) is not None
    ]
    if rows:
        await conn.execute(_ATTACH, rows)


async def upload_conversation(
    *, sessions: SessionReader, chatbot_id: str, session_id: str | None, session_token: str | None
) -> str | None:
    """The stored conversation an upload belongs to, or None (unattached; module docstring).

    Raises:
        SessionTokenRequiredError-like AuthError: a stored conversation named without a token (401).
        ConversationNotFoundError: another chatbot's conversation, a deleted one, or a wrong token (404).
    """
    if session_id is None:
        return None
    row = await sessions.read(session_id)
    if row is None:
        return None
    if row.chatbot_id != chatbot_id or row.deleted_at is not None:
        raise ConversationNotFoundError(f"unknown conversation session {session_id}")
    if not session_token:
        raise AuthError("an upload into a stored conversation needs its session token (X-Session-Token)")
    if not token_matches(token=session_token, token_hash=row.token_hash):
        raise ConversationNotFoundError(f"unknown conversation session {session_id}")
    return session_id


async def upload_owner(*, db: Database, chatbot_id: str, user_id: str | None) -> str | None:
    """The ``users.id`` of the shopper an image is uploaded by (their row created when missing, as
    the recorder would at their first turn), or None without a ``user_id``."""
    if not user_id:
        return None
    async with db.engine.begin() as conn:
        await upsert_shoppers(conn, [ShopperSeen(chatbot_id=chatbot_id, user_id=user_id, seen_at=utcnow())])
    return shopper_id(chatbot_id=chatbot_id, user_id=user_id)


async def open_image(
    *,
    db: Database,
    storage: FileStorage,
    sessions: SessionReader,
    chatbot_id: str,
    file_id: str,
    session_token: str | None,
    chatbot_key: bool,
) -> LoadedFile:
    """A stored image and its bytes for a caller with its conversation's token or, when
    ``chatbot_key``, an API key that covers ``chatbot_id``.

    Raises:
        AuthError: neither credential (401). FileNotFoundInStoreError: no such file for this chatbot,
        or the token does not open it (404). FileStorageError: the backend failed (503).
    """
    if not chatbot_key and not session_token:
        raise AuthError("reading a file needs its conversation's session token (?token=) or an API key")
    loaded = await load_file(db=db, storage=storage, chatbot_id=chatbot_id, file_id=file_id)
    if chatbot_key:
        return loaded
    conversation = loaded.file.conversation_session_id
    row = await sessions.read(conversation) if conversation is not None else None
    if row is None or row.chatbot_id != chatbot_id or not token_matches(token=session_token, token_hash=row.token_hash):
        raise FileNotFoundInStoreError("no such file")
    return loaded
