"""Reads of stored conversations for the admin API (no turn logic here)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from samtale.conversation.service import ConversationNotFoundError
from samtale.storage.db import Database
from samtale.storage.models import ConversationSession, Message


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """One stored message of a conversation, in its order (``sequence``)."""

    sequence: int
    role: str
    content: str
    status: str
    flow_type: str | None
    streaming_session_id: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class StoredConversation:
    """A conversation session and its messages."""

    session_id: str
    chatbot_id: str
    user_id: str
    created_at: datetime
    updated_at: datetime
    messages: list[StoredMessage]


async def load_conversation(
    *, db: Database, session_id: str, visible: Callable[[str], bool] = lambda chatbot_id: True
) -> StoredConversation:
    """The conversation ``session_id`` with its messages, if its chatbot is ``visible``.

    Args:
        visible: whether the caller may see a conversation of this chatbot id (an API key's
            ``covers``); a conversation it may not see is reported as unknown, never as forbidden.

    Raises:
        ConversationNotFoundError: no such session, or one the caller may not see (404).
    """
    async with db.session() as session:
        row = await session.get(ConversationSession, session_id)
        if row is None or not visible(row.chatbot_id):
            raise ConversationNotFoundError(f"unknown conversation session {session_id}")
        messages = (
            await session.scalars(
                select(Message)
                .where(Message.session_id == session_id, Message.chatbot_id == row.chatbot_id)
                .order_by(Message.sequence)
            )
        ).all()
    return StoredConversation(
        session_id=row.id,
        chatbot_id=row.chatbot_id,
        user_id=row.user_id,
        created_at=row.created_at,
        updated_at=row.updated_at,
        messages=[
            StoredMessage(
                sequence=m.sequence,
                role=m.role,
                content=m.content,
                status=m.status,
                flow_type=m.flow_type,
                streaming_session_id=m.streaming_session_id,
                created_at=m.created_at,
            )
            for m in messages
        ],
    )
