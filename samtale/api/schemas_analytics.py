"""Request and response models of the feedback and analytics routes (issue 15)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

COMMENT_CHARS = 2000


class FeedbackRequest(BaseModel):
    """``POST /api/feedback``: a rating of one answer, or a CSAT of the conversation.

    A rating names the answer by ``message_id`` or ``streaming_session_id`` and gives ``rating``;
    a CSAT names the conversation by ``session_id`` and gives ``csat`` (1–5).
    """

    model_config = ConfigDict(extra="forbid")

    message_id: str | None = Field(default=None, min_length=1, max_length=36)
    streaming_session_id: str | None = Field(default=None, min_length=1, max_length=36)
    rating: Literal["up", "down"] | None = None
    session_id: str | None = Field(default=None, min_length=1, max_length=64)
    csat: int | None = Field(default=None, ge=1, le=5)
    comment: str | None = Field(default=None, max_length=COMMENT_CHARS, description="the shopper's words (untrusted)")

    @model_validator(mode="after")
    def _one_kind(self) -> FeedbackRequest:
        rates = self.rating is not None
        scores = self.csat is not None
        if rates == scores:
            raise ValueError("give either rating (with message_id or streaming_session_id) or csat (with session_id)")
        if rates and (self.message_id is None) == (self.streaming_session_id is None):
            raise ValueError("a rating names its answer by message_id or by streaming_session_id (one of them)")
        if scores and (self.session_id is None or self.message_id or self.streaming_session_id):
            raise ValueError("a csat names its conversation by session_id alone")
        return self


class FeedbackResponse(BaseModel):
    """The stored feedback: ``kind`` says which, ``replaced`` whether an earlier one was replaced."""

    kind: Literal["rating", "csat"]
    session_id: str
    message_id: str | None
    rating: Literal["up", "down"] | None
    csat: int | None
    comment: str | None
    replaced: bool
    updated_at: str = Field(description="ISO 8601")
