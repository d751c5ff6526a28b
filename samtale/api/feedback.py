"""``POST /api/feedback``: a shopper rates an answer (thumbs up/down) or the whole conversation (CSAT).

With what opens the conversation: its session token (``X-Session-Token`` or ``?token=``) or the
shopper's verified identity (``X-User-Hash`` with ``chatbot_id`` and ``user_id``). A second
rating of the same answer, or a second CSAT, replaces the first. The logic is in
:mod:`samtale.conversation.feedback`.
"""

from __future__ import annotations

from fastapi import APIRouter

from samtale.api.deps import ClientAddressDep, ServicesDep
from samtale.api.errors import error_responses
from samtale.api.responses import FastJSONResponse
from samtale.api.schemas_analytics import FeedbackRequest, FeedbackResponse
from samtale.api.shopper_auth import ConversationCallerDep
from samtale.conversation.feedback import rate_conversation, rate_message

router = APIRouter(prefix="/api", tags=["feedback"])


@router.post("/feedback", response_model=FeedbackResponse, responses=error_responses(401, 404, 422, 429))
async def post_feedback(
    body: FeedbackRequest, services: ServicesDep, caller: ConversationCallerDep, address: ClientAddressDep
) -> FastJSONResponse:
    """Store a rating of one answer (``rating`` with ``message_id`` or ``streaming_session_id``) or
    a CSAT of the conversation (``csat`` 1–5 with ``session_id``); 404 for an answer or conversation
    the credentials do not open, 422 for rating the shopper's own message, 429 over
    ``SAMTALE_FEEDBACK_RATE_LIMIT`` per client address."""
    await services.rate_limiter.hit(
        rule="feedback", limit=services.settings.feedback_rate_limit, keys=(address,), what="this address"
    )
    if body.rating is not None:
        rating = await rate_message(
            db=services.db,
            caller=caller,
            rating=body.rating,
            message_id=body.message_id,
            streaming_session_id=body.streaming_session_id,
            comment=body.comment,
        )
        return FastJSONResponse(
            {
                "kind": "rating",
                "session_id": rating.session_id,
                "message_id": rating.message_id,
                "rating": rating.rating,
                "csat": None,
                "comment": rating.comment,
                "replaced": rating.replaced,
                "updated_at": rating.updated_at,
            }
        )
    assert body.session_id is not None and body.csat is not None  # FeedbackRequest's validator
    saved = await rate_conversation(
        db=services.db, caller=caller, session_id=body.session_id, csat=body.csat, comment=body.comment
    )
    return FastJSONResponse(
        {
            "kind": "csat",
            "session_id": saved.session_id,
            "message_id": None,
            "rating": None,
            "csat": saved.csat,
            "comment": saved.comment,
            "replaced": saved.replaced,
            "updated_at": saved.updated_at,
        }
    )
