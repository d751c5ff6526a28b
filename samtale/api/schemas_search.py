"""Request and response bodies of search (conversations, staff message search) and memories."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SNIPPET_DESCRIPTION = (
    "plain text (not HTML-escaped) with each matching word wrapped in <mark>…</mark>; "
    "a client escapes the text and renders the marks"
)
SCORE_DESCRIPTION = "relevance, higher is better; comparable within one answer only"
Tag = Annotated[str, Field(min_length=1, max_length=40)]


class ConversationSearchHit(BaseModel):
    """A hit in the shopper's own conversations: a matching title (``kind`` ``title``) or message."""

    kind: Literal["message", "title"]
    conversation_id: str
    message_id: str | None = Field(description="the matching message; null for a title hit")
    role: Literal["user", "assistant"] | None = Field(description="the message's role; null for a title hit")
    snippet: str = Field(description=SNIPPET_DESCRIPTION)
    score: float = Field(description=SCORE_DESCRIPTION)
    created_at: str = Field(description="ISO 8601: the message's time, or the conversation's start for a title")


class ConversationSearchResponse(BaseModel):
    """``GET /api/conversations/search``: title hits first, then messages by relevance."""

    results: list[ConversationSearchHit]


class MessageSearchHit(BaseModel):
    """A hit in a chatbot's messages (staff search)."""

    conversation_id: str
    message_id: str
    user_id: str
    role: Literal["user", "assistant"]
    snippet: str = Field(description=SNIPPET_DESCRIPTION)
    score: float = Field(description=SCORE_DESCRIPTION)
    created_at: str = Field(description="ISO 8601")


class MessageSearchResponse(BaseModel):
    """``GET /api/admin/chatbots/{chatbot_id}/messages/search``: messages by relevance."""

    results: list[MessageSearchHit]


class MemoryCreateRequest(BaseModel):
    """``POST /api/memories``: a new memory of the shopper (seed 003: importance 1–5)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "question": "Which wines do I like?",
                "answer": "Dry whites, no oak",
                "tags": ["wine", "taste"],
                "importance": 4,
            }
        },
    )

    question: str = Field(min_length=1, max_length=1000)
    answer: str = Field(min_length=1, max_length=4000)
    tags: list[Tag] = Field(default_factory=list, max_length=20, description="up to 20 tags of 1–40 characters")
    importance: int = Field(default=3, ge=1, le=5, description="1 (trivia) to 5 (always relevant)")


class MemoryPatchRequest(BaseModel):
    """``PATCH /api/memories/{id}``: the fields to change (at least one)."""

    model_config = ConfigDict(extra="forbid")

    question: str | None = Field(default=None, min_length=1, max_length=1000)
    answer: str | None = Field(default=None, min_length=1, max_length=4000)
    tags: list[Tag] | None = Field(default=None, max_length=20)
    importance: int | None = Field(default=None, ge=1, le=5)

    @model_validator(mode="after")
    def _something(self) -> MemoryPatchRequest:
        if self.question is None and self.answer is None and self.tags is None and self.importance is None:
            raise ValueError("give at least one of question, answer, tags, importance")
        return self


class MemoryOut(BaseModel):
    """A stored memory."""

    id: str
    question: str
    answer: str
    tags: list[str]
    importance: int = Field(ge=1, le=5)
    created_at: str = Field(description="ISO 8601")
    updated_at: str = Field(description="ISO 8601")


class MemoryListResponse(BaseModel):
    """``GET /api/memories``: most important first, then most recently changed."""

    memories: list[MemoryOut]


class MemorySearchHit(MemoryOut):
    """A memory found by a search, with its snippet (question — answer) and relevance."""

    snippet: str = Field(description=SNIPPET_DESCRIPTION)
    score: float = Field(description=SCORE_DESCRIPTION)


class MemorySearchResponse(BaseModel):
    """``GET /api/memories/search``: the shopper's memories holding every word, best first."""

    results: list[MemorySearchHit]
