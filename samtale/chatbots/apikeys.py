"""API keys for admin endpoints: created once, stored as SHA-256 hashes, scoped to one or all chatbots."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select

from samtale.storage.db import Database
from samtale.storage.models import ApiKey

KEY_PREFIX = "sk_samtale_"


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


def hash_api_key(key: str) -> str:
    """SHA-256 hex of an API key (keys are 256-bit random, so a fast hash is enough)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


async def create_api_key(*, db: Database, name: str, is_admin: bool, chatbot_id: str | None = None) -> str:
    """Create a key and return it in clear; only its hash is stored, so it cannot be shown again."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    async with db.session() as session:
        session.add(
            ApiKey(
                name=name,
                key_hash=hash_api_key(key),
                prefix=key[: len(KEY_PREFIX) + 4],
                is_admin=is_admin,
                chatbot_id=chatbot_id,
            )
        )
    return key


async def authenticate_api_key(*, db: Database, key: str) -> ApiKeyInfo | None:
    """The grant of a presented key, or None when it is unknown or revoked."""
    async with db.session() as session:
        row = await session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_api_key(key)))
    if row is None or row.revoked_at is not None:
        return None
    return ApiKeyInfo(id=row.id, name=row.name, is_admin=row.is_admin, chatbot_id=row.chatbot_id)
