"""A shopper edits their last message; the earlier text is kept (seed 003: ``is_edited``).

Only the conversation's **last user message** can be edited, by whoever may open the
conversation (its session token or its shopper's verified identity): an assistant message or an
earlier question is 409 ``message_not_editable``, a message of another conversation 404
``message_not_found``. The edit is one transaction: the previous text goes to
``message_edits``, the message gets the new text and ``is_edited``, and the conversation's
``updated_at`` moves to now.

Every worker's next turn prompts with the edited text: a worker's cached history is valid only
while the row's ``message_count`` *and* ``updated_at`` are those it was read at
(:mod:`samtale.conversation.sessions`), and the edit changes ``updated_at``. The edit holds the
conversation's turn lock (:mod:`samtale.conversation.turn_lock`) while it writes, so it never
lands under a turn that has already read the old text: while a turn is generating the edit is
409 ``turn_in_progress``; a turn arriving during the edit waits for it (the edit holds the lock
in the ``persisting`` phase, milliseconds).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, insert, select, update

from samtale.conversation.access import ConversationCaller
from samtale.conversation.library import CS, ShopperMessage, authorised_row, require_credentials, settle
from samtale.conversation.search.indexing import reindex_message
from samtale.conversation.turn_lock import TurnHolder, TurnInProgressError, TurnLocks, acquire_turn
from samtale.errors import ConflictError, InputError, NotFoundError, PayloadTooLargeError
from samtale.storage.base import new_id, utcnow
from samtale.storage.db import Database
from samtale.storage.models import Message, MessageEdit


class MessageNotFoundError(NotFoundError):
    """No such message in this conversation (HTTP 404)."""

    code = "message_not_found"


class MessageNotEditableError(ConflictError):
    """Only the conversation's last user message can be edited (HTTP 409)."""

    code = "message_not_editable"


async def edit_last_message(
    *,
    db: Database,
    locks: TurnLocks,
    conversation_id: str,
    message_id: str,
    caller: ConversationCaller,
    content: str,
    max_chars: int = 8000,
    persist_wait_s: float = 5.0,
) -> ShopperMessage:
    """Replace the text of the conversation's last user message; returns the message as edited.

    Args:
        conversation_id, message_id: the conversation and its message.
        caller: the session token and/or verified identity presented.
        content: the new text, stripped; 1..``max_chars`` characters (process-message's limit,
            ``Settings.max_message_chars``).
        persist_wait_s: how long to wait for a previous turn that is only being stored.

    An unchanged text is no edit (nothing is written, ``is_edited`` stays as it was).

    Raises:
        InputError: empty text (422). PayloadTooLargeError: over ``max_chars`` (413).
        SessionTokenRequiredError (401), ConversationNotFoundError (404): see
        :func:`samtale.conversation.library.authorised_row`.
        MessageNotFoundError: the message is not this conversation's (404).
        MessageNotEditableError: not the last user message (409).
        TurnInProgressError: a turn of the conversation is being answered (409).
    """
    require_credentials(caller)
    text = content.strip()
    if not text:
        raise InputError("content must not be empty", details={"field": "content"})
    if len(text) > max_chars:
        raise PayloadTooLargeError(
            f"content is {len(text)} characters; the limit is {max_chars}",
            details={"field": "content", "limit": max_chars},
        )
    await settle(locks=locks, conversation_id=conversation_id, wait_s=persist_wait_s)
    async with db.engine.connect() as conn:
        row = await authorised_row(conn, conversation_id=conversation_id, caller=caller)
    holder = TurnHolder(
        stream_id=f"edit-{new_id()}",
        chatbot_id=row.chatbot_id,
        user_id=row.user_id,
        token_hash=row.token_hash or "",
        phase="persisting",
    )
    current = await acquire_turn(locks, session_id=conversation_id, holder=holder, persist_wait_s=persist_wait_s)
    if current is not None:
        raise TurnInProgressError(
            "a message of this conversation is being answered; edit after its end event",
            details={"session_id": conversation_id},
        )
    try:
        return await _write_edit(
            db=db, chatbot_id=row.chatbot_id, conversation_id=conversation_id, message_id=message_id, text=text
        )
    finally:
        await locks.release(session_id=conversation_id, holder=holder)


async def _write_edit(
    *, db: Database, chatbot_id: str, conversation_id: str, message_id: str, text: str
) -> ShopperMessage:
    async with db.engine.begin() as conn:
        message = (
            await conn.execute(
                select(
                    Message.id, Message.sequence, Message.role, Message.content, Message.created_at, Message.is_edited
                ).where(
                    Message.id == message_id, Message.session_id == conversation_id, Message.chatbot_id == chatbot_id
                )
            )
        ).first()
        if message is None:
            raise MessageNotFoundError(f"unknown message {message_id} in this conversation")
        last_user = (
            await conn.execute(
                select(func.max(Message.sequence)).where(
                    Message.session_id == conversation_id, Message.chatbot_id == chatbot_id, Message.role == "user"
                )
            )
        ).scalar_one()
        if message.role != "user" or message.sequence != last_user:
            raise MessageNotEditableError(
                "only the conversation's last user message can be edited",
                details={"message_id": message_id, "sequence": message.sequence},
            )
        if message.content == text:
            return _shopper_message(message, content=text, is_edited=bool(message.is_edited))
        now = utcnow()
        await conn.execute(
            insert(MessageEdit).values(
                chatbot_id=chatbot_id, message_id=message_id, previous_content=message.content, edited_at=now
            )
        )
        await conn.execute(
            update(Message)
            .where(Message.id == message_id, Message.chatbot_id == chatbot_id)
            .values(content=text, is_edited=True)
        )
        await reindex_message(conn, chatbot_id=chatbot_id, message_id=message_id)  # SQLite's stemmed document
        await conn.execute(
            update(CS).where(CS.id == conversation_id, CS.chatbot_id == chatbot_id).values(updated_at=now)
        )
    return _shopper_message(message, content=text, is_edited=True)


def _shopper_message(row: Any, *, content: str, is_edited: bool) -> ShopperMessage:
    return ShopperMessage(
        id=row.id, sequence=row.sequence, role=row.role, content=content, created_at=row.created_at, is_edited=is_edited
    )
