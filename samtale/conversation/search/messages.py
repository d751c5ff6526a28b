"""Searching a chatbot's messages and conversation titles: ranked hits with marked snippets.

Two entry points: :func:`search_conversations` (a shopper's own conversations: titles, then
messages; the shopper-side route) and :func:`search_messages` (all of a chatbot's messages,
with user, date and role filters; the staff route). Both always filter on ``chatbot_id``,
leave soft-deleted conversations out (``conversation_sessions.deleted_at IS NULL``) and parse
the query with :func:`~samtale.conversation.search.query.parse` first: a query with nothing
searchable left answers ``[]`` without asking the database.

Ranking: the newest :data:`CANDIDATES` matching messages (after every filter) are ranked by
relevance (PostgreSQL ``ts_rank``; SQLite ``bm25()``, whose sign is flipped so that on both a
higher ``score`` is better) and the best ``limit`` returned. Taking the newest matches first
keeps a search over a million messages fast for a common word (PostgreSQL walks
``ix_messages_search_recent`` newest first and stops; SQLite reads FTS5's postings from the
highest rowid down), while a rarer query, with fewer matches than that, is ranked in full
(PostgreSQL: from the GIN index).
PostgreSQL plans each search for its own parameters (``plan_cache_mode = force_custom_plan``),
since a plan for "some word" is wrong for both a rare and a common one.

Scores compare hits within one answer only (not across queries, kinds or databases).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncConnection

from samtale.conversation.search.query import ParsedQuery, parse
from samtale.conversation.search.snippets import highlight
from samtale.conversation.search.sql import fts_match, plan_each_search
from samtale.conversation.search.statements import CANDIDATES, message_statement, title_statement
from samtale.conversation.shoppers import shopper_id
from samtale.storage.db import Database
from samtale.storage.fulltext import analyzer, chatbot_scope, shopper_scope

__all__ = ["CANDIDATES", "MAX_LIMIT", "MessageHit", "search_conversations", "search_messages"]

MAX_LIMIT = 50
"""The most hits one search returns."""
MIN_SUBSTRING_CHARS = 3
"""A title also matches when it contains the query as typed, if the query is at least this long."""

Role = Literal["user", "assistant"]


@dataclass(frozen=True, slots=True)
class MessageHit:
    """One search result.

    ``kind`` is ``message`` (a stored message matched; ``message_id`` and ``role`` are set) or
    ``title`` (the conversation's title matched; both are None). ``snippet`` marks the matched
    words with ``<mark>`` … ``</mark>`` (:mod:`~samtale.conversation.search.snippets`); ``score``
    is the relevance (higher is better, within one answer); ``created_at`` is the message's time,
    or the conversation's start for a title.
    """

    kind: Literal["message", "title"]
    conversation_id: str
    message_id: str | None
    user_id: str
    role: str | None
    snippet: str
    score: float
    created_at: datetime


def _query_parameter(dialect: str, parsed: ParsedQuery, scope: str) -> str:
    """What ``query`` binds to: PostgreSQL the raw text, SQLite the scoped FTS5 expression."""
    return parsed.text if dialect == "postgresql" else fts_match([scope], "body", parsed.fts5("all"))


async def _message_hits(
    conn: AsyncConnection,
    *,
    chatbot_id: str,
    language: str,
    parsed: ParsedQuery,
    limit: int,
    user_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    role: Role | None = None,
) -> list[MessageHit]:
    dialect = conn.dialect.name
    statement = message_statement(
        dialect,
        language,
        by_user=user_id is not None,
        since=since is not None,
        until=until is not None,
        role=role is not None,
    )
    # The narrowest scope only (samtale.storage.fulltext): the shopper's token implies the chatbot.
    scope = shopper_scope(shopper_id(chatbot_id=chatbot_id, user_id=user_id)) if user_id else chatbot_scope(chatbot_id)
    values: dict[str, Any] = {
        "chatbot_id": chatbot_id,
        "query": _query_parameter(dialect, parsed, scope),
        "limit": limit,
    }
    values.update(
        {
            key: value
            for key, value in (("user_id", user_id), ("since", since), ("until", until), ("role", role))
            if value
        }
    )
    await plan_each_search(conn)
    rows = (await conn.execute(statement, values)).all()
    words = analyzer(language)
    return [
        MessageHit(
            kind="message",
            conversation_id=session_id,
            message_id=message_id,
            user_id=owner,
            role=message_role,
            snippet=shown if dialect == "postgresql" else highlight(shown, terms=parsed.terms, analyzer=words),
            score=round(float(score), 6),
            created_at=created_at,
        )
        for message_id, session_id, message_role, created_at, owner, score, shown in rows
    ]


async def _title_hits(
    conn: AsyncConnection, *, chatbot_id: str, language: str, user_id: str, parsed: ParsedQuery, limit: int
) -> list[MessageHit]:
    """A shopper's conversations whose title matches the query (full text) or contains it as typed."""
    raw = parsed.text.strip()
    by_substring = len(raw) >= MIN_SUBSTRING_CHARS
    if parsed.empty and not by_substring:
        return []
    dialect = conn.dialect.name
    statement = title_statement(dialect, language, by_terms=not parsed.empty, by_substring=by_substring)
    values: dict[str, Any] = {"chatbot_id": chatbot_id, "user_id": user_id, "limit": limit}
    if not parsed.empty:
        values["query"] = _query_parameter(
            dialect, parsed, shopper_scope(shopper_id(chatbot_id=chatbot_id, user_id=user_id))
        )
    if by_substring:
        values["pattern"] = "%" + raw.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    rows = (await conn.execute(statement, values)).all()
    words = analyzer(language)
    return [
        MessageHit(
            kind="title",
            conversation_id=session_id,
            message_id=None,
            user_id=owner,
            role=None,
            snippet=highlight(title, terms=parsed.terms, analyzer=words, substring=raw),
            score=round(float(value or 0.0), 6),
            created_at=created_at,
        )
        for session_id, title, created_at, owner, value in rows
    ]


async def search_conversations(
    *, db: Database, chatbot_id: str, language: str, user_id: str, query: str, limit: int = 20
) -> list[MessageHit]:
    """Search one shopper's conversations of one chatbot: matching titles first, then matching messages.

    Args:
        db: the database.
        chatbot_id: the chatbot (every row read is of this chatbot).
        language: the chatbot's language (``en`` | ``da``), which stems the query.
        user_id: the shopper (the widget's user id); only their conversations are searched.
        query: the shopper's text (websearch syntax, :mod:`~samtale.conversation.search.query`).
        limit: the most hits (1 to :data:`MAX_LIMIT`).

    Returns:
        Up to ``limit`` hits: conversations whose title matches (``kind="title"``), then messages
        by relevance. Soft-deleted conversations are never included.
    """
    parsed = parse(query, analyzer=analyzer(language))
    limit = max(1, min(limit, MAX_LIMIT))
    async with db.engine.connect() as conn:
        titles = await _title_hits(
            conn, chatbot_id=chatbot_id, language=language, user_id=user_id, parsed=parsed, limit=limit
        )
        if parsed.empty or len(titles) >= limit:
            return titles
        messages = await _message_hits(
            conn, chatbot_id=chatbot_id, language=language, parsed=parsed, limit=limit - len(titles), user_id=user_id
        )
    return titles + messages


async def search_messages(
    *,
    db: Database,
    chatbot_id: str,
    language: str,
    query: str,
    user_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    role: Role | None = None,
    limit: int = 20,
) -> list[MessageHit]:
    """Search all of a chatbot's messages (staff): ranked hits with snippets.

    Args:
        db: the database.
        chatbot_id: the chatbot (every row read is of this chatbot).
        language: the chatbot's language (``en`` | ``da``).
        query: the search text (websearch syntax).
        user_id: only this shopper's conversations.
        since, until: only messages created at or after ``since`` and before ``until`` (aware datetimes).
        role: only ``user`` or only ``assistant`` messages.
        limit: the most hits (1 to :data:`MAX_LIMIT`).

    Returns:
        Message hits (``kind="message"``) by relevance among the newest :data:`CANDIDATES` matches.
    """
    parsed = parse(query, analyzer=analyzer(language))
    if parsed.empty:
        return []
    async with db.engine.connect() as conn:
        return await _message_hits(
            conn,
            chatbot_id=chatbot_id,
            language=language,
            parsed=parsed,
            limit=max(1, min(limit, MAX_LIMIT)),
            user_id=user_id,
            since=since,
            until=until,
            role=role,
        )
