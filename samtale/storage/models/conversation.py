"""Conversation tables: sessions, messages, streams and their events, context chunks used."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from samtale.storage.base import Base, JSONColumn, JSONDict, UTCDateTime, new_id, utcnow


class ConversationSession(Base):
    """A shopper's conversation with one chatbot (seed table ``conversation_sessions``).

    ``state`` carries the conversation's flow state between turns (last flow, the order number
    asked about); the order flow's failed-attempt count is the shopper's (:class:`~samtale.
    storage.models.shoppers.Shopper`), not the conversation's. ``message_count`` is the
    conversation's version: the recorder adds 2 per stored turn, and every turn compares it
    with its cached history (``samtale.conversation.sessions``). ``token_hash`` is the SHA-256
    of the session token returned by the first turn, which continues the conversation later.
    ``deleted_at`` marks a soft-deleted conversation (purged by the retention job).
    ``language`` is the chatbot's (``en`` | ``da``) when the conversation began; it picks the
    stemmer of the title's full-text entry (``samtale.storage.fulltext``).

    Indexes: ``ix_conversation_sessions_user_active`` and ``…_user_pinned`` are partial
    (PostgreSQL and SQLite) and serve a shopper's list of conversations, pinned first, then by
    last activity (``WHERE chatbot_id = ? AND user_id = ? AND … ORDER BY last_message_at DESC``).
    ``ix_conversation_sessions_deleted`` (partial, the soft-deleted only) gives a chatbot's deleted
    conversations: searches leave them out, the retention job purges them.
    """

    __tablename__ = "conversation_sessions"
    __table_args__ = (
        Index("ix_conversation_sessions_chatbot_user", "chatbot_id", "user_id", "updated_at"),
        Index(
            "ix_conversation_sessions_user_active",
            "chatbot_id",
            "user_id",
            "last_message_at",
            postgresql_where=text("is_archived = false AND deleted_at IS NULL"),
            sqlite_where=text("is_archived = 0 AND deleted_at IS NULL"),
        ),
        Index(
            "ix_conversation_sessions_user_pinned",
            "chatbot_id",
            "user_id",
            "last_message_at",
            postgresql_where=text("is_pinned = true AND deleted_at IS NULL"),
            sqlite_where=text("is_pinned = 1 AND deleted_at IS NULL"),
        ),
        Index(
            "ix_conversation_sessions_deleted",
            "chatbot_id",
            "deleted_at",
            postgresql_where=text("deleted_at IS NOT NULL"),
            sqlite_where=text("deleted_at IS NOT NULL"),
        ),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    chatbot_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str] = mapped_column(String(200))
    shopper_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True, index=True
    )
    status: Mapped[str] = mapped_column(String(20), default="active")
    title: Mapped[str | None] = mapped_column(String(200), nullable=True)
    is_archived: Mapped[bool] = mapped_column(Boolean, default=False)
    is_pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[JSONDict] = mapped_column(JSONColumn, default=dict)
    message_count: Mapped[int] = mapped_column(Integer, default=0)
    token_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    language: Mapped[str] = mapped_column(String(2), default="en", server_default="en")
    last_message_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Message(Base):
    """One user or assistant message. A failed answer is stored with ``status='failed'``.

    ``sequence`` runs 1, 2, 3… per conversation with no gap (unique with ``session_id``; the
    recorder numbers a turn's two messages from the conversation's ``message_count`` while the
    turn lock is held). ``is_edited`` is set when the shopper edited it; the earlier texts are
    in :class:`MessageEdit`. ``language`` is the chatbot's (``en`` | ``da``) when the message
    was stored and picks the stemmer of its full-text entry (``samtale.storage.fulltext``:
    a generated ``tsvector`` on PostgreSQL, FTS5 on SQLite; migration 0006).
    """

    __tablename__ = "messages"
    __table_args__ = (Index("uq_messages_session_sequence", "session_id", "sequence", unique=True),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    chatbot_id: Mapped[str] = mapped_column(String(64), index=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("conversation_sessions.id", ondelete="CASCADE"))
    sequence: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="ok")
    flow_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    streaming_session_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    extra: Mapped[JSONDict] = mapped_column(JSONColumn, default=dict)
    is_edited: Mapped[bool] = mapped_column(Boolean, default=False)
    language: Mapped[str] = mapped_column(String(2), default="en", server_default="en")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MessageEdit(Base):
    """The text a message had before one edit (seed: ``is_edited``; the previous text is kept)."""

    __tablename__ = "message_edits"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    chatbot_id: Mapped[str] = mapped_column(String(64))
    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    previous_content: Mapped[str] = mapped_column(Text)
    edited_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StreamingSession(Base):
    """One streamed answer (seed table ``streaming_sessions``); the token is stored hashed."""

    __tablename__ = "streaming_sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    chatbot_id: Mapped[str] = mapped_column(String(64), index=True)
    conversation_session_id: Mapped[str] = mapped_column(String(64), index=True)
    token_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default="active")
    flow_type: Mapped[str] = mapped_column(String(32), default="main")
    last_event_id: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class StreamingEvent(Base):
    """One SSE event of a stream (seed table ``streaming_events``), written in batches; or a run
    of ``event_count`` consecutive ``token`` events from ``event_id`` on, whose payloads and time
    offsets are in ``data`` (``samtale.conversation.stored_streams``, migration 0007)."""

    __tablename__ = "streaming_events"
    __table_args__ = (UniqueConstraint("streaming_session_id", "event_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    streaming_session_id: Mapped[str] = mapped_column(
        ForeignKey("streaming_sessions.id", ondelete="CASCADE"), index=True
    )
    chatbot_id: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[int] = mapped_column(Integer)
    event: Mapped[str] = mapped_column(String(32))
    data: Mapped[JSONDict] = mapped_column(JSONColumn)
    event_count: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class ContextChunkUsed(Base):
    """A knowledge chunk that grounded an assistant message (seed: context chunk storage)."""

    __tablename__ = "context_chunks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    chatbot_id: Mapped[str] = mapped_column(String(64), index=True)
    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    chunk_id: Mapped[str] = mapped_column(String(64))
    document_id: Mapped[str] = mapped_column(String(500))
    index_name: Mapped[str] = mapped_column(String(100))
    rank: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    title: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
