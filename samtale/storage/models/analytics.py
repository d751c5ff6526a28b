"""Analytics tables (issue 15): topic and score per turn, shoppers' feedback and CSAT."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from samtale.storage.base import Base, UTCDateTime, utcnow


class ConversationAnalytics(Base):
    """Topic and score of one turn, written by the analytics worker after the turn was stored.

    ``question`` is the shopper's message (untrusted text, shown escaped); ``best_score`` the
    best retrieval score of the sources used (None: no retrieval), ``sources`` their count;
    ``answered`` is False when the answer said it found nothing. ``route_key``,
    ``speculative_hit``, ``ttft_ms``, ``status`` and ``error_category`` are copied from the turn's
    metrics, which are kept 30 days only, so the figures outlive them. ``repeated`` and
    ``asked_for_person`` are set when the shopper's next message repeats the question or asks for
    a person (the score then drops, see :mod:`samtale.analytics.score`). ``created_at`` is when
    the turn started.
    """

    __tablename__ = "conversation_analytics"
    __table_args__ = (
        Index("ix_conversation_analytics_chatbot_created", "chatbot_id", "created_at"),
        Index("ix_conversation_analytics_session", "session_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    chatbot_id: Mapped[str] = mapped_column(String(64))
    session_id: Mapped[str] = mapped_column(ForeignKey("conversation_sessions.id", ondelete="CASCADE"))
    message_id: Mapped[str | None] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), nullable=True, unique=True
    )
    streaming_session_id: Mapped[str] = mapped_column(String(36), unique=True)
    user_id: Mapped[str] = mapped_column(String(200))
    question: Mapped[str] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(2), default="en")
    topic: Mapped[str | None] = mapped_column(String(64), nullable=True)
    topic_confidence: Mapped[float] = mapped_column(Float, default=0.0)
    topic_source: Mapped[str] = mapped_column(String(16))
    score: Mapped[int] = mapped_column(Integer)
    score_source: Mapped[str] = mapped_column(String(16))
    best_score: Mapped[float | None] = mapped_column(Float, nullable=True)
    sources: Mapped[int] = mapped_column(Integer, default=0)
    answered: Mapped[bool] = mapped_column(Boolean, default=True)
    route_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    speculative_hit: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    ttft_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="ok")
    error_category: Mapped[str | None] = mapped_column(String(32), nullable=True)
    repeated: Mapped[bool] = mapped_column(Boolean, default=False)
    asked_for_person: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MessageFeedback(Base):
    """A shopper's thumbs up or down on one assistant message; a second rating replaces the first."""

    __tablename__ = "message_feedback"
    __table_args__ = (UniqueConstraint("message_id", name="uq_message_feedback_message"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    chatbot_id: Mapped[str] = mapped_column(String(64), index=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("conversation_sessions.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    rating: Mapped[str] = mapped_column(String(4))
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConversationCsat(Base):
    """A shopper's satisfaction with a whole conversation, 1–5 (one per conversation, replaced)."""

    __tablename__ = "conversation_csat"

    session_id: Mapped[str] = mapped_column(
        ForeignKey("conversation_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    chatbot_id: Mapped[str] = mapped_column(String(64), index=True)
    csat: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
