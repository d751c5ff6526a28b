"""Request and response bodies of the conversation API (seed 002 shapes, plus our additions)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class HistoryItem(BaseModel):
    """One earlier message, as the widget sends it."""

    role: Literal["user", "assistant"]
    content: str = Field(max_length=8000)


class ProcessMessageRequest(BaseModel):
    """``POST /api/process-message`` (seed 002)."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "user_id": "user-123",
                "chatbot_id": "vinhuset",
                "message_text": "What is your return policy?",
                "conversation_history": [],
            }
        }
    )

    user_id: str = Field(min_length=1, max_length=200)
    chatbot_id: str = Field(min_length=1, max_length=64)
    message_text: str = Field(description="1 to 8,000 characters (longer: 413)")
    image_data: dict[str, Any] | None = None
    conversation_history: list[HistoryItem] = Field(default_factory=list, max_length=100)
    session_id: str | None = Field(default=None, max_length=64)
    session_token: str | None = Field(
        default=None,
        max_length=200,
        description="continuing a stored session_id: the session_token its first turn returned "
        "(or the X-Session-Token header)",
    )
    user_hash: str | None = Field(
        default=None,
        max_length=128,
        description="the shopper's verified identity: hex(HMAC-SHA256(identity_secret, user_id)) computed by "
        "the shop's backend (or the X-User-Hash header); reaches all of this user's conversations",
    )
    configuration: dict[str, Any] = Field(default_factory=dict)


class ProcessMessageResponse(BaseModel):
    """The ids of a started answer, and where to read it (both URLs carry the session token)."""

    success: bool = True
    session_id: str
    streaming_session_id: str
    flow_type: str
    streaming_url: str = Field(description="polling endpoint (seed 002), with ?token=")
    sse_url: str = Field(description="SSE endpoint, with ?token=; usable by EventSource as it is")
    session_token: str


class StreamEventJSON(BaseModel):
    """One event as the polling endpoint returns it."""

    id: int
    event: str
    data: dict[str, Any]
    timestamp: str


class StreamEventsResponse(BaseModel):
    """``GET /api/stream-events/{id}`` (seed 002)."""

    events: list[StreamEventJSON]
    session_status: str
    last_event_id: int
    has_more: bool
