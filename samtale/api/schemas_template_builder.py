"""Request and response bodies of the WhatsApp template builder (seed 004), under ``/api/template-builder``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from samtale.template_builder.issues import ValidationResult

__all__ = [
    "ChatRequest",
    "ChatResponse",
    "NewSessionRequest",
    "NewSessionResponse",
    "SessionCreatedResponse",
    "SessionDebugResponse",
    "SessionHistoryResponse",
    "SubmitRequest",
    "SubmitResponse",
    "ValidationResult",
]


class NewSessionRequest(BaseModel):
    """Optional chatbot the session belongs to (needed later to submit with its WhatsApp account)."""

    chatbot_id: str | None = None


class ChatRequest(BaseModel):
    """One marketer message; at most 4,000 characters (longer → 413)."""

    session_id: str
    message: str = Field(description="the marketer's message, at most 4,000 characters")


class SubmitRequest(BaseModel):
    """Which chatbot's WhatsApp integration to submit with (defaults to the session's chatbot)."""

    chatbot_id: str | None = None
    integration: str | None = Field(default=None, description="integration name; default: the first of kind whatsapp")


class NewSessionResponse(BaseModel):
    """``GET /session/new`` (seed 004)."""

    session_id: str


class SessionCreatedResponse(BaseModel):
    """``POST /sessions``: the new session and the chatbot it belongs to (null when none)."""

    session_id: str
    chatbot_id: str | None


class ChatResponse(BaseModel):
    """One turn of the builder; ``final_creation_payload`` is Meta's request body, set only with FINAL."""

    session_id: str
    reply: str
    action: Literal["ASK", "DRAFT", "FINAL"]
    draft: dict[str, Any]
    missing_fields: list[str]
    validation: dict[str, Any] = Field(description="the draft's validation result (``{valid, errors, warnings}``)")
    final_creation_payload: dict[str, Any] | None


class HistoryMessage(BaseModel):
    """A message of the session."""

    role: str
    content: str
    created_at: str = Field(description="ISO 8601")


class SessionHistoryResponse(BaseModel):
    """``GET /session/{id}``: the chat history for a UI."""

    session_id: str
    messages: list[HistoryMessage]
    current_draft: dict[str, Any]
    missing_fields: list[str]
    last_action: str | None
    created_at: str = Field(description="ISO 8601")
    updated_at: str = Field(description="ISO 8601")


class SessionInfo(BaseModel):
    """Counts of a session; ``total_llm_calls`` counts LLM requests."""

    id: str
    active_draft_id: str | None
    total_messages: int
    total_llm_calls: int
    created_at: str = Field(description="ISO 8601")


class DebugMessage(BaseModel):
    """A message of the session, without its time."""

    role: str
    content: str


class LLMLogEntry(BaseModel):
    """One LLM request or response; ``latency_ms`` on responses."""

    timestamp: str = Field(description="ISO 8601")
    direction: str = Field(description="``request`` or ``response``")
    payload: Any
    model: str | None
    latency_ms: float | None


class SessionDebugResponse(BaseModel):
    """``GET /session/{id}/debug``: seed 004's debug structure."""

    session_id: str
    session_info: SessionInfo
    messages: list[DebugMessage]
    current_draft: dict[str, Any]
    memory: dict[str, Any]
    llm_logs: list[LLMLogEntry]
    last_action: str | None
    updated_at: str = Field(description="ISO 8601")


class SubmitResponse(BaseModel):
    """``POST /session/{id}/submit``: what Meta answered, as recorded in ``template_submissions``."""

    submission_id: str
    meta_template_id: str
    status: str
    category: str | None
    session_id: str
