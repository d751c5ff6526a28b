"""Stored conversations for the shop's staff, and a shopper's erasure (admin key of the chatbot).

Under ``/api/admin/chatbots/{chatbot_id}``:

* ``GET /conversations?user_id=&from=&to=&flow=&topic=&score_min=&score_max=&feedback=&cursor=&limit=``:
  by last activity, newest first;
* ``GET /conversations/{conversation_id}``: every message with its sources, the turn's phase
  timings, the order shown, the shopper's rating and the turn's topic and score, and the
  conversation's CSAT;
* ``DELETE /users/{user_id}``: erase the shopper and everything stored of them (GDPR).

A key that does not cover the chatbot in the path is 403; a conversation of another chatbot
under a covered path is 404 ``session_not_found``, whatever id is guessed. The logic is in
:mod:`samtale.conversation.staff` and :mod:`samtale.conversation.erasure`.
"""

from __future__ import annotations

import re
from dataclasses import asdict
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BeforeValidator

from samtale.api.deps import AdminKeyDep, ServicesDep, require_chatbot_access
from samtale.api.errors import error_responses
from samtale.api.responses import FastJSONResponse
from samtale.api.schemas_conversations import (
    ErasureResponse,
    StaffConversationListResponse,
    StaffConversationResponse,
)
from samtale.chatbots.schema import FlowType
from samtale.conversation.cursors import MAX_CURSOR_CHARS
from samtale.conversation.erasure import erase_shopper
from samtale.conversation.feedback import conversation_feedback
from samtale.conversation.library import DEFAULT_PAGE, MAX_PAGE
from samtale.conversation.search.messages import MAX_LIMIT, search_messages
from samtale.conversation.staff import list_chatbot_conversations, load_chatbot_conversation
from samtale.conversation.staff_filters import analytics_filters

router = APIRouter(prefix="/api/admin/chatbots/{chatbot_id}", tags=["admin"])

ChatbotId = Annotated[str, Path(min_length=1, max_length=64)]
Q_MATCHES = MAX_LIMIT
"""Messages a list's ``q`` searches for (the message search's own maximum, 50)."""
ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iso_day(value: object) -> object:
    """Only ``YYYY-MM-DD`` is a day here (Pydantic alone would also take ``0`` as 1970-01-01)."""
    if value is not None and not (isinstance(value, str) and ISO_DAY.match(value)):
        raise ValueError("a day is written YYYY-MM-DD")
    return value


Day = Annotated[date | None, BeforeValidator(_iso_day)]


@router.get(
    "/conversations", response_model=StaffConversationListResponse, responses=error_responses(401, 403, 404, 422)
)
async def staff_conversations(
    chatbot_id: ChatbotId,
    services: ServicesDep,
    key: AdminKeyDep,
    user_id: Annotated[str | None, Query(min_length=1, max_length=200, description="only this shopper's")] = None,
    since: Annotated[Day, Query(alias="from", description="last activity on or after this UTC day")] = None,
    until: Annotated[Day, Query(alias="to", description="last activity on or before this UTC day")] = None,
    flow: Annotated[FlowType | None, Query(description="only conversations with a message of this flow")] = None,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=500,
            description=f"only conversations holding one of the {Q_MATCHES} messages that best match these words",
        ),
    ] = None,
    topic: Annotated[
        str | None, Query(min_length=1, max_length=64, description="only with a turn of this topic")
    ] = None,
    score_min: Annotated[int | None, Query(ge=1, le=5, description="only with a turn scored at least this")] = None,
    score_max: Annotated[int | None, Query(ge=1, le=5, description="only with a turn scored at most this")] = None,
    feedback: Annotated[
        Literal["up", "down"] | None, Query(description="only with an answer the shopper rated so")
    ] = None,
    cursor: Annotated[str | None, Query(max_length=MAX_CURSOR_CHARS, description="a page's next_cursor")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
) -> FastJSONResponse:
    """The chatbot's conversations by last activity, newest first (never a deleted one).

    ``topic``, ``score_min``/``score_max`` and ``feedback`` keep those with a turn that matches
    (the analytics figures' drill-down).

    With ``q``, only the conversations of the messages a full-text search of the chatbot finds
    (the best :data:`Q_MATCHES`, in the chatbot's language, as ``…/messages/search`` ranks them),
    still newest first and filtered by the other parameters."""
    require_chatbot_access(key, chatbot_id)
    conversation_ids: list[str] | None = None
    if q is not None:
        chatbot = await services.get_chatbot(chatbot_id)
        hits = await search_messages(
            db=services.db, chatbot_id=chatbot.id, language=chatbot.language, query=q, user_id=user_id, limit=Q_MATCHES
        )
        conversation_ids = sorted({hit.conversation_id for hit in hits})
    page = await list_chatbot_conversations(
        db=services.db,
        chatbot_id=chatbot_id,
        user_id=user_id,
        since=since,
        until=until,
        flow=flow,
        conversation_ids=conversation_ids,
        cursor=cursor,
        limit=limit,
        where=analytics_filters(
            chatbot_id=chatbot_id, topic=topic, score_min=score_min, score_max=score_max, feedback=feedback
        ),
    )
    return FastJSONResponse({"conversations": page.conversations, "next_cursor": page.next_cursor})


@router.get(
    "/conversations/{conversation_id}",
    response_model=StaffConversationResponse,
    responses=error_responses(401, 403, 404, 422),
)
async def staff_conversation(
    chatbot_id: ChatbotId,
    conversation_id: Annotated[str, Path(min_length=1, max_length=64)],
    services: ServicesDep,
    key: AdminKeyDep,
) -> FastJSONResponse:
    """One conversation: its messages with sources, flow, status, the turn's timings and order shown."""
    require_chatbot_access(key, chatbot_id)
    stored = await load_chatbot_conversation(db=services.db, chatbot_id=chatbot_id, conversation_id=conversation_id)
    feedback = await conversation_feedback(db=services.db, chatbot_id=chatbot_id, conversation_id=conversation_id)
    messages = [
        {
            **asdict(message),
            "feedback": feedback.ratings.get(message.id),
            "analytics": feedback.analytics.get(message.id),
        }
        for message in stored.messages
    ]
    body: dict[str, Any] = asdict(stored.conversation)
    body.update(chatbot_id=stored.chatbot_id, flows=stored.flows, messages=messages, csat=feedback.csat)
    return FastJSONResponse(body)


@router.delete("/users/{user_id}", response_model=ErasureResponse, responses=error_responses(401, 403, 422, 503))
async def erase_chatbot_shopper(
    chatbot_id: ChatbotId,
    user_id: Annotated[str, Path(min_length=1, max_length=200, description="the widget's user id")],
    services: ServicesDep,
    key: AdminKeyDep,
) -> FastJSONResponse:
    """Erase a shopper (GDPR right to erasure): their uploaded files (bytes and rows), then their
    conversations (hard delete), messages, edits, context chunks, streams and events, metrics and
    error-log rows, and their ``users`` row, in one transaction. Says what it removed; erasing a
    shopper with nothing stored removes nothing. 503 when the file storage fails (nothing removed)."""
    require_chatbot_access(key, chatbot_id)
    report = await erase_shopper(db=services.db, chatbot_id=chatbot_id, user_id=user_id, files=services.files)
    return FastJSONResponse({"chatbot_id": report.chatbot_id, "user_id": report.user_id, "removed": report.removed})
