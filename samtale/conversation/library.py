"""A shopper's conversations as they read them back: list, open, rename, archive, pin, delete.

Who may do what (:mod:`samtale.conversation.access`): a shopper's list needs their verified
identity (``X-User-Hash``); one conversation opens with its session token or with the verified
identity of its own shopper. Anything else, another chatbot's or shopper's conversation, a
wrong token, a soft-deleted conversation, is 404 ``session_not_found``, the answer for one that
does not exist.

The list (seed 003: "user conversations"): pinned first, then by last activity
(``last_message_at`` descending, ``id`` as the tie-break), never a soft-deleted conversation,
archived ones only when asked for (``archived=true``), paged by an opaque keyset cursor
(:mod:`samtale.conversation.cursors`). Each group is one query served by a partial index of
migration 0004: ``ix_conversation_sessions_user_pinned`` (``is_pinned AND deleted_at IS NULL``)
for the pinned, ``ix_conversation_sessions_user_active`` (``NOT is_archived AND deleted_at IS
NULL``) for the rest of the active list; the boolean filters are literals (``= 1`` on SQLite)
because SQLite matches a partial index only against literal terms. A conversation with no
stored message (``last_message_at`` NULL; only rows carried over from before 0004 can be so) is
not listed.

Opening a conversation costs two queries whatever its length (the row, then its messages by
``(session_id, sequence)``; seed 003: "N+1 eliminated, 2-3 queries"). Editing a message is in
:mod:`samtale.conversation.edits`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, false, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection

from samtale.conversation.access import (
    ConversationCaller,
    ConversationNotFoundError,
    SessionTokenRequiredError,
    ShopperIdentity,
    authorise_conversation,
)
from samtale.conversation.cursors import Cursor, InvalidCursorError, decode_cursor
from samtale.conversation.search.indexing import reindex_title
from samtale.conversation.turn_lock import TurnHolder, TurnLocks, acquire_turn
from samtale.errors import InputError
from samtale.storage.base import new_id, utcnow
from samtale.storage.db import Database
from samtale.storage.models import ConversationSession, Message

CS = ConversationSession
DEFAULT_PAGE = 20
MAX_PAGE = 100
"""Page sizes of the list (``limit`` 1..100, default 20)."""
TITLE_MAX_CHARS = 200
"""The longest title a shopper may set (the column's width)."""

SUMMARY_COLUMNS = (
    CS.id,
    CS.title,
    CS.is_archived,
    CS.is_pinned,
    CS.message_count,
    CS.created_at,
    CS.updated_at,
    CS.last_message_at,
)


@dataclass(frozen=True, slots=True)
class ConversationSummary:
    """A conversation in a shopper's list; ``message_count`` counts both sides (2 per turn)."""

    id: str
    title: str | None
    is_archived: bool
    is_pinned: bool
    message_count: int
    created_at: datetime
    updated_at: datetime
    last_message_at: datetime | None


@dataclass(frozen=True, slots=True)
class ConversationPage:
    """One page of a list and the cursor of the next (None on the last page)."""

    conversations: list[ConversationSummary]
    next_cursor: str | None


@dataclass(frozen=True, slots=True)
class ShopperMessage:
    """A message as its shopper reads it back, in ``sequence`` order (1, 2, 3… per conversation);
    ``image``: the photo a user message carried (the ``image`` event's data), or None."""

    id: str
    sequence: int
    role: str
    content: str
    created_at: datetime
    is_edited: bool
    image: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ConversationDetail:
    """One conversation and all its messages, oldest first."""

    conversation: ConversationSummary
    messages: list[ShopperMessage]


@dataclass(frozen=True, slots=True)
class ConversationChanges:
    """What a shopper changes of a conversation (None: left as it is; at least one is set)."""

    title: str | None = None
    is_archived: bool | None = None
    is_pinned: bool | None = None


def _summary(row: Any) -> ConversationSummary:
    return ConversationSummary(
        id=row.id,
        title=row.title,
        is_archived=bool(row.is_archived),
        is_pinned=bool(row.is_pinned),
        message_count=int(row.message_count or 0),
        created_at=row.created_at,
        updated_at=row.updated_at,
        last_message_at=row.last_message_at,
    )


def _flag(value: bool) -> Any:
    """A boolean literal (``true``/``1``), never a bound parameter: SQLite uses a partial index
    only when the query repeats the index's terms with literals."""
    return true() if value else false()


def _group(
    identity: ShopperIdentity, *, pinned: bool, archived: bool | None, after: Cursor | None, limit: int
) -> Select:
    """One group of a shopper's list (pinned or not), newest activity first, after ``after``."""
    query: Select = select(*SUMMARY_COLUMNS).where(
        CS.chatbot_id == identity.chatbot_id,
        CS.user_id == identity.user_id,
        CS.deleted_at.is_(None),
        CS.last_message_at.is_not(None),
        CS.is_pinned == _flag(pinned),
    )
    if archived is not None:
        query = query.where(CS.is_archived == _flag(archived))
    if after is not None:
        query = query.where(
            CS.last_message_at <= after.last_message_at,
            or_(CS.last_message_at < after.last_message_at, CS.id < after.id),
        )
    return query.order_by(CS.last_message_at.desc(), CS.id.desc()).limit(limit)


async def list_conversations(
    *,
    db: Database,
    identity: ShopperIdentity,
    archived: bool | None = False,
    pinned: bool | None = None,
    cursor: str | None = None,
    limit: int = DEFAULT_PAGE,
) -> ConversationPage:
    """A verified shopper's conversations, pinned first, then by last activity.

    Args:
        identity: the shopper (chatbot and user id) whose ``user_hash`` verified.
        archived: False (default) hides archived conversations, True lists only them, None both.
        pinned: True only pinned ones, False only the others, None both (pinned first).
        cursor: the ``next_cursor`` of the previous page, or None for the first page.
        limit: conversations per page, 1..100 (seed 003 benchmark: latest 20).

    Raises:
        InvalidCursorError: a cursor that is not this list's (422 ``invalid_cursor``).
        InputError: ``limit`` out of range (422).
    """
    if not 1 <= limit <= MAX_PAGE:
        raise InputError(f"limit must be 1..{MAX_PAGE}", details={"field": "limit"})
    after = decode_cursor(cursor, kind="s")
    groups = [group for group in (True, False) if pinned is None or group == pinned]
    if after is not None:
        if after.pinned not in groups:
            raise InvalidCursorError("cursor is not a next_cursor of this list", details={"field": "cursor"})
        groups = groups[groups.index(after.pinned) :]
    rows: list[ConversationSummary] = []
    async with db.engine.connect() as conn:
        for number, group in enumerate(groups):
            query = _group(
                identity,
                pinned=group,
                archived=archived,
                after=after if number == 0 else None,
                limit=limit + 1 - len(rows),
            )
            rows.extend(_summary(row) for row in (await conn.execute(query)).all())
            if len(rows) > limit:
                break
    page = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        last = page[-1]
        assert last.last_message_at is not None  # listed rows have one
        next_cursor = Cursor(kind="s", pinned=last.is_pinned, last_message_at=last.last_message_at, id=last.id).encode()
    return ConversationPage(conversations=page, next_cursor=next_cursor)


def require_credentials(caller: ConversationCaller) -> None:
    """Raise SessionTokenRequiredError (401) when ``caller`` presented neither a token nor an identity."""
    if not caller.session_token and caller.identity is None:
        raise SessionTokenRequiredError(
            "reading a conversation needs its session_token (X-Session-Token) or the shopper's verified "
            "identity (X-User-Hash with chatbot_id and user_id)"
        )


async def authorised_row(conn: AsyncConnection, *, conversation_id: str, caller: ConversationCaller) -> Any:
    """The stored, not deleted conversation ``conversation_id`` if ``caller`` may open it.

    Returns the row with the summary columns plus ``chatbot_id``, ``user_id`` and ``token_hash``.
    The conversation is read by its id (a token names no chatbot), and by chatbot and shopper too
    when only a verified identity was presented.

    Raises:
        SessionTokenRequiredError: no token and no identity (401), asked before anything is read.
        ConversationNotFoundError: unknown, deleted, or not opened by what was presented (404).
    """
    require_credentials(caller)
    query = select(*SUMMARY_COLUMNS, CS.chatbot_id, CS.user_id, CS.token_hash, CS.deleted_at).where(
        CS.id == conversation_id
    )
    if not caller.session_token and caller.identity is not None:  # only the shopper's own can open
        query = query.where(CS.chatbot_id == caller.identity.chatbot_id, CS.user_id == caller.identity.user_id)
    row = (await conn.execute(query)).first()
    if row is None or row.deleted_at is not None:
        raise ConversationNotFoundError(f"unknown conversation session {conversation_id}")
    authorise_conversation(
        session_id=conversation_id,
        caller=caller,
        owner_chatbot_id=row.chatbot_id,
        owner_user_id=row.user_id,
        token_hash=row.token_hash,
    )
    return row


async def settle(*, locks: TurnLocks, conversation_id: str, wait_s: float) -> None:
    """Wait (at most ``wait_s`` seconds) while a turn of the conversation whose answer has ended is
    still being stored, so a shopper who reads the conversation right after an ``end`` event
    reads that turn too. A turn still generating is not waited for (it is not stored yet)."""
    probe = TurnHolder(stream_id=f"read-{new_id()}", chatbot_id="", user_id="", token_hash="", phase="persisting")
    if await acquire_turn(locks, session_id=conversation_id, holder=probe, persist_wait_s=wait_s) is None:
        await locks.release(session_id=conversation_id, holder=probe)


async def open_conversation(
    *,
    db: Database,
    conversation_id: str,
    caller: ConversationCaller,
    locks: TurnLocks | None = None,
    persist_wait_s: float = 5.0,
) -> ConversationDetail:
    """The conversation with every message in ``sequence`` order (two queries).

    Args:
        locks: the turn locks; when given, a turn that has ended but is still being stored is
            waited for (up to ``persist_wait_s`` seconds, see :func:`settle`) before the messages
            are read.

    Raises:
        SessionTokenRequiredError: no credentials (401).
        ConversationNotFoundError: see :func:`authorised_row` (404).
    """
    require_credentials(caller)
    if locks is not None:
        await settle(locks=locks, conversation_id=conversation_id, wait_s=persist_wait_s)
    async with db.engine.connect() as conn:
        row = await authorised_row(conn, conversation_id=conversation_id, caller=caller)
        messages = (
            await conn.execute(
                select(
                    *(Message.id, Message.sequence, Message.role, Message.content, Message.created_at),
                    *(Message.is_edited, Message.extra),
                )
                .where(Message.session_id == conversation_id, Message.chatbot_id == row.chatbot_id)
                .order_by(Message.sequence)
            )
        ).all()
    return ConversationDetail(
        conversation=_summary(row),
        messages=[
            ShopperMessage(
                id=m.id,
                sequence=m.sequence,
                role=m.role,
                content=m.content,
                created_at=m.created_at,
                is_edited=bool(m.is_edited),
                image=(m.extra or {}).get("image"),
            )
            for m in messages
        ],
    )


def clean_title(title: str) -> str:
    """A shopper's title, stripped; 1..200 characters (the column's width).

    Raises:
        InputError: empty once stripped, or longer than 200 characters (422).
    """
    cleaned = " ".join(title.split())
    if not cleaned:
        raise InputError("title must not be empty", details={"field": "title"})
    if len(cleaned) > TITLE_MAX_CHARS:
        raise InputError(f"title is longer than {TITLE_MAX_CHARS} characters", details={"field": "title"})
    return cleaned


async def change_conversation(
    *,
    db: Database,
    conversation_id: str,
    caller: ConversationCaller,
    changes: ConversationChanges,
    locks: TurnLocks | None = None,
    persist_wait_s: float = 5.0,
) -> ConversationSummary:
    """Rename, archive/unarchive or pin/unpin a conversation; returns it as changed.

    ``updated_at`` moves to now (so a worker's cached history of it is read again once, see
    :mod:`samtale.conversation.sessions`); ``last_message_at``, the list's order, does not.
    With ``locks``, a first turn that has ended but is still being stored is waited for (see
    :func:`settle`), so the conversation can be changed right after its first ``end`` event.

    Raises:
        InputError: nothing to change, or a bad title (422).
        SessionTokenRequiredError (401), ConversationNotFoundError (404): see :func:`authorised_row`.
    """
    values: dict[str, Any] = {}
    if changes.title is not None:
        values["title"] = clean_title(changes.title)
    if changes.is_archived is not None:
        values["is_archived"] = changes.is_archived
    if changes.is_pinned is not None:
        values["is_pinned"] = changes.is_pinned
    if not values:
        raise InputError("send at least one of title, is_archived, is_pinned")
    require_credentials(caller)
    if locks is not None:
        await settle(locks=locks, conversation_id=conversation_id, wait_s=persist_wait_s)
    values["updated_at"] = utcnow()
    async with db.engine.begin() as conn:
        row = await authorised_row(conn, conversation_id=conversation_id, caller=caller)
        await conn.execute(
            update(CS)
            .where(CS.id == conversation_id, CS.chatbot_id == row.chatbot_id, CS.deleted_at.is_(None))
            .values(**values)
        )
        if "title" in values:  # SQLite's stemmed title document (PostgreSQL's tsvector is generated)
            await reindex_title(conn, chatbot_id=row.chatbot_id, session_id=conversation_id)
    return dataclasses.replace(_summary(row), **values)


async def delete_conversation(
    *,
    db: Database,
    conversation_id: str,
    caller: ConversationCaller,
    locks: TurnLocks | None = None,
    persist_wait_s: float = 5.0,
) -> None:
    """Soft-delete a conversation: ``deleted_at`` is set; from then on it is 404 everywhere (read,
    list, continue) and the retention job removes it for good after the grace period
    (``Settings.deleted_conversation_grace_days``).

    ``locks``: as for :func:`change_conversation`.

    Raises:
        SessionTokenRequiredError (401), ConversationNotFoundError (404, also when already deleted).
    """
    require_credentials(caller)
    if locks is not None:
        await settle(locks=locks, conversation_id=conversation_id, wait_s=persist_wait_s)
    now = utcnow()
    async with db.engine.begin() as conn:
        row = await authorised_row(conn, conversation_id=conversation_id, caller=caller)
        await conn.execute(
            update(CS)
            .where(CS.id == conversation_id, CS.chatbot_id == row.chatbot_id, CS.deleted_at.is_(None))
            .values(deleted_at=now, updated_at=now)
        )
