"""Tenant configuration tables: chatbots, prompt templates, integrations, API keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from samtale.storage.base import Base, JSONColumn, JSONDict, UTCDateTime, new_id, utcnow


class Chatbot(Base):
    """One shop chatbot (a tenant). ``config`` holds the validated YAML document (flows, routing…).

    The document is validated by ``samtale.chatbots.schema.ChatbotConfig`` on every write and
    read; secrets never live here (they are in :class:`Integration` encrypted, or ``${ENV}``).
    ``identity_secret_encrypted`` is the Fernet token of the chatbot's literal ``identity_secret``
    (the key the shop's backend signs verified user ids with); an ``${ENV}`` reference stays in
    ``config``. Neither is ever returned by the API.
    """

    __tablename__ = "chatbots"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(16), default="en")
    config: Mapped[JSONDict] = mapped_column(JSONColumn)
    identity_secret_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class PromptTemplate(Base):
    """A named Jinja2 prompt template of a chatbot (seed table ``prompt_templates``)."""

    __tablename__ = "prompt_templates"
    __table_args__ = (UniqueConstraint("chatbot_id", "name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    chatbot_id: Mapped[str] = mapped_column(ForeignKey("chatbots.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Integration(Base):
    """An outside system of a chatbot (order API, LLM, vector store, WhatsApp account).

    ``settings`` holds non-secret settings; ``secrets_encrypted`` holds a Fernet token of the
    JSON object of secrets (keyed by ``SAMTALE_SECRET_KEY``). It is never returned by the API.
    """

    __tablename__ = "integrations"
    __table_args__ = (UniqueConstraint("chatbot_id", "name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    chatbot_id: Mapped[str] = mapped_column(ForeignKey("chatbots.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(50))
    settings: Mapped[JSONDict] = mapped_column(JSONColumn, default=dict)
    secrets_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class ApiKey(Base):
    """An API key, stored as a SHA-256 hash; ``chatbot_id`` None means every chatbot."""

    __tablename__ = "api_keys"
    __table_args__ = (Index("ix_api_keys_key_hash", "key_hash", unique=True),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100))
    key_hash: Mapped[str] = mapped_column(String(64))
    prefix: Mapped[str] = mapped_column(String(16))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    chatbot_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
