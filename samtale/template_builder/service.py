"""Template-builder sessions, persisted: create, chat turn, history, the debug view.

Functions take the :class:`samtale.storage.db.Database` and keyword arguments only; the HTTP
edge (``samtale.api.template_builder``) calls them. The shapes follow seed 004.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from samtale.errors import InputError
from samtale.storage.base import utcnow
from samtale.storage.db import Database
from samtale.storage.models.template_builder import TemplateDraft, TemplateLLMLog, TemplateMessage, TemplateSession
from samtale.template_builder.assistant import Assistant, HistoryMessage
from samtale.template_builder.errors import TemplateMessageTooLongError, TemplateSessionNotFoundError
from samtale.template_builder.memory import TemplateMemory, evaluate

MAX_MESSAGE_CHARS = 4000


@dataclass(slots=True)
class ChatResult:
    """The answer to one chat turn (``POST /chat``).

    ``final_creation_payload`` is the exact body for Meta's API, present only with FINAL.
    """

    session_id: str
    reply: str
    action: str
    draft: dict[str, Any]
    missing_fields: list[str]
    validation: dict[str, Any]
    final_creation_payload: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        """The JSON body of ``POST /chat``."""
        body: dict[str, Any] = {
            "session_id": self.session_id,
            "reply": self.reply,
            "action": self.action,
            "draft": self.draft,
            "missing_fields": self.missing_fields,
            "validation": self.validation,
            "final_creation_payload": self.final_creation_payload,
        }
        return body


async def create_session(db: Database, *, chatbot_id: str | None = None) -> str:
    """Open a new session and return its id (a UUID string)."""
    async with db.session() as session:
        row = TemplateSession(chatbot_id=chatbot_id, memory=TemplateMemory().model_dump(mode="json"))
        session.add(row)
        await session.flush()
        return row.id


async def _load(db: Database, session_id: str) -> TemplateSession:
    async with db.session() as session:
        row = await session.get(TemplateSession, session_id)
    if row is None:
        raise TemplateSessionNotFoundError(f"no template-builder session with id {session_id}")
    return row


async def chat(db: Database, *, session_id: str, message: str, assistant: Assistant) -> ChatResult:
    """Run one turn: store the message, let ``assistant`` answer, store the reply, draft and LLM logs.

    Raises:
        TemplateMessageTooLongError: ``message`` is over :data:`MAX_MESSAGE_CHARS` characters (413).
        InputError: ``message`` is empty (422).
        TemplateSessionNotFoundError: no session has ``session_id`` (404).
        ServiceError: the assistant's LLM could not be reached (503); nothing is stored then.
    """
    if len(message) > MAX_MESSAGE_CHARS:
        raise TemplateMessageTooLongError(
            f"the message is {len(message):,} characters; the limit is {MAX_MESSAGE_CHARS:,}",
            details={"limit": MAX_MESSAGE_CHARS, "length": len(message)},
        )
    if not message.strip():
        raise InputError("the message is empty")
    row = await _load(db, session_id)
    memory = TemplateMemory.model_validate(row.memory or {})
    async with db.session() as session:
        result = await session.execute(
            select(TemplateMessage).where(TemplateMessage.session_id == session_id).order_by(TemplateMessage.id)
        )
        history = [HistoryMessage(m.role, m.content) for m in result.scalars()]
    turn = await assistant.respond(memory=memory, history=history, message=message)
    draft = turn.state.draft
    async with db.session() as session:
        stored = await session.get(TemplateSession, session_id)
        if stored is None:
            raise TemplateSessionNotFoundError(f"template-builder session {session_id} was deleted during the turn")
        session.add(TemplateMessage(session_id=session_id, role="user", content=message))
        session.add(TemplateMessage(session_id=session_id, role="assistant", content=turn.reply))
        for entry in turn.llm_logs:
            session.add(
                TemplateLLMLog(
                    session_id=session_id,
                    direction=entry.direction,
                    payload=entry.payload,
                    model=entry.model,
                    latency_ms=entry.latency_ms,
                )
            )
        current = await session.get(TemplateDraft, stored.active_draft_id) if stored.active_draft_id else None
        if current is None or current.payload != draft:
            version = TemplateDraft(session_id=session_id, payload=draft, is_valid=turn.state.validation.valid)
            session.add(version)
            await session.flush()
            stored.active_draft_id = version.id
        stored.memory = turn.memory.model_dump(mode="json")
        stored.last_action = turn.action
        stored.updated_at = utcnow()
    return ChatResult(
        session_id=session_id,
        reply=turn.reply,
        action=turn.action,
        draft=draft,
        missing_fields=turn.state.missing_fields,
        validation=turn.state.validation.to_dict(),
        final_creation_payload=draft if turn.action == "FINAL" else None,
    )


async def _messages(db: Database, session_id: str) -> list[dict[str, Any]]:
    async with db.session() as session:
        result = await session.execute(
            select(TemplateMessage).where(TemplateMessage.session_id == session_id).order_by(TemplateMessage.id)
        )
        return [
            {"role": m.role, "content": m.content, "created_at": m.created_at.isoformat()} for m in result.scalars()
        ]


async def _current_draft(db: Database, row: TemplateSession) -> dict[str, Any]:
    if not row.active_draft_id:
        return {}
    async with db.session() as session:
        draft = await session.get(TemplateDraft, row.active_draft_id)
    return dict(draft.payload) if draft is not None else {}


async def session_history(db: Database, *, session_id: str) -> dict[str, Any]:
    """The chat history for a UI (``GET /session/{id}``).

    Returns ``{session_id, messages: [{role, content, created_at}], current_draft, missing_fields,
    last_action, created_at, updated_at}``.

    Raises:
        TemplateSessionNotFoundError: unknown ``session_id`` (404).
    """
    row = await _load(db, session_id)
    memory = TemplateMemory.model_validate(row.memory or {})
    return {
        "session_id": row.id,
        "messages": await _messages(db, session_id),
        "current_draft": await _current_draft(db, row),
        "missing_fields": evaluate(memory).missing_fields,
        "last_action": row.last_action,
        "created_at": row.created_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }


async def session_debug(db: Database, *, session_id: str) -> dict[str, Any]:
    """Everything needed to troubleshoot a session, in seed 004's debug structure.

    ``{session_id, session_info{id, active_draft_id, total_messages, total_llm_calls, created_at},
    messages, current_draft, memory, llm_logs[{timestamp, direction, payload, model, latency_ms}],
    last_action, updated_at}``. ``total_llm_calls`` counts LLM requests.

    Raises:
        TemplateSessionNotFoundError: unknown ``session_id`` (404).
    """
    row = await _load(db, session_id)
    messages = await _messages(db, session_id)
    async with db.session() as session:
        logs = (
            await session.execute(
                select(TemplateLLMLog).where(TemplateLLMLog.session_id == session_id).order_by(TemplateLLMLog.id)
            )
        ).scalars()
        llm_logs = [
            {
                "timestamp": log.created_at.isoformat(),
                "direction": log.direction,
                "payload": log.payload,
                "model": log.model,
                "latency_ms": log.latency_ms,
            }
            for log in logs
        ]
        calls = await session.scalar(
            select(func.count())
            .select_from(TemplateLLMLog)
            .where(TemplateLLMLog.session_id == session_id, TemplateLLMLog.direction == "request")
        )
    return {
        "session_id": row.id,
        "session_info": {
            "id": row.id,
            "active_draft_id": row.active_draft_id,
            "total_messages": len(messages),
            "total_llm_calls": int(calls or 0),
            "created_at": row.created_at.isoformat(),
        },
        "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
        "current_draft": await _current_draft(db, row),
        "memory": row.memory or {},
        "llm_logs": llm_logs,
        "last_action": row.last_action,
        "updated_at": row.updated_at.isoformat(),
    }


async def session_chatbot(db: Database, *, session_id: str) -> str | None:
    """The chatbot a session was opened for, if any.

    Raises:
        TemplateSessionNotFoundError: unknown ``session_id`` (404).
    """
    return (await _load(db, session_id)).chatbot_id
