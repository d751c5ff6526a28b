"""Request and response bodies of the API-key admin routes (``/api/admin/apikeys``)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class ApiKeyOut(BaseModel):
    """A stored key as listed: its id and visible prefix, never the key itself."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    prefix: str = Field(description="the key's first characters, to tell keys apart (sk_samtale_xxxx)")
    is_admin: bool
    chatbot_id: str | None = Field(description="the one chatbot the key covers; null for every chatbot")
    created_at: datetime
    last_used_at: datetime | None = Field(description="when the key was last presented (minute resolution)")
    revoked_at: datetime | None


class ApiKeyListResponse(BaseModel):
    """``GET /api/admin/apikeys``: the keys the caller may manage, oldest first."""

    api_keys: list[ApiKeyOut]


class ApiKeyCreateRequest(BaseModel):
    """``POST /api/admin/apikeys``: a new key's label and grant."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: str = Field(min_length=1, max_length=100)
    is_admin: bool = False
    chatbot_id: str | None = Field(default=None, min_length=1, max_length=64)


class ApiKeyCreatedResponse(BaseModel):
    """A new key, shown this once: only its hash is stored."""

    key: str = Field(description="the key in clear; store it now, it cannot be shown again")
    api_key: ApiKeyOut


class ApiKeyRotatedResponse(BaseModel):
    """The successor of a rotated key (shown this once) and the key it replaced, now revoked."""

    key: str = Field(description="the new key in clear; store it now, it cannot be shown again")
    api_key: ApiKeyOut
    revoked: ApiKeyOut


class ApiKeyRevokedResponse(BaseModel):
    """The revoked key."""

    api_key: ApiKeyOut
