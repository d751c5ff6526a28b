"""Admin API (admin API key required): chatbots as config documents, stored conversations."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import ORJSONResponse
from sqlalchemy import select

from samtale.api.deps import AdminKeyDep, ServicesDep, require_chatbot_access
from samtale.chatbots.schema import ChatbotConfig
from samtale.chatbots.service import (
    ChatbotConfigError,
    import_chatbot,
    list_chatbots,
    load_chatbot,
    parse_chatbot_documents,
)
from samtale.conversation.service import ConversationNotFoundError
from samtale.storage.models import ConversationSession, Message

router = APIRouter(prefix="/api/admin", tags=["admin"])


@router.get("/chatbots")
async def admin_list_chatbots(services: ServicesDep, key: AdminKeyDep) -> ORJSONResponse:
    """The chatbots this key covers: ``[{id, name, language}]``."""
    rows = await list_chatbots(db=services.db)
    return ORJSONResponse(
        {"chatbots": [{"id": i, "name": n, "language": lang} for i, n, lang in rows if key.covers(i)]}
    )


@router.get("/chatbots/{chatbot_id}")
async def admin_get_chatbot(chatbot_id: str, services: ServicesDep, key: AdminKeyDep) -> ORJSONResponse:
    """A chatbot's config document; encrypted secrets appear as ``<encrypted>``."""
    require_chatbot_access(key, chatbot_id)
    config = await load_chatbot(db=services.db, chatbot_id=chatbot_id)
    return ORJSONResponse(config.model_dump(mode="json", exclude_none=True))


@router.put("/chatbots/{chatbot_id}")
async def admin_put_chatbot(chatbot_id: str, request: Request, services: ServicesDep, key: AdminKeyDep) -> Any:
    """Create or replace a chatbot from a JSON or YAML document (422 naming the field when invalid)."""
    require_chatbot_access(key, chatbot_id)
    raw = (await request.body()).decode("utf-8", errors="replace")
    # YAML is a superset of JSON, so one parser reads both content types.
    configs = parse_chatbot_documents(raw)
    if len(configs) != 1:
        raise ChatbotConfigError("send exactly one chatbot document")
    config: ChatbotConfig = configs[0]
    if config.id != chatbot_id:
        raise ChatbotConfigError(f"the document's id '{config.id}' does not match the URL's '{chatbot_id}'")
    await import_chatbot(db=services.db, config=config, secret_key=services.settings.secret_key)
    await services.invalidate_chatbot(chatbot_id)
    return ORJSONResponse({"success": True, "chatbot_id": chatbot_id})


@router.get("/conversations/{session_id}")
async def admin_get_conversation(session_id: str, services: ServicesDep, key: AdminKeyDep) -> ORJSONResponse:
    """A stored conversation with its messages, for a chatbot this key covers."""
    async with services.db.session() as session:
        row = await session.get(ConversationSession, session_id)
        if row is None or not key.covers(row.chatbot_id):
            raise ConversationNotFoundError(f"unknown conversation session {session_id}")
        messages = (
            await session.scalars(
                select(Message)
                .where(Message.session_id == session_id, Message.chatbot_id == row.chatbot_id)
                .order_by(Message.sequence)
            )
        ).all()
    return ORJSONResponse(
        {
            "session_id": row.id,
            "chatbot_id": row.chatbot_id,
            "user_id": row.user_id,
            "created_at": row.created_at.isoformat(),
            "updated_at": row.updated_at.isoformat(),
            "messages": [
                {
                    "sequence": m.sequence,
                    "role": m.role,
                    "content": m.content,
                    "status": m.status,
                    "flow_type": m.flow_type,
                    "streaming_session_id": m.streaming_session_id,
                    "created_at": m.created_at.isoformat(),
                }
                for m in messages
            ],
        }
    )
