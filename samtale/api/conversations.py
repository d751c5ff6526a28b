"""A shopper's stored conversations (issue 13): list, read, rename/archive/pin, delete, edit.

* ``GET /api/conversations?chatbot_id=&user_id=&archived=&pinned=&cursor=&limit=``: the
  verified shopper's list (``X-User-Hash``), pinned first, then by last activity.
* ``GET /api/conversations/{id}``: one conversation with its messages.
* ``PATCH /api/conversations/{id}``: ``{title?, is_archived?, is_pinned?}``.
* ``DELETE /api/conversations/{id}``: soft delete (204); purged by the retention job.
* ``PATCH /api/conversations/{id}/messages/{message_id}``: edit the last user message.

One conversation opens with its session token (``X-Session-Token`` or ``?token=``) or with the
verified identity of its shopper (``X-User-Hash`` with ``chatbot_id`` and ``user_id``). Without
either: 401; with credentials that do not open it (another shopper's or chatbot's, a wrong
token, deleted): 404 ``session_not_found``, never 403. The service logic is in
:mod:`samtale.conversation.library` and :mod:`samtale.conversation.edits`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from starlette.convertors import StringConvertor, register_url_convertor

from samtale.api.deps import ServicesDep
from samtale.api.errors import error_responses
from samtale.api.responses import FastJSONResponse
from samtale.api.schemas_conversations import (
    ConversationItem,
    ConversationListResponse,
    ConversationMessage,
    ConversationPatch,
    ConversationResponse,
    MessagePatch,
)
from samtale.api.shopper_auth import ConversationCallerDep, VerifiedShopperDep
from samtale.conversation.cursors import MAX_CURSOR_CHARS
from samtale.conversation.edits import edit_last_message
from samtale.conversation.library import (
    DEFAULT_PAGE,
    MAX_PAGE,
    ConversationChanges,
    ConversationSummary,
    change_conversation,
    delete_conversation,
    list_conversations,
    open_conversation,
)


class ConversationIdConvertor(StringConvertor):
    """A conversation id in a path: any segment but the fixed paths beside it (``search``), so
    ``/api/conversations/search`` belongs to the search route alone and a ``PATCH`` there is a
    405 naming only ``GET``, not a look-up of a conversation called "search"."""

    regex = "(?!search$)[^/]+"


register_url_convertor("conversation_id", ConversationIdConvertor())

router = APIRouter(prefix="/api/conversations", tags=["conversations"])
ONE = "/{conversation_id:conversation_id}"
"""The path of one conversation (its id through :class:`ConversationIdConvertor`)."""

ConversationId = Annotated[str, Path(min_length=1, max_length=64, description="the conversation's session_id")]
MessageId = Annotated[str, Path(min_length=1, max_length=36)]


def _item(summary: ConversationSummary) -> dict[str, Any]:
    return {
        "id": summary.id,
        "title": summary.title,
        "is_archived": summary.is_archived,
        "is_pinned": summary.is_pinned,
        "message_count": summary.message_count,
        "created_at": summary.created_at,
        "updated_at": summary.updated_at,
        "last_message_at": summary.last_message_at,
    }


@router.get("", response_model=ConversationListResponse, responses=error_responses(401, 404, 422))
async def shopper_conversations(
    services: ServicesDep,
    identity: VerifiedShopperDep,
    archived: Annotated[bool, Query(description="false (default): active ones; true: only archived")] = False,
    pinned: Annotated[bool | None, Query(description="true: only pinned; false: only unpinned")] = None,
    cursor: Annotated[str | None, Query(max_length=MAX_CURSOR_CHARS, description="a page's next_cursor")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
) -> FastJSONResponse:
    """The verified shopper's conversations, pinned first, then by last activity; never a deleted one.

    Needs ``X-User-Hash`` (or ``user_hash``) = hex(HMAC-SHA256(identity_secret, user_id)): 401
    without it or when it does not verify; 404 for an unknown chatbot; 422 ``invalid_cursor``.
    """
    page = await list_conversations(
        db=services.db, identity=identity, archived=archived, pinned=pinned, cursor=cursor, limit=limit
    )
    return FastJSONResponse({"conversations": [_item(c) for c in page.conversations], "next_cursor": page.next_cursor})


@router.get(ONE, response_model=ConversationResponse, responses=error_responses(401, 404, 422))
async def shopper_conversation(
    conversation_id: ConversationId, services: ServicesDep, caller: ConversationCallerDep
) -> FastJSONResponse:
    """One conversation with every message in ``sequence`` order (its token or its shopper's identity)."""
    detail = await open_conversation(
        db=services.db,
        conversation_id=conversation_id,
        caller=caller,
        locks=services.turn_locks,
        persist_wait_s=services.settings.turn_persist_wait_s,
    )
    return FastJSONResponse({**_item(detail.conversation), "messages": detail.messages})


@router.patch(ONE, response_model=ConversationItem, responses=error_responses(401, 404, 422))
async def change_shopper_conversation(
    conversation_id: ConversationId, body: ConversationPatch, services: ServicesDep, caller: ConversationCallerDep
) -> FastJSONResponse:
    """Rename (``title``, stripped, 1..200 characters), archive or pin a conversation; returns it."""
    summary = await change_conversation(
        db=services.db,
        conversation_id=conversation_id,
        caller=caller,
        changes=ConversationChanges(title=body.title, is_archived=body.is_archived, is_pinned=body.is_pinned),
        locks=services.turn_locks,
        persist_wait_s=services.settings.turn_persist_wait_s,
    )
    return FastJSONResponse(_item(summary))


@router.delete(
    ONE,
    status_code=204,
    response_class=Response,
    responses={
        204: {"description": "deleted (soft): from now on it is 404 everywhere"},
        **error_responses(401, 404, 422),
    },
)
async def delete_shopper_conversation(
    conversation_id: ConversationId, services: ServicesDep, caller: ConversationCallerDep
) -> Response:
    """Delete a conversation: it is no longer listed, read or continued (404), and the retention job
    removes it for good after ``SAMTALE_DELETED_CONVERSATION_GRACE_DAYS`` (30)."""
    await delete_conversation(
        db=services.db,
        conversation_id=conversation_id,
        caller=caller,
        locks=services.turn_locks,
        persist_wait_s=services.settings.turn_persist_wait_s,
    )
    return Response(status_code=204)


@router.patch(
    ONE + "/messages/{message_id}",
    response_model=ConversationMessage,
    responses=error_responses(401, 404, 409, 413, 422),
)
async def edit_shopper_message(
    conversation_id: ConversationId,
    message_id: MessageId,
    body: MessagePatch,
    services: ServicesDep,
    caller: ConversationCallerDep,
) -> FastJSONResponse:
    """Edit the conversation's last user message (the earlier text is kept); later turns prompt with it.

    409 ``message_not_editable`` for an assistant message or an earlier question, 409
    ``turn_in_progress`` while an answer is being generated, 404 ``message_not_found``.
    """
    message = await edit_last_message(
        db=services.db,
        locks=services.turn_locks,
        conversation_id=conversation_id,
        message_id=message_id,
        caller=caller,
        content=body.content,
        max_chars=services.settings.max_message_chars,
        persist_wait_s=services.settings.turn_persist_wait_s,
    )
    return FastJSONResponse(message)
