"""A conversation as a turn reads it: the stored row (the truth) and a version-checked history cache.

The store is the truth (DESIGN section 16). Every turn that continues a conversation reads its
row with one primary-key query (:meth:`SessionReader.read`: owner, token hash, version, flow
state), which it needs anyway to authorise the caller. The version is ``message_count``, which
the recorder raises by 2 for every stored turn, together with the row's ``updated_at`` (the
*stamp*), which every write of the conversation sets: the recorder's (to the turn's completion
time) and a shopper's edit of a message, which leaves ``message_count`` alone. The process
keeps recent conversations' last messages in an LRU (:class:`SessionSnapshot` with the version
and stamp it was read at); a snapshot whose version or stamp differs from the row's (a turn
answered by another worker, an edited message, a turn whose write failed) is dropped and the
history is read again (one indexed query on ``(session_id, sequence)``). So a turn on any worker
sees every earlier turn and every edit, and a follow-up on the same worker costs one
primary-key read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cachetools import LRUCache
from sqlalchemy import select

from samtale.storage.db import Database
from samtale.storage.models import ConversationSession, Message

HISTORY_TURNS = 10
"""Turns of history (a user and an assistant message each) a turn is given."""


@dataclass(frozen=True, slots=True)
class SessionRow:
    """What a turn reads of its stored conversation (one primary-key query).

    ``version`` is ``message_count``; ``stamp`` the row's ``updated_at`` (changed by every
    write, an edit included); ``token_hash`` the SHA-256 of the session token its first turn
    returned (None for a conversation stored before migration 0004 without streams).
    """

    session_id: str
    chatbot_id: str
    user_id: str
    token_hash: str | None
    version: int
    state: dict[str, Any]
    deleted_at: datetime | None
    stamp: datetime | None = None


@dataclass(slots=True)
class SessionSnapshot:
    """What a turn needs of its conversation: owner, recent history ``(role, content)`` oldest
    first, flow state, and the version (``message_count``) and stamp (``updated_at``) the history
    is complete up to (``stamp`` None: not known, the next turn reads the history again)."""

    chatbot_id: str
    user_id: str
    history: list[tuple[str, str]] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)
    version: int = 0
    stamp: datetime | None = None


class SessionReader:
    """Reads conversations for turns, with the per-process history cache.

    Args:
        db: the database.
        max_cached: conversations whose history the process keeps (LRU).
    """

    def __init__(self, *, db: Database, max_cached: int = 20_000) -> None:
        self.db = db
        self._cache: LRUCache[str, SessionSnapshot] = LRUCache(maxsize=max_cached)
        self.history_reads = 0

    async def read(self, session_id: str) -> SessionRow | None:
        """The stored conversation ``session_id``, or None when it is not stored (yet)."""
        async with self.db.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(
                        ConversationSession.chatbot_id,
                        ConversationSession.user_id,
                        ConversationSession.token_hash,
                        ConversationSession.message_count,
                        ConversationSession.state,
                        ConversationSession.deleted_at,
                        ConversationSession.updated_at,
                    ).where(ConversationSession.id == session_id)
                )
            ).first()
        if row is None:
            return None
        return SessionRow(
            session_id=session_id,
            chatbot_id=row[0],
            user_id=row[1],
            token_hash=row[2],
            version=int(row[3] or 0),
            state=dict(row[4] or {}),
            deleted_at=row[5],
            stamp=row[6],
        )

    async def snapshot(self, row: SessionRow) -> SessionSnapshot:
        """The conversation's history as of ``row.version`` and ``row.stamp``: the cached one when
        both match, else read from the database (and cached). Always a copy the caller may
        change; the flow state is the row's."""
        cached = self._cache.get(row.session_id)
        if (
            cached is None
            or cached.version != row.version
            or cached.stamp is None
            or cached.stamp != row.stamp
            or cached.chatbot_id != row.chatbot_id
        ):
            cached = SessionSnapshot(
                chatbot_id=row.chatbot_id,
                user_id=row.user_id,
                history=await self._history(row),
                version=row.version,
                stamp=row.stamp,
            )
            self._cache[row.session_id] = cached
        return SessionSnapshot(
            chatbot_id=row.chatbot_id,
            user_id=row.user_id,
            history=list(cached.history),
            state=dict(row.state),
            version=row.version,
            stamp=row.stamp,
        )

    async def _history(self, row: SessionRow) -> list[tuple[str, str]]:
        if row.version == 0:
            return []
        self.history_reads += 1
        async with self.db.engine.connect() as conn:
            messages = (
                await conn.execute(
                    select(Message.role, Message.content)
                    .where(Message.session_id == row.session_id, Message.chatbot_id == row.chatbot_id)
                    .order_by(Message.sequence.desc())
                    .limit(2 * HISTORY_TURNS)
                )
            ).all()
        return [(role, content) for role, content in reversed(messages)]

    def remember(self, session_id: str, snapshot: SessionSnapshot) -> None:
        """Cache a conversation's history once its turn is stored (``snapshot.version`` the stored
        count, ``snapshot.stamp`` the ``updated_at`` the recorder wrote)."""
        del snapshot.history[: -2 * HISTORY_TURNS]
        self._cache[session_id] = snapshot

    def forget(self, session_id: str) -> None:
        """Drop a conversation's cached history (its turn was not stored)."""
        self._cache.pop(session_id, None)
