"""Conversation tables: sessions, messages, streams and their events, context chunks used."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from samtale.storage.base import Base, JSONColumn, JSONDict, UTCDateTime, new_id, utcnow


class ConversationSession(Base):
    """A shopper's conversation with one chatbot (seed table ``conversation_sessions``).

    ``state`` carries flow state between turns (last flow, order-verification attempts).
    """

    __tablename__ = "conversation_sessions"
    __table_args__ = (Index("ix_conversation_sessions_chatbot_user", "chatbot_id", "user_id", "updated_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    chatbot_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="active")
    title: Mapped[str | None] = mapped_column(String(200), nullable=True)
    is_archived: Mapped[bool] = mapped_column(Boolean, default=False)
    is_pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[JSONDict] = mapped_column(JSONColumn, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Message(Base):
    """One user or assistant message. A failed answer is stored with ``status='failed'``."""

    __tablename__ = "messages"
    __table_args__ = (Index("ix_messages_session_seq", "session_id", "sequence"),)

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
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


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
    """One SSE event of a stream (seed table ``streaming_events``), written in batches."""

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
