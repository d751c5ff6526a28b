"""Full-text search over stored conversations: a shopper's own (verified identity), or a chatbot's (staff).

Register :data:`router` before any router with a ``/api/conversations/{id}`` route (samtale/app.py):
FastAPI matches routes in order, and ``search`` would otherwise be taken for a conversation id.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from samtale.api.deps import AdminKeyDep, ServicesDep, require_chatbot_access
from samtale.api.errors import error_responses
from samtale.api.responses import FastJSONResponse
from samtale.api.schemas_search import ConversationSearchResponse, MessageSearchResponse
from samtale.api.shopper_auth import VerifiedShopperDep
from samtale.conversation.search.messages import MAX_LIMIT, search_conversations, search_messages
from samtale.conversation.search.query import MAX_QUERY_CHARS

router = APIRouter(prefix="/api", tags=["search"])

QueryText = Annotated[
    str,
    Query(
        min_length=1,
        max_length=MAX_QUERY_CHARS,
        description='search text: words (all must match), "a phrase", -excluded, or',
    ),
]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="the most results")]


def _utc(value: datetime | None) -> datetime | None:
    """A query-string time as aware UTC (a time without an offset is taken as UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@router.get(
    "/conversations/search",
    response_model=ConversationSearchResponse,
    responses=error_responses(401, 404, 422),
)
async def search_my_conversations(
    services: ServicesDep, shopper: VerifiedShopperDep, q: QueryText, limit: Limit = 20
) -> FastJSONResponse:
    """Search the verified shopper's own conversations (never soft-deleted ones), in the chatbot's
    language: conversations whose title matches first, then messages by relevance, each with a
    snippet marking the matched words (``<mark>`` … ``</mark>``)."""
    chatbot = await services.get_chatbot(shopper.chatbot_id)
    hits = await search_conversations(
        db=services.db,
        chatbot_id=chatbot.id,
        language=chatbot.language,
        user_id=shopper.user_id,
        query=q,
        limit=limit,
    )
    return FastJSONResponse(
        {
            "results": [
                {
                    "kind": hit.kind,
                    "conversation_id": hit.conversation_id,
                    "message_id": hit.message_id,
                    "role": hit.role,
                    "snippet": hit.snippet,
                    "score": hit.score,
                    "created_at": hit.created_at.isoformat(),
                }
                for hit in hits
            ]
        }
    )


@router.get(
    "/admin/chatbots/{chatbot_id}/messages/search",
    tags=["admin"],
    response_model=MessageSearchResponse,
    responses=error_responses(401, 403, 404, 422),
)
async def admin_search_messages(
    chatbot_id: str,
    services: ServicesDep,
    key: AdminKeyDep,
    q: QueryText,
    user_id: Annotated[str | None, Query(min_length=1, max_length=200, description="only this shopper's")] = None,
    since: Annotated[datetime | None, Query(alias="from", description="ISO 8601; messages at or after")] = None,
    until: Annotated[datetime | None, Query(alias="to", description="ISO 8601; messages before")] = None,
    role: Annotated[Literal["user", "assistant"] | None, Query(description="only this role")] = None,
    limit: Limit = 20,
) -> FastJSONResponse:
    """Search all of a chatbot's stored messages (an admin key covering the chatbot), ranked by
    relevance among the newest 1,000 matches, with snippets; soft-deleted conversations are left out."""
    require_chatbot_access(key, chatbot_id)
    chatbot = await services.get_chatbot(chatbot_id)
    hits = await search_messages(
        db=services.db,
        chatbot_id=chatbot.id,
        language=chatbot.language,
        query=q,
        user_id=user_id,
        since=_utc(since),
        until=_utc(until),
        role=role,
        limit=limit,
    )
    return FastJSONResponse(
        {
            "results": [
                {
                    "conversation_id": hit.conversation_id,
                    "message_id": hit.message_id,
                    "user_id": hit.user_id,
                    "role": hit.role,
                    "snippet": hit.snippet,
                    "score": hit.score,
                    "created_at": hit.created_at.isoformat(),
                }
                for hit in hits
            ]
        }
    )
