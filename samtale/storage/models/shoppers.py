"""Shoppers (seed table ``users``): the people a chatbot talks to, one row per chatbot and widget user id."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from samtale.storage.base import Base, JSONColumn, UTCDateTime, utcnow


class Shopper(Base):
    """A chatbot's shopper: the widget's ``user_id`` (``external_id``) and what is known of them.

    ``id`` is derived from ``(chatbot_id, external_id)`` (``samtale.conversation.shoppers.
    shopper_id``), so the recorder links a conversation to its shopper without a lookup.
    ``verified_at`` is when the shop's backend first vouched for this user id (a valid
    ``user_hash``); ``last_seen_at`` the time of their latest stored turn. ``username`` and
    ``email`` are optional and unique per chatbot (seed 003), NULLs excepted.
    ``order_failed_attempts`` counts failed order look-ups of this shopper across all their
    conversations, with one-way fingerprints of the failed details in ``order_failed_lookups``
    (the order flow's lockout, DESIGN section 11).
    """

    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("chatbot_id", "external_id", name="uq_users_chatbot_external"),
        UniqueConstraint("chatbot_id", "username", name="uq_users_chatbot_username"),
        UniqueConstraint("chatbot_id", "email", name="uq_users_chatbot_email"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    chatbot_id: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(200))
    username: Mapped[str | None] = mapped_column(String(100), nullable=True)
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    order_failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    order_failed_lookups: Mapped[list[str]] = mapped_column(JSONColumn, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
