"""Memories (seed 003 table ``memory``): what a shopper asked the chatbot to remember about them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from samtale.storage.base import Base, JSONColumn, UTCDateTime, new_id, utcnow


class Memory(Base):
    """One memory of a chatbot's shopper: a ``question`` and its ``answer`` ("Which wines do I
    like?" / "Dry whites, no oak"), ``tags`` (a JSON list of strings) and an ``importance`` of
    1 (trivia) to 5 (always relevant), seed 003; ``language`` is the chatbot's (``en`` | ``da``)
    when it was written and picks the stemmer of its full-text entry.

    Indexes: ``ix_memories_shopper_importance`` serves a shopper's list (``WHERE chatbot_id = ?
    AND shopper_id = ? ORDER BY importance DESC, updated_at DESC``). Full-text search (question,
    answer and tags) and the GIN index on ``tags`` are made by migration 0006 per database
    (``samtale.storage.fulltext``). Deleting the shopper deletes their memories (cascade).
    """

    __tablename__ = "memories"
    __table_args__ = (
        CheckConstraint("importance BETWEEN 1 AND 5", name="importance_range"),
        Index("ix_memories_shopper_importance", "chatbot_id", "shopper_id", "importance", "updated_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    chatbot_id: Mapped[str] = mapped_column(String(64))
    shopper_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(JSONColumn, default=list)
    importance: Mapped[int] = mapped_column(Integer, default=3)
    language: Mapped[str] = mapped_column(String(2), default="en", server_default="en")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
