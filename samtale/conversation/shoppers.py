"""Shoppers in the store: their stable ids, and the order flow's failed-attempt count per shopper.

A shopper is one ``users`` row per chatbot and widget ``user_id``. Its id is derived from the
two (:func:`shopper_id`), so the recorder links a new conversation to its shopper in the same
``executemany`` that creates the row, without reading it first.

The order flow's lockout (DESIGN section 11: ``max_failed_attempts`` failed look-ups, then the
shopper is sent to customer service) counts per chatbot and shopper across all of their
conversations, in the store, so neither a new ``session_id`` nor another worker resets it.
:class:`OrderAttemptStore` reads the count before an order turn and adds a failed look-up
atomically (``UPDATE … SET n = n + 1``, or an insert of the shopper's row when it has none yet).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from samtale.storage.base import utcnow
from samtale.storage.db import Database
from samtale.storage.models import Shopper

SHOPPER_NAMESPACE = uuid.UUID("5d1c7f3e-6b1a-4c2e-9a57-2f8e0c4b9d61")
"""The UUID5 namespace of shopper ids (migration 0004 holds a frozen copy)."""


def _users_table() -> Table:
    table = Shopper.__table__
    assert isinstance(table, Table)
    return table


USERS = _users_table()


def shopper_id(*, chatbot_id: str, user_id: str) -> str:
    """The ``users.id`` of a chatbot's shopper: UUID5 of ``chatbot_id`` NUL ``user_id`` (36 characters)."""
    return str(uuid.uuid5(SHOPPER_NAMESPACE, f"{chatbot_id}\x00{user_id}"))


def _insert(dialect: str) -> Any:
    """The dialect's ``INSERT`` with ``ON CONFLICT`` (SQLite and PostgreSQL both have it)."""
    return postgresql.insert(USERS) if dialect == "postgresql" else sqlite.insert(USERS)


@dataclass(frozen=True, slots=True)
class ShopperSeen:
    """One shopper's latest stored turn, for :func:`upsert_shoppers` (``verified``: the turn
    carried a valid ``user_hash``)."""

    chatbot_id: str
    user_id: str
    seen_at: datetime
    verified: bool = False


async def upsert_shoppers(conn: AsyncConnection, seen: list[ShopperSeen]) -> None:
    """Create the shoppers' rows where missing and set ``last_seen_at`` (and ``verified_at`` once).

    One ``INSERT … ON CONFLICT (chatbot_id, external_id) DO UPDATE`` for the whole list (the
    recorder calls it inside its batch transaction). A shopper listed twice keeps its last entry:
    PostgreSQL refuses to update one row twice in one statement.
    """
    latest: dict[tuple[str, str], ShopperSeen] = {}
    for item in seen:
        key = (item.chatbot_id, item.user_id)
        previous = latest.get(key)
        verified = item.verified or (previous is not None and previous.verified)
        latest[key] = ShopperSeen(item.chatbot_id, item.user_id, item.seen_at, verified=verified)
    if not latest:
        return
    statement = _insert(conn.dialect.name)
    statement = statement.on_conflict_do_update(
        index_elements=[USERS.c.chatbot_id, USERS.c.external_id],
        set_={
            "last_seen_at": statement.excluded.last_seen_at,
            "verified_at": func.coalesce(USERS.c.verified_at, statement.excluded.verified_at),
        },
    )
    await conn.execute(
        statement,
        [
            {
                "id": shopper_id(chatbot_id=item.chatbot_id, user_id=item.user_id),
                "chatbot_id": item.chatbot_id,
                "external_id": item.user_id,
                "verified_at": item.seen_at if item.verified else None,
                "last_seen_at": item.seen_at,
                "order_failed_attempts": 0,
                "order_failed_lookups": [],
                "created_at": item.seen_at,
            }
            for item in latest.values()
        ],
    )


@dataclass(frozen=True, slots=True)
class OrderAttempts:
    """A shopper's failed order look-ups: how many, and one-way fingerprints of the details tried
    (``samtale.orders.flow``: a repeated failed look-up is neither re-sent nor counted again)."""

    failed: int = 0
    tried: list[str] = field(default_factory=list)


class OrderAttemptStore:
    """The order flow's failed-attempt count per chatbot and shopper, in the database.

    Args:
        db: the database (the ``users`` table).
    """

    def __init__(self, *, db: Database) -> None:
        self.db = db

    async def load(self, *, chatbot_id: str, user_id: str) -> OrderAttempts:
        """The shopper's failed look-ups so far (none when they have no row yet). One primary-key read."""
        async with self.db.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(USERS.c.order_failed_attempts, USERS.c.order_failed_lookups).where(
                        USERS.c.id == shopper_id(chatbot_id=chatbot_id, user_id=user_id)
                    )
                )
            ).first()
        if row is None:
            return OrderAttempts()
        return OrderAttempts(failed=int(row[0] or 0), tried=list(row[1] or []))

    async def add_failure(self, *, chatbot_id: str, user_id: str, tried: list[str]) -> None:
        """Count one more failed look-up for the shopper, atomically, and keep ``tried`` (the
        fingerprints including this one's). Creates the shopper's row when it has none yet."""
        now = utcnow()
        async with self.db.engine.begin() as conn:
            statement = _insert(conn.dialect.name).values(
                id=shopper_id(chatbot_id=chatbot_id, user_id=user_id),
                chatbot_id=chatbot_id,
                external_id=user_id,
                order_failed_attempts=1,
                order_failed_lookups=tried,
                created_at=now,
            )
            await conn.execute(
                statement.on_conflict_do_update(
                    index_elements=[USERS.c.chatbot_id, USERS.c.external_id],
                    set_={
                        "order_failed_attempts": USERS.c.order_failed_attempts + 1,
                        "order_failed_lookups": statement.excluded.order_failed_lookups,
                    },
                )
            )


async def ensure_shopper(conn: AsyncConnection, *, chatbot_id: str, user_id: str, verified_at: datetime | None) -> str:
    """Create the shopper's ``users`` row if it is missing (nothing else changes); returns its id.

    For writes that belong to a shopper outside a turn (a memory): ``INSERT … ON CONFLICT DO
    NOTHING``, so it never touches ``last_seen_at`` or the order flow's count. ``verified_at``
    is stored only when the row is created here.
    """
    identifier = shopper_id(chatbot_id=chatbot_id, user_id=user_id)
    now = utcnow()
    statement = _insert(conn.dialect.name).values(
        id=identifier,
        chatbot_id=chatbot_id,
        external_id=user_id,
        verified_at=verified_at,
        order_failed_attempts=0,
        order_failed_lookups=[],
        created_at=now,
    )
    await conn.execute(statement.on_conflict_do_nothing(index_elements=[USERS.c.chatbot_id, USERS.c.external_id]))
    return identifier
