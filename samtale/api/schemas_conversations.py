"""Request and response bodies of the stored-conversation routes: the shopper's
(``/api/conversations…``) and the staff's (``/api/admin/chatbots/{id}/conversations…``, erasure).

Timestamps are ISO 8601 in UTC (``2026-12-03T13:25:05.123456+00:00``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from samtale.conversation.events import OrderSummary

MAX_EDIT_CHARS = 100_000
"""A hard bound on an edited message's body; the configured limit (``max_message_chars``, 413) is lower."""


class ConversationItem(BaseModel):
    """A conversation in a shopper's list; ``message_count`` counts both sides (2 per turn)."""

    id: str
    title: str | None = Field(description="from the first question until the shopper renames it")
    is_archived: bool
    is_pinned: bool
    message_count: int
    created_at: str = Field(description="ISO 8601")
    updated_at: str = Field(description="ISO 8601; any change: a turn, a rename, an edit")
    last_message_at: str | None = Field(description="ISO 8601; the list's order (last activity)")


class ConversationListResponse(BaseModel):
    """``GET /api/conversations``: one page, pinned first, then by last activity."""

    conversations: list[ConversationItem]
    next_cursor: str | None = Field(description="pass as ``cursor`` for the next page; null on the last page")


class ConversationMessage(BaseModel):
    """A message as its shopper reads it back."""

    id: str
    sequence: int = Field(description="1, 2, 3… in the conversation, no gap")
    role: str = Field(description="``user`` or ``assistant``")
    content: str
    created_at: str = Field(description="ISO 8601")
    is_edited: bool
    image: dict[str, Any] | None = Field(
        default=None,
        description="a user message's photo: {file_id, description, source, facts} as its image event had it "
        "(read the picture from GET /api/files/{file_id})",
    )


class ConversationResponse(ConversationItem):
    """``GET /api/conversations/{id}``: the conversation and every message, oldest first."""

    messages: list[ConversationMessage]


class ConversationPatch(BaseModel):
    """``PATCH /api/conversations/{id}``: what to change (at least one field)."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, min_length=1, max_length=200, description="stripped; 1..200 characters")
    is_archived: bool | None = None
    is_pinned: bool | None = None

    @model_validator(mode="after")
    def _something(self) -> ConversationPatch:
        if self.title is None and self.is_archived is None and self.is_pinned is None:
            raise ValueError("send at least one of title, is_archived, is_pinned")
        return self


class MessagePatch(BaseModel):
    """``PATCH /api/conversations/{id}/messages/{message_id}``: the new text of the last user message."""

    model_config = ConfigDict(extra="forbid")

    content: str = Field(
        min_length=1, max_length=MAX_EDIT_CHARS, description="stripped; at most max_message_chars (8,000) or 413"
    )


class StaffConversationItem(BaseModel):
    """A conversation in the staff list."""

    id: str
    user_id: str
    title: str | None
    status: str
    is_archived: bool
    is_pinned: bool
    message_count: int
    created_at: str = Field(description="ISO 8601")
    updated_at: str = Field(description="ISO 8601")
    last_message_at: str | None = Field(description="ISO 8601")


class StaffConversationListResponse(BaseModel):
    """``GET /api/admin/chatbots/{chatbot_id}/conversations``: newest activity first."""

    conversations: list[StaffConversationItem]
    next_cursor: str | None


class MessageSourceItem(BaseModel):
    """A knowledge chunk that grounded the answer (``context_chunks``)."""

    chunk_id: str
    document_id: str
    index_name: str
    title: str | None
    score: float = Field(description="fused retrieval score, 0..1")
    rank: int = Field(description="1 = best")


class TurnTimingsItem(BaseModel):
    """The turn's ``conversation_processing_metrics`` row (kept ``metrics_retention_days``)."""

    flow_type: str
    route_key: str | None
    routing_strategy: str | None
    provider: str
    model: str | None
    status: str
    error_category: str | None
    phases_ms: dict[str, float | None] = Field(
        description="config_ms, image_ms, routing_ms, retrieval_ms, order_ms, prompt_ms, llm_ttft_ms, stream_ms, "
        "persist_ms, ttft_ms, total_ms (null: the phase did not run)"
    )
    prompt_tokens: int
    completion_tokens: int
    tokens_per_s: float | None


class MessageRatingItem(BaseModel):
    """The shopper's rating of an answer (``POST /api/feedback``); ``comment`` is their own words."""

    rating: Literal["up", "down"]
    comment: str | None
    updated_at: str = Field(description="ISO 8601")


class MessageAnalyticsItem(BaseModel):
    """The answer's topic and score (the analytics worker's ``conversation_analytics`` row)."""

    topic: str | None
    topic_confidence: float
    topic_source: str = Field(description="keywords | examples | llm | none")
    score: int = Field(description="1-5, the rubric of samtale.analytics.score")
    score_source: str = Field(description="heuristic | llm | feedback")


class CsatItem(BaseModel):
    """The shopper's satisfaction with the conversation, 1-5."""

    csat: int
    comment: str | None
    updated_at: str = Field(description="ISO 8601")


class StaffMessageItem(BaseModel):
    """A stored message; an assistant message carries its turn's sources, timings and the order shown."""

    id: str
    sequence: int
    role: str
    content: str
    status: str = Field(description="``ok`` or ``failed``")
    flow_type: str | None
    streaming_session_id: str | None
    error_category: str | None
    is_edited: bool
    created_at: str = Field(description="ISO 8601")
    sources: list[MessageSourceItem]
    timings: TurnTimingsItem | None
    order: OrderSummary | None = Field(description="the verified order the turn showed (its ``order`` event)")
    feedback: MessageRatingItem | None = Field(description="the shopper's rating of this answer")
    analytics: MessageAnalyticsItem | None = Field(description="topic and score, once the worker analysed the turn")


class StaffConversationResponse(StaffConversationItem):
    """``GET /api/admin/chatbots/{chatbot_id}/conversations/{id}``."""

    chatbot_id: str
    flows: list[str] = Field(description="the flow types of its messages, in first-use order")
    messages: list[StaffMessageItem]
    csat: CsatItem | None = Field(description="the shopper's CSAT of the conversation")


class ErasureResponse(BaseModel):
    """``DELETE /api/admin/chatbots/{chatbot_id}/users/{user_id}``: rows removed per table."""

    chatbot_id: str
    user_id: str
    removed: dict[str, int] = Field(
        description="conversations, messages, message_edits, context_chunks, streaming_sessions, streaming_events, "
        "processing_metrics, error_logs, users (0 where there were none)"
    )
