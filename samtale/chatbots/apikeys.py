"""API keys for the admin endpoints: created once, stored as SHA-256 hashes, scoped to one or all
chatbots; listed, revoked and rotated by id or by the key itself.

A key is ``sk_samtale_`` plus 256 random bits (``secrets.token_urlsafe(32)``). Only its SHA-256 and
a visible prefix (the first four characters after ``sk_samtale_``) are stored, so a leaked
database reveals no key and a listing still tells keys apart. A key is looked up by its hash
through a unique index: no key is ever compared character by character, so its lookup time says
nothing about how much of a guess was right.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from samtale.errors import NotFoundError
from samtale.storage.base import utcnow
from samtale.storage.db import Database
from samtale.storage.models import ApiKey

KEY_PREFIX = "sk_samtale_"
LAST_USED_RESOLUTION = timedelta(minutes=1)
"""``last_used_at`` is written at most once a minute per key, so a busy key costs no write per request."""


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    """What a presented key grants: admin or not, and for which chatbot (None = every chatbot)."""

    id: str
    name: str
    is_admin: bool
    chatbot_id: str | None

    def covers(self, chatbot_id: str) -> bool:
        """True when this key may act on ``chatbot_id``."""
        return self.chatbot_id is None or self.chatbot_id == chatbot_id


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """A stored key as a listing shows it: never the key, only its visible ``prefix``."""

    id: str
    name: str
    prefix: str
    is_admin: bool
    chatbot_id: str | None
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyNotFoundError(NotFoundError):
    """No key with that id (or that key) exists in the caller's scope."""

    code = "api_key_not_found"


def hash_api_key(key: str) -> str:
    """SHA-256 hex of an API key (keys are 256-bit random, so a fast hash is enough)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _record(row: ApiKey) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=row.id,
        name=row.name,
        prefix=row.prefix,
        is_admin=row.is_admin,
        chatbot_id=row.chatbot_id,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


async def create_api_key(*, db: Database, name: str, is_admin: bool, chatbot_id: str | None = None) -> str:
    """Create a key and return it in clear; only its hash is stored, so it cannot be shown again."""
    key, _ = await create_api_key_record(db=db, name=name, is_admin=is_admin, chatbot_id=chatbot_id)
    return key


def _new_key(*, name: str, is_admin: bool, chatbot_id: str | None) -> tuple[str, ApiKey]:
    """A fresh key in clear and its row (hash and visible prefix only)."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        name=name,
        key_hash=hash_api_key(key),
        prefix=key[: len(KEY_PREFIX) + 4],
        is_admin=is_admin,
        chatbot_id=chatbot_id,
        created_at=utcnow(),
    )
    return key, row


async def create_api_key_record(
    *, db: Database, name: str, is_admin: bool, chatbot_id: str | None = None
) -> tuple[str, ApiKeyRecord]:
    """Create a key; returns ``(key in clear, its record)``. The clear key is never stored."""
    key, row = _new_key(name=name, is_admin=is_admin, chatbot_id=chatbot_id)
    async with db.session() as session:
        session.add(row)
        await session.flush()
        record = _record(row)
    return key, record


async def authenticate_api_key(*, db: Database, key: str) -> ApiKeyInfo | None:
    """The grant of a presented key, or None when it is unknown or revoked.

    Records the key's ``last_used_at`` (at most once per :data:`LAST_USED_RESOLUTION`)."""
    async with db.session() as session:
        row = await session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_api_key(key)))
        if row is None or row.revoked_at is not None:
            return None
        info = ApiKeyInfo(id=row.id, name=row.name, is_admin=row.is_admin, chatbot_id=row.chatbot_id)
        now = utcnow()
        if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
            await session.execute(
                update(ApiKey)
                .where(ApiKey.id == row.id)
                .where(or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < now - LAST_USED_RESOLUTION))
                .values(last_used_at=now)
            )
    return info


async def list_api_keys(
    *, db: Database, chatbot_id: str | None = None, include_revoked: bool = True
) -> list[ApiKeyRecord]:
    """Every key, or only those scoped to ``chatbot_id``, oldest first."""
    query = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
    if chatbot_id is not None:
        query = query.where(ApiKey.chatbot_id == chatbot_id)
    if not include_revoked:
        query = query.where(ApiKey.revoked_at.is_(None))
    async with db.session() as session:
        rows = (await session.scalars(query)).all()
        return [_record(row) for row in rows]


async def _find(session: AsyncSession, *, id_or_key: str, chatbot_id: str | None) -> ApiKey:
    column = ApiKey.key_hash if id_or_key.startswith(KEY_PREFIX) else ApiKey.id
    value = hash_api_key(id_or_key) if id_or_key.startswith(KEY_PREFIX) else id_or_key
    query = select(ApiKey).where(column == value)
    if chatbot_id is not None:
        query = query.where(ApiKey.chatbot_id == chatbot_id)
    row = await session.scalar(query)
    if row is None:
        raise ApiKeyNotFoundError("no such API key")
    return row


async def revoke_api_key(*, db: Database, id_or_key: str, chatbot_id: str | None = None) -> ApiKeyRecord:
    """Revoke a key, named by its id or by the key itself; revoking twice keeps the first time.

    ``chatbot_id`` limits the search to that chatbot's keys (a chatbot-scoped admin).

    Raises:
        ApiKeyNotFoundError: no such key in that scope.
    """
    async with db.session() as session:
        row = await _find(session, id_or_key=id_or_key, chatbot_id=chatbot_id)
        if row.revoked_at is None:
            row.revoked_at = utcnow()
        await session.flush()
        return _record(row)


async def rotate_api_key(
    *, db: Database, id_or_key: str, chatbot_id: str | None = None
) -> tuple[str, ApiKeyRecord, ApiKeyRecord]:
    """Revoke a key and create its successor with the same name and grant, in one transaction.

    Returns ``(new key in clear, new record, revoked old record)``.

    Raises:
        ApiKeyNotFoundError: no such key in that scope, or it is already revoked.
    """
    async with db.session() as session:
        old = await _find(session, id_or_key=id_or_key, chatbot_id=chatbot_id)
        if old.revoked_at is not None:
            raise ApiKeyNotFoundError("that API key is revoked; create a new one instead")
        key, new = _new_key(name=old.name, is_admin=old.is_admin, chatbot_id=old.chatbot_id)
        old.revoked_at = new.created_at
        session.add(new)
        await session.flush()
        return key, _record(new), _record(old)
