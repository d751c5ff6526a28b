"""Shoppers' feedback (issue 15): thumbs up or down on an answer, and CSAT for a whole conversation.

* :func:`rate_message`: one rating per assistant message (``up`` | ``down``, optional comment);
  a second rating replaces the first. The message is named by its id or by its turn's
  ``streaming_session_id``. The turn's ``conversation_analytics`` score becomes the feedback's
  (5 for up, 1 for down, ``score_source = feedback``; the rubric in ``samtale.analytics.score``).
* :func:`rate_conversation`: one CSAT (1–5, optional comment) per conversation, replaced likewise.

Both need what opens the conversation (its session token or the shopper's verified identity,
:func:`~samtale.conversation.library.authorised_row`): a rating of another shopper's answer is
404, the same as for one that does not exist. Comments are the shopper's own words: stored as
given, shown escaped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from samtale.conversation.access import ConversationCaller
from samtale.conversation.edits import MessageNotFoundError
from samtale.conversation.library import authorised_row, require_credentials
from samtale.errors import InputError
from samtale.storage.base import utcnow
from samtale.storage.db import Database
from samtale.storage.models import ConversationAnalytics, ConversationCsat, Message, MessageFeedback

Rating = Literal["up", "down"]
FEEDBACK_SCORE = {"up": 5, "down": 1}
"""A rated turn's score (rubric of ``samtale.analytics.score``: thumbs-up 5, thumbs-down 1)."""


class FeedbackTargetError(InputError):
    """Only an assistant's answer can be rated (HTTP 422)."""

    code = "feedback_target_invalid"


@dataclass(frozen=True, slots=True)
class SavedRating:
    """A stored rating: the message, its conversation, the rating, and whether it replaced one."""

    session_id: str
    message_id: str
    rating: Rating
    comment: str | None
    replaced: bool
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class SavedCsat:
    """A stored CSAT: the conversation, the 1–5 value, and whether it replaced one."""

    session_id: str
    csat: int
    comment: str | None
    replaced: bool
    updated_at: datetime


async def _message(
    conn: AsyncConnection, *, message_id: str | None, streaming_session_id: str | None
) -> tuple[str, str, str]:
    """``(message id, session id, role)`` of the named message.

    Raises:
        MessageNotFoundError: no such message.
    """
    query = select(Message.id, Message.session_id, Message.role)
    if message_id is not None:
        query = query.where(Message.id == message_id)
    else:
        query = query.where(Message.streaming_session_id == streaming_session_id, Message.role == "assistant")
    row = (await conn.execute(query)).first()
    if row is None:
        raise MessageNotFoundError(f"unknown message {message_id or streaming_session_id}")
    return row.id, row.session_id, row.role


async def rate_message(
    *,
    db: Database,
    caller: ConversationCaller,
    rating: Rating,
    message_id: str | None = None,
    streaming_session_id: str | None = None,
    comment: str | None = None,
) -> SavedRating:
    """Store the shopper's rating of an answer (replacing an earlier one) and score its turn by it.

    Raises:
        InputError: neither or both of ``message_id`` and ``streaming_session_id`` (422).
        SessionTokenRequiredError: no credentials (401).
        MessageNotFoundError: no such message (404), or ConversationNotFoundError when the caller
            may not open its conversation (404).
        FeedbackTargetError: the message is the shopper's own (422).
    """
    if (message_id is None) == (streaming_session_id is None):
        raise InputError("name the answer by message_id or by streaming_session_id (one of them)")
    require_credentials(caller)  # 401 before anything is looked up
    now = utcnow()
    async with db.engine.begin() as conn:
        found_id, session_id, role = await _message(
            conn, message_id=message_id, streaming_session_id=streaming_session_id
        )
        row = await authorised_row(conn, conversation_id=session_id, caller=caller)
        if role != "assistant":
            raise FeedbackTargetError("only an assistant's answer can be rated")
        values: dict[str, Any] = {"rating": rating, "comment": comment, "updated_at": now}
        replaced = await _upsert_rating(
            conn, chatbot_id=row.chatbot_id, session_id=session_id, message_id=found_id, values=values
        )
        await conn.execute(
            update(ConversationAnalytics)
            .where(ConversationAnalytics.message_id == found_id, ConversationAnalytics.chatbot_id == row.chatbot_id)
            .values(score=FEEDBACK_SCORE[rating], score_source="feedback")
        )
    return SavedRating(
        session_id=session_id, message_id=found_id, rating=rating, comment=comment, replaced=replaced, updated_at=now
    )


