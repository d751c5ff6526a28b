"""Analytics filters of the staff conversation list: from a figure to its conversations.

``topic``, ``score_min``/``score_max`` (1–5) and ``feedback`` (``up`` | ``down``) each keep the
conversations with at least one turn that matches (``conversation_analytics``,
``message_feedback``): the conversations behind a topic's count, a low score or a thumbs-down.
"""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, exists

from samtale.errors import InputError
from samtale.storage.models import ConversationAnalytics, ConversationSession, MessageFeedback


def analytics_filters(
    *,
    chatbot_id: str,
    topic: str | None = None,
    score_min: int | None = None,
    score_max: int | None = None,
    feedback: Literal["up", "down"] | None = None,
) -> list[ColumnElement[bool]]:
    """``WHERE`` clauses on ``conversation_sessions`` for the given filters (none: an empty list).

    Raises:
        InputError: ``score_min`` above ``score_max`` (422).
    """
    if score_min is not None and score_max is not None and score_min > score_max:
        raise InputError("score_min must not be above score_max", details={"field": "score_min"})
    clauses: list[ColumnElement[bool]] = []
    turn: list[Any] = []
    if topic is not None:
        turn.append(ConversationAnalytics.topic == topic)
    if score_min is not None:
        turn.append(ConversationAnalytics.score >= score_min)
    if score_max is not None:
        turn.append(ConversationAnalytics.score <= score_max)
    if turn:
        clauses.append(
            exists().where(
                ConversationAnalytics.session_id == ConversationSession.id,
                ConversationAnalytics.chatbot_id == chatbot_id,
                and_(*turn),
            )
        )
    if feedback is not None:
        clauses.append(
            exists().where(
                MessageFeedback.session_id == ConversationSession.id,
                MessageFeedback.chatbot_id == chatbot_id,
                MessageFeedback.rating == feedback,
            )
        )
    return clauses
