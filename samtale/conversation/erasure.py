"""Removing stored conversations for good: a shopper's erasure (GDPR article 17) and retention.

:data:`SHOPPER_DATA` is the registry of every table that holds a shopper's data, each with the
set-based ``DELETE`` that removes the rows of a :class:`RemovalScope`. Its order is the order
of deletion, dependants first (``message_edits`` and ``context_chunks`` before ``messages``,
``streaming_events`` before ``streaming_sessions``, the conversations, then the shopper's own
row), so no statement leans on a foreign key's cascade and every count is exact. A table
added later (memories, files) is one more :class:`ShopperTable` here: the erasure report and
the retention job's counts name it at once.

Both uses run in one transaction:

* :func:`erase_shopper` (``DELETE /api/admin/chatbots/{chatbot_id}/users/{user_id}``): every
  conversation of the shopper (soft-deleted ones included), their messages, edits, context
  chunks, streams and stream events, processing metrics and error-log rows of their turns,
  their turns' analytics, ratings and CSAT, their memories, and the ``users`` row. Erasing a
  shopper with nothing stored removes nothing (not an error).
* :func:`remove_conversations` (the retention job, :mod:`samtale.conversation.retention`): the
  same for a list of conversations, leaving the shopper's row.

The conversations' ids are read first and the deletes name them (``IN`` lists of at most
:data:`ID_CHUNK` ids), so every statement removes the rows of the same conversations even while
other turns are stored. A turn still being answered at the moment of an erasure is stored
after it (it was accepted before); erase once the shopper's last answer has ended.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Delete, delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from samtale.conversation.shoppers import shopper_id
from samtale.files.service import delete_files_of_shopper
from samtale.files.storage import FileStorage
from samtale.storage.db import Database
from samtale.storage.models import (
    ContextChunkUsed,
    ConversationAnalytics,
    ConversationCsat,
    ConversationProcessingMetrics,
    ConversationSession,
    ErrorLog,
    Memory,
    Message,
    MessageEdit,
    MessageFeedback,
    Shopper,
    StreamingEvent,
    StreamingSession,
)

logger = logging.getLogger(__name__)

ID_CHUNK = 500
"""Conversation ids per ``IN`` list (far below SQLite's 32,766 bound parameters)."""


@dataclass(frozen=True, slots=True)
class RemovalScope:
    """What is being removed: some conversations of one chatbot and, for an erasure, its shopper.

    ``conversation_ids`` is one chunk of the conversations' ids; ``user_id`` is set only when
    the shopper is erased (their own rows go too), None for retention.
    """

    chatbot_id: str
    conversation_ids: Sequence[str]
    user_id: str | None = None


@dataclass(frozen=True, slots=True)
class ShopperTable:
    """A table holding a shopper's data and the ``DELETE`` of its rows in a scope (None: nothing
    of this table is in that scope, e.g. the shopper's own row under retention).

    ``per_shopper`` tables are deleted once per erasure, not per chunk of conversation ids.
    """

    key: str
    statement: Callable[[RemovalScope], Delete | None]
    per_shopper: bool = False


def _messages(scope: RemovalScope) -> Any:
    return select(Message.id).where(
        Message.session_id.in_(scope.conversation_ids), Message.chatbot_id == scope.chatbot_id
    )


def _streams(scope: RemovalScope) -> Any:
    return select(StreamingSession.id).where(
        StreamingSession.conversation_session_id.in_(scope.conversation_ids),
        StreamingSession.chatbot_id == scope.chatbot_id,
    )


def _error_logs(scope: RemovalScope) -> Delete:
    """A failed turn's ``error_logs`` row names its stream in ``context``; the messages keep the
    stream id after ``stream_cleanup`` has removed the stream's own row (a day), so match on them."""
    stream_of_error = ErrorLog.context["streaming_session_id"].as_string()
    turns = select(Message.streaming_session_id).where(
        Message.session_id.in_(scope.conversation_ids),
        Message.chatbot_id == scope.chatbot_id,
        Message.streaming_session_id.is_not(None),
    )
    return delete(ErrorLog).where(ErrorLog.chatbot_id == scope.chatbot_id, stream_of_error.in_(turns))


def _memories(scope: RemovalScope) -> Delete | None:
    if scope.user_id is None:
        return None  # memories are the shopper's, not a conversation's: retention keeps them
    return delete(Memory).where(
        Memory.shopper_id == shopper_id(chatbot_id=scope.chatbot_id, user_id=scope.user_id),
        Memory.chatbot_id == scope.chatbot_id,
    )


def _shopper_row(scope: RemovalScope) -> Delete | None:
    if scope.user_id is None:
        return None
    return delete(Shopper).where(
        Shopper.id == shopper_id(chatbot_id=scope.chatbot_id, user_id=scope.user_id),
        Shopper.chatbot_id == scope.chatbot_id,
    )


SHOPPER_DATA: tuple[ShopperTable, ...] = (
    ShopperTable(
        "message_edits",
        lambda s: delete(MessageEdit).where(
            MessageEdit.message_id.in_(_messages(s)), MessageEdit.chatbot_id == s.chatbot_id
        ),
    ),
    ShopperTable(
        "context_chunks",
        lambda s: delete(ContextChunkUsed).where(
            ContextChunkUsed.message_id.in_(_messages(s)), ContextChunkUsed.chatbot_id == s.chatbot_id
        ),
    ),
    ShopperTable(
        "streaming_events",
        lambda s: delete(StreamingEvent).where(
            StreamingEvent.streaming_session_id.in_(_streams(s)), StreamingEvent.chatbot_id == s.chatbot_id
        ),
    ),
    ShopperTable("error_logs", _error_logs),
    ShopperTable(
        "conversation_analytics",
        lambda s: delete(ConversationAnalytics).where(
            ConversationAnalytics.session_id.in_(s.conversation_ids), ConversationAnalytics.chatbot_id == s.chatbot_id
        ),
    ),
    ShopperTable(
        "message_feedback",
        lambda s: delete(MessageFeedback).where(
            MessageFeedback.session_id.in_(s.conversation_ids), MessageFeedback.chatbot_id == s.chatbot_id
        ),
    ),
    ShopperTable(
        "conversation_csat",
        lambda s: delete(ConversationCsat).where(
            ConversationCsat.session_id.in_(s.conversation_ids), ConversationCsat.chatbot_id == s.chatbot_id
        ),
    ),
    ShopperTable(
        "processing_metrics",
        lambda s: delete(ConversationProcessingMetrics).where(
            ConversationProcessingMetrics.session_id.in_(s.conversation_ids),
            ConversationProcessingMetrics.chatbot_id == s.chatbot_id,
        ),
    ),
    ShopperTable(
        "streaming_sessions",
        lambda s: delete(StreamingSession).where(
            StreamingSession.conversation_session_id.in_(s.conversation_ids),
            StreamingSession.chatbot_id == s.chatbot_id,
        ),
    ),
    ShopperTable(
        "messages",
        lambda s: delete(Message).where(Message.session_id.in_(s.conversation_ids), Message.chatbot_id == s.chatbot_id),
    ),
    ShopperTable(
        "conversations",
        lambda s: delete(ConversationSession).where(
            ConversationSession.id.in_(s.conversation_ids), ConversationSession.chatbot_id == s.chatbot_id
        ),
    ),
    ShopperTable("memories", _memories, per_shopper=True),
    ShopperTable("users", _shopper_row, per_shopper=True),
)
"""Every table holding a shopper's data, in the order their rows are deleted (see the module doc)."""


@dataclass(frozen=True, slots=True)
class ErasureReport:
    """What an erasure removed: rows per :data:`SHOPPER_DATA` key (0 where there were none)."""

    chatbot_id: str
    user_id: str
    removed: dict[str, int]


def _rowcount(result: Any) -> int:
    return max(int(getattr(result, "rowcount", 0) or 0), 0)


async def _remove(
    conn: AsyncConnection, *, chatbot_id: str, conversation_ids: Sequence[str], user_id: str | None
) -> dict[str, int]:
    """Run every registered ``DELETE`` over ``conversation_ids`` (in chunks) on ``conn``."""
    removed = {table.key: 0 for table in SHOPPER_DATA}
    chunks = [conversation_ids[i : i + ID_CHUNK] for i in range(0, len(conversation_ids), ID_CHUNK)] or [[]]
    for number, chunk in enumerate(chunks):
        scope = RemovalScope(chatbot_id=chatbot_id, conversation_ids=list(chunk), user_id=user_id)
        for table in SHOPPER_DATA:
            if table.per_shopper and number > 0:
                continue
            if not chunk and not table.per_shopper:
                continue
            statement = table.statement(scope)
            if statement is not None:
                removed[table.key] += _rowcount(await conn.execute(statement))
    return removed


async def remove_conversations(
    conn: AsyncConnection, *, chatbot_id: str, conversation_ids: Sequence[str]
) -> dict[str, int]:
    """Delete these conversations of ``chatbot_id`` and everything stored with them (not the
    shoppers' rows), inside the caller's transaction ``conn``.

    Returns:
        Rows removed per :data:`SHOPPER_DATA` key (``users`` stays 0).
    """
    return await _remove(conn, chatbot_id=chatbot_id, conversation_ids=conversation_ids, user_id=None)


async def erase_shopper(
    *, db: Database, chatbot_id: str, user_id: str, files: FileStorage | None = None
) -> ErasureReport:
    """Erase a chatbot's shopper and everything stored of them.

    Their uploaded files go first, bytes then rows (:func:`samtale.files.service.
    delete_files_of_shopper`: a ``DELETE`` cannot reach the bytes), then every other table of
    :data:`SHOPPER_DATA` in one transaction.

    Args:
        chatbot_id: the chatbot (the admin key covers it; checked at the edge).
        user_id: the shopper's user id as the widget knows it (``users.external_id``).
        files: the deployment's file storage (None: a deployment without files; ``files`` is 0).

    Returns:
        The rows removed per table (``files``: files whose bytes and rows were deleted); all 0
        when nothing of this shopper was stored.

    Raises:
        FileStorageError: the file storage failed; nothing else was removed, and the erasure can
            be repeated.
    """
    files_removed = 0
    if files is not None:
        deleted = await delete_files_of_shopper(
            db=db, storage=files, chatbot_id=chatbot_id, shopper_id=shopper_id(chatbot_id=chatbot_id, user_id=user_id)
        )
        files_removed = deleted.files
    async with db.engine.begin() as conn:
        ids = (
            (
                await conn.execute(
                    select(ConversationSession.id).where(
                        ConversationSession.chatbot_id == chatbot_id, ConversationSession.user_id == user_id
                    )
                )
            )
            .scalars()
            .all()
        )
        removed = await _remove(conn, chatbot_id=chatbot_id, conversation_ids=list(ids), user_id=user_id)
    removed = {"files": files_removed, **removed}
    logger.info("erased a shopper of chatbot %s: %s", chatbot_id, removed)  # counts only, never the user id
    return ErasureReport(chatbot_id=chatbot_id, user_id=user_id, removed=removed)
