"""WhatsApp template builder tables (seed 004): sessions, messages, drafts, LLM logs, submissions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from samtale.storage.base import Base, JSONColumn, JSONDict, UTCDateTime, new_id, utcnow


class TemplateSession(Base):
    """A marketer's template-building conversation; ``memory`` is the assistant's memory (seed 004)."""

    __tablename__ = "template_sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    chatbot_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    active_draft_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    memory: Mapped[JSONDict] = mapped_column(JSONColumn, default=dict)
    last_action: Mapped[str | None] = mapped_column(String(16), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class TemplateMessage(Base):
    """One message of a template-builder session."""

    __tablename__ = "template_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("template_sessions.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TemplateDraft(Base):
    """A version of the template payload being built; ``is_valid`` is the validator's verdict."""

    __tablename__ = "template_drafts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    session_id: Mapped[str] = mapped_column(ForeignKey("template_sessions.id", ondelete="CASCADE"), index=True)
    payload: Mapped[JSONDict] = mapped_column(JSONColumn)
    is_valid: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TemplateLLMLog(Base):
    """One LLM request or response of a template session, with its latency (seed 004 ``llm_logs``)."""

    __tablename__ = "template_llm_logs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("template_sessions.id", ondelete="CASCADE"), index=True)
    direction: Mapped[str] = mapped_column(String(16))
    payload: Mapped[JSONDict] = mapped_column(JSONColumn)
    model: Mapped[str | None] = mapped_column(String(100), nullable=True)
    latency_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TemplateSubmission(Base):
    """A payload sent to Meta's Graph API and what Meta answered (id, status or mapped error)."""

    __tablename__ = "template_submissions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    session_id: Mapped[str] = mapped_column(ForeignKey("template_sessions.id", ondelete="CASCADE"), index=True)
    payload: Mapped[JSONDict] = mapped_column(JSONColumn)
    meta_template_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    status: Mapped[str] = mapped_column(String(32))
    error: Mapped[JSONDict | None] = mapped_column(JSONColumn, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