async def _upsert_rating(
    conn: AsyncConnection, *, chatbot_id: str, session_id: str, message_id: str, values: dict[str, Any]
) -> bool:
    """Update the message's rating or insert it; True when one was replaced."""
    changed = await conn.execute(
        update(MessageFeedback).where(MessageFeedback.message_id == message_id).values(**values)
    )
    if changed.rowcount:
        return True
    try:
        async with conn.begin_nested():
            await conn.execute(
                insert(MessageFeedback).values(
                    chatbot_id=chatbot_id,
                    session_id=session_id,
                    message_id=message_id,
                    created_at=values["updated_at"],
                    **values,
                )
            )
    except IntegrityError:  # a rating of the same message committed between the two statements
        await conn.execute(update(MessageFeedback).where(MessageFeedback.message_id == message_id).values(**values))
        return True
    return False


async def rate_conversation(
    *, db: Database, caller: ConversationCaller, session_id: str, csat: int, comment: str | None = None
) -> SavedCsat:
    """Store the shopper's CSAT of a conversation (1–5), replacing an earlier one.

    Raises:
        InputError: ``csat`` outside 1–5 (422).
        SessionTokenRequiredError: no credentials (401); ConversationNotFoundError (404).
    """
    if not 1 <= csat <= 5:
        raise InputError("csat must be 1 to 5", details={"field": "csat"})
    now = utcnow()
    values: dict[str, Any] = {"csat": csat, "comment": comment, "updated_at": now}
    async with db.engine.begin() as conn:
        row = await authorised_row(conn, conversation_id=session_id, caller=caller)
        changed = await conn.execute(
            update(ConversationCsat).where(ConversationCsat.session_id == session_id).values(**values)
        )
        replaced = bool(changed.rowcount)
        if not replaced:
            try:
                async with conn.begin_nested():
                    await conn.execute(
                        insert(ConversationCsat).values(
                            session_id=session_id, chatbot_id=row.chatbot_id, created_at=now, **values
                        )
                    )
            except IntegrityError:
                await conn.execute(
                    update(ConversationCsat).where(ConversationCsat.session_id == session_id).values(**values)
                )
                replaced = True
    return SavedCsat(session_id=session_id, csat=csat, comment=comment, replaced=replaced, updated_at=now)


@dataclass(frozen=True, slots=True)
class ConversationFeedback:
    """For staff: each rated message's rating, each analysed answer's topic and score, the CSAT."""

    ratings: dict[str, dict[str, Any]]
    analytics: dict[str, dict[str, Any]]
    csat: dict[str, Any] | None


async def conversation_feedback(*, db: Database, chatbot_id: str, conversation_id: str) -> ConversationFeedback:
    """The feedback and analytics of one of the chatbot's conversations, by assistant message id."""
    async with db.engine.connect() as conn:
        ratings = {
            row.message_id: {"rating": row.rating, "comment": row.comment, "updated_at": row.updated_at}
            for row in await conn.execute(
                select(MessageFeedback).where(
                    MessageFeedback.session_id == conversation_id, MessageFeedback.chatbot_id == chatbot_id
                )
            )
        }
        analytics = {
            row.message_id: {
                "topic": row.topic,
                "topic_confidence": row.topic_confidence,
                "topic_source": row.topic_source,
                "score": row.score,
                "score_source": row.score_source,
            }
            for row in await conn.execute(
                select(ConversationAnalytics).where(
                    ConversationAnalytics.session_id == conversation_id,
                    ConversationAnalytics.chatbot_id == chatbot_id,
                    ConversationAnalytics.message_id.is_not(None),
                )
            )
        }
        csat_row = (
            await conn.execute(
                select(ConversationCsat).where(
                    ConversationCsat.session_id == conversation_id, ConversationCsat.chatbot_id == chatbot_id
                )
            )
        ).first()
    csat = None
    if csat_row is not None:
        csat = {"csat": csat_row.csat, "comment": csat_row.comment, "updated_at": csat_row.updated_at}
    return ConversationFeedback(ratings=ratings, analytics=analytics, csat=csat)
