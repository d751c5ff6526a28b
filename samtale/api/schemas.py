"""Request and response bodies of the conversation API (seed 002 shapes, plus our additions)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from samtale.api.schemas_images import ImageDataIn
from samtale.conversation.events import EventData, EventName


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
    message_text: str = Field(
        default="", description="1 to 8,000 characters (longer: 413); may be empty when an image is sent"
    )
    image_data: ImageDataIn | None = Field(default=None, description="an image sent inline (seed 002)")
    file_id: str | None = Field(
        default=None, max_length=36, description="an image from POST /api/upload-image of this conversation"
    )
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
    """One event as the polling endpoint returns it (the same ids, names and payloads as SSE)."""

    id: int = Field(description="per-stream, increasing by one from 1")
    event: EventName
    data: EventData = Field(description="the payload of the event named by ``event`` (docs/api.md)")
    timestamp: str = Field(description="ISO 8601, UTC")


class StreamEventsResponse(BaseModel):
    """``GET /api/stream-events/{id}`` (seed 002)."""

    events: list[StreamEventJSON]
    session_status: Literal["active", "completed", "failed", "stopped"]
    last_event_id: int
    has_more: bool


class StopResponse(BaseModel):
    """``POST /api/stream/{id}/stop``: the stream's status after the stop."""

    success: bool = True
    session_status: str


class FlowRef(BaseModel):
    """A flow of the chatbot, as the widget sees it."""

    flow_type: str
    route_key: str


class StreamingOptions(BaseModel):
    """How the widget may read answers; ``heartbeat_s`` is the SSE heartbeat interval (seconds)."""

    sse: bool
    polling: bool
    heartbeat_s: float


class PublicConfiguration(BaseModel):
    """A chatbot's public settings (no secret ever appears here)."""

    chatbot_id: str
    name: str
    language: str
    language_name: str
    image_enabled: bool
    flows: list[FlowRef]
    topKSettings: dict[str, int] = Field(description="top_k of each flow that has a knowledge index")
    streaming: StreamingOptions
    max_message_chars: int


class ConversationConfigResponse(BaseModel):
    """``GET /api/conversation-config/{chatbot_id}`` (seed 002)."""

    success: bool = True
    configuration: PublicConfiguration


class ConversationHealthResponse(BaseModel):
    """``GET /api/conversation-health`` (seed 002); 503 with the same body when the database is down."""

    status: Literal["healthy", "degraded"]
    database: Literal["connected", "unreachable"]
    active_streams: int
    running_turns: int
    timestamp: str = Field(description="ISO 8601, UTC")


class HealthResponse(BaseModel):
    """``GET /health`` (seed 004); 503 with ``db: "unreachable"`` when the database is down."""

    status: Literal["ok", "degraded"]
    model: str = Field(description="``offline`` or ``provider:model``")
    db: Literal["ok", "unreachable"]
