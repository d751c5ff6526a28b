"""A verified shopper's memories (seed 003): list, create, search, change, delete; always their own.

A memory id is a UUID (``{memory_id:uuid}``), so ``/api/memories/search`` is never taken for one.
Every route needs the shopper's verified identity (``chatbot_id``, ``user_id`` and ``X-User-Hash``,
:data:`~samtale.api.shopper_auth.VerifiedShopperDep`). A memory of another shopper or chatbot is
404 ``memory_not_found``, exactly as one that does not exist.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Response

from samtale.api.deps import ServicesDep
from samtale.api.errors import error_responses
from samtale.api.responses import FastJSONResponse
from samtale.api.schemas_search import (
    MemoryCreateRequest,
    MemoryListResponse,
    MemoryOut,
    MemoryPatchRequest,
    MemorySearchResponse,
)
from samtale.api.search import QueryText
from samtale.api.shopper_auth import VerifiedShopperDep
from samtale.conversation.memories import (
    MAX_MEMORIES_PER_SHOPPER,
    MemoryChanges,
    MemoryInput,
    MemoryView,
    create_memory,
    delete_memory,
    list_memories,
    update_memory,
)
from samtale.conversation.search.memories import MAX_LIMIT, search_memories

router = APIRouter(prefix="/api/memories", tags=["memories"])


def _memory(view: MemoryView) -> dict[str, Any]:
    return {
        "id": view.id,
        "question": view.question,
        "answer": view.answer,
        "tags": list(view.tags),
        "importance": view.importance,
        "created_at": view.created_at.isoformat(),
        "updated_at": view.updated_at.isoformat(),
    }


@router.get("", response_model=MemoryListResponse, responses=error_responses(401, 404, 422))
async def list_my_memories(
    services: ServicesDep,
    shopper: VerifiedShopperDep,
    tag: Annotated[str | None, Query(min_length=1, max_length=40, description="only memories with this tag")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_MEMORIES_PER_SHOPPER)] = 100,
) -> FastJSONResponse:
    """The shopper's memories: most important first, then most recently changed."""
    memories = await list_memories(
        db=services.db, chatbot_id=shopper.chatbot_id, user_id=shopper.user_id, tag=tag, limit=limit
    )
    return FastJSONResponse({"memories": [_memory(view) for view in memories]})


@router.post("", status_code=201, response_model=MemoryOut, responses=error_responses(401, 404, 409, 422))
async def create_my_memory(
    body: MemoryCreateRequest, services: ServicesDep, shopper: VerifiedShopperDep
) -> FastJSONResponse:
    """Remember something about the shopper (201 with the memory); 409 ``memory_limit_reached``
    once they keep 500."""
    chatbot = await services.get_chatbot(shopper.chatbot_id)
    view = await create_memory(
        db=services.db,
        chatbot_id=chatbot.id,
        language=chatbot.language,
        user_id=shopper.user_id,
        memory=MemoryInput(
            question=body.question, answer=body.answer, tags=tuple(body.tags), importance=body.importance
        ),
    )
    return FastJSONResponse(_memory(view), status_code=201)


@router.get("/search", response_model=MemorySearchResponse, responses=error_responses(401, 404, 422))
async def search_my_memories(
    services: ServicesDep,
    shopper: VerifiedShopperDep,
    q: QueryText,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 10,
) -> FastJSONResponse:
    """The shopper's memories holding every word of ``q`` (question, answer or tags), best first,
    each with a snippet marking the matches."""
    chatbot = await services.get_chatbot(shopper.chatbot_id)
    hits = await search_memories(
        db=services.db,
        chatbot_id=chatbot.id,
        language=chatbot.language,
        user_id=shopper.user_id,
        query=q,
        limit=limit,
    )
    return FastJSONResponse(
        {"results": [{**_memory(hit.memory), "snippet": hit.snippet, "score": hit.score} for hit in hits]}
    )


@router.patch("/{memory_id:uuid}", response_model=MemoryOut, responses=error_responses(401, 404, 422))
async def change_my_memory(
    memory_id: UUID, body: MemoryPatchRequest, services: ServicesDep, shopper: VerifiedShopperDep
) -> FastJSONResponse:
    """Change one of the shopper's memories (the fields given); 404 for anyone else's."""
    chatbot = await services.get_chatbot(shopper.chatbot_id)
    view = await update_memory(
        db=services.db,
        chatbot_id=chatbot.id,
        language=chatbot.language,
        user_id=shopper.user_id,
        memory_id=str(memory_id),
        changes=MemoryChanges(
            question=body.question,
            answer=body.answer,
            tags=tuple(body.tags) if body.tags is not None else None,
            importance=body.importance,
        ),
    )
    return FastJSONResponse(_memory(view))


@router.delete("/{memory_id:uuid}", status_code=204, response_class=Response, responses=error_responses(401, 404, 422))
async def delete_my_memory(memory_id: UUID, services: ServicesDep, shopper: VerifiedShopperDep) -> Response:
    """Delete one of the shopper's memories (204); 404 for anyone else's."""
    await delete_memory(
        db=services.db, chatbot_id=shopper.chatbot_id, user_id=shopper.user_id, memory_id=str(memory_id)
    )
    return Response(status_code=204)
