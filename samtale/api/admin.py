"""Admin API (admin API key required): chatbots as config documents.

Stored conversations and erasure are in :mod:`samtale.api.admin_conversations`, knowledge in
:mod:`samtale.api.knowledge`.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from samtale.api.deps import AdminKeyDep, ServicesDep, require_chatbot_access
from samtale.api.errors import error_responses
from samtale.api.responses import FastJSONResponse
from samtale.api.schemas_admin import ChatbotListResponse, ChatbotSavedResponse
from samtale.chatbots.schema import ChatbotConfig
from samtale.chatbots.service import (
    ChatbotConfigError,
    import_chatbot,
    list_chatbots,
    load_chatbot,
    parse_chatbot_documents,
)

router = APIRouter(prefix="/api/admin", tags=["admin"])
CHATBOT_DOCUMENT_BODY = {
    "requestBody": {
        "required": True,
        "description": "one chatbot document, as JSON or YAML (examples/wine-shop.yaml)",
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "application/yaml": {"schema": {"type": "string"}},
        },
    }
}


@router.get("/chatbots", response_model=ChatbotListResponse, responses=error_responses(401, 403, 422))
async def admin_list_chatbots(services: ServicesDep, key: AdminKeyDep) -> FastJSONResponse:
    """The chatbots this key covers: ``[{id, name, language}]``."""
    rows = await list_chatbots(db=services.db)
    return FastJSONResponse(
        {"chatbots": [{"id": i, "name": n, "language": lang} for i, n, lang in rows if key.covers(i)]}
    )


@router.get(
    "/chatbots/{chatbot_id}",
    response_model=ChatbotConfig,
    response_model_exclude_none=True,
    responses=error_responses(401, 403, 404, 422),
)
async def admin_get_chatbot(chatbot_id: str, services: ServicesDep, key: AdminKeyDep) -> FastJSONResponse:
    """A chatbot's config document; encrypted secrets appear as ``<encrypted>``; unset fields are absent."""
    require_chatbot_access(key, chatbot_id)
    config = await load_chatbot(db=services.db, chatbot_id=chatbot_id)
    return FastJSONResponse(config.model_dump(mode="json", exclude_none=True))


@router.put(
    "/chatbots/{chatbot_id}",
    response_model=ChatbotSavedResponse,
    responses=error_responses(401, 403, 422),
    openapi_extra=CHATBOT_DOCUMENT_BODY,
)
async def admin_put_chatbot(
    chatbot_id: str, request: Request, services: ServicesDep, key: AdminKeyDep
) -> FastJSONResponse:
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
    return FastJSONResponse({"success": True, "chatbot_id": chatbot_id})
