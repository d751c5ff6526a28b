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


class DayFigures(BaseModel):
    """One local day of the window."""

    date: str = Field(description="YYYY-MM-DD in the request's tz")
    conversations: int
    messages: int


class Percentiles(BaseModel):
    """Time to first token in milliseconds (None without any turn that had one)."""

    p50: float | None
    p95: float | None


class FeedbackCounts(BaseModel):
    """Thumbs up and down on the window's answers."""

    up: int
    down: int


class CsatFigures(BaseModel):
    """CSATs of the window's conversations: their mean (1-5) and count."""

    mean: float | None
    count: int


class ScoreFigures(BaseModel):
    """The mean turn score (1-5)."""

    mean: float | None


class KnowledgeGap(BaseModel):
    """Questions the knowledge base did not answer well, grouped by topic and wording."""

    question: str = Field(description="the latest wording (the shopper's text: untrusted)")
    topic: str | None
    count: int
    best_score: float | None = Field(description="the best retrieval score any of them got; None: no retrieval")


class FlowPerformance(BaseModel):
    """One route key's turns: how many, how many failed, their mean score, median TTFT, speculation."""

    turns: int
    errors: int
    score_mean: float | None
    ttft_p50_ms: float | None
    speculative_hit_rate: float | None


class AnalyticsResponse(BaseModel):
    """``GET /api/admin/chatbots/{chatbot_id}/analytics``: the figures of the window (see docs/api.md)."""

    from_: str = Field(alias="from", description="first day, YYYY-MM-DD")
    to: str = Field(description="last day, YYYY-MM-DD")
    tz: str
    conversations: int
    messages: int = Field(description="shopper messages (turns)")
    users: int
    by_day: list[DayFigures]
    topics: dict[str, int]
    flows: dict[str, int]
    ttft_ms: Percentiles
    feedback: FeedbackCounts
    csat: CsatFigures
    score: ScoreFigures
    errors: dict[str, int]
    speculative_hit_rate: float | None
    knowledge_gaps: list[KnowledgeGap]
    flow_performance: dict[str, FlowPerformance]
