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

from sqlalchemy import Select, Table, func, literal, literal_column, or_, select, true
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from samtale.conversation.search.query import ParsedQuery, parse
from samtale.conversation.search.snippets import TS_HEADLINE_OPTIONS, highlight
from samtale.conversation.search.sql import (
    MESSAGE_FTS,
    TITLE_FTS,
    bm25,
    fts_match,
    fts_matches,
    plan_each_search,
    search_config,
    tsquery,
)
from samtale.conversation.shoppers import shopper_id
from samtale.storage.db import Database
from samtale.storage.fulltext import (
    MESSAGE_DOCS,
    TITLE_DOCS,
    analyzer,
    chatbot_scope,
    shopper_scope,
)
from samtale.storage.models import ConversationSession, Message

CANDIDATES = 1000
"""How many of the newest matching messages are ranked (see the module docstring)."""
MAX_LIMIT = 50
"""The most hits one search returns."""
MIN_SUBSTRING_CHARS = 3
"""A title also matches when it contains the query as typed, if the query is at least this long."""

Role = Literal["user", "assistant"]


def _table(model: Any) -> Table:
    found = model.__table__
    assert isinstance(found, Table)
    return found


MESSAGES = _table(Message)
SESSIONS = _table(ConversationSession)


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


def _time_and_role(*, since: datetime | None, until: datetime | None, role: Role | None) -> list[ColumnElement[bool]]:
    m = MESSAGES
    filters: list[ColumnElement[bool]] = []
    if since is not None:
        filters.append(m.c.created_at >= since)
    if until is not None:
        filters.append(m.c.created_at < until)
    if role is not None:
        filters.append(m.c.role == role)
    return filters


def _postgresql_candidates(
    *, chatbot_id: str, query: ColumnElement[Any], user_id: str | None, filters: list[ColumnElement[bool]]
) -> Select[Any]:
    """The newest :data:`CANDIDATES` matches, their ``ts_rank`` and owner; no message text (so a
    common word is answered from ``ix_messages_search_recent`` alone).

    The conversation is looked up per match (a ``LATERAL`` primary-key read, only for rows that
    matched) to leave soft-deleted ones out; a shopper's search starts from their conversations.
    """
    m, s = MESSAGES, SESSIONS
    vector = literal_column("messages.search_vector", TSVECTOR)
    owner = (
        select(s.c.user_id)
        .where(s.c.id == m.c.session_id, s.c.chatbot_id == chatbot_id, s.c.deleted_at.is_(None))
        .limit(1)
        .lateral("owner")
    )
    statement = (
        select(
            m.c.id.label("message_id"),
            m.c.session_id,
            m.c.role,
            m.c.created_at,
            owner.c.user_id,
            func.ts_rank(vector, query).label("score"),
        )
        .select_from(m.join(owner, true()))
        .where(m.c.chatbot_id == chatbot_id, vector.op("@@")(query), *filters)
    )
    if user_id is not None:
        own = select(s.c.id).where(s.c.chatbot_id == chatbot_id, s.c.user_id == user_id, s.c.deleted_at.is_(None))
        statement = statement.where(m.c.session_id.in_(own))
    return statement.order_by(m.c.created_at.desc()).limit(CANDIDATES)


def _sqlite_candidates(
    *, chatbot_id: str, parsed: ParsedQuery, user_id: str | None, filters: list[ColumnElement[bool]]
) -> Select[Any]:
    """The newest :data:`CANDIDATES` matches with their text and ``bm25`` (lower is better)."""
    m, s = MESSAGES, SESSIONS
    # The narrowest scope only (see samtale.storage.fulltext): the shopper's token implies the chatbot.
    if user_id is not None:
        scope = shopper_scope(shopper_id(chatbot_id=chatbot_id, user_id=user_id))
        filters = [*filters, s.c.user_id == user_id]
    else:
        scope = chatbot_scope(chatbot_id)
    match = fts_match([scope], "body", parsed.fts5("all"))
    return (
        select(
            m.c.id.label("message_id"),
            m.c.session_id,
            m.c.role,
            m.c.created_at,
            s.c.user_id,
            bm25("message_search", 0.0, 1.0).label("score"),
            m.c.content,
        )
        .select_from(
            MESSAGE_FTS.join(MESSAGE_DOCS, MESSAGE_DOCS.c.id == MESSAGE_FTS.c.rowid)
            .join(m, m.c.id == MESSAGE_DOCS.c.message_id)
            .join(s, s.c.id == m.c.session_id)
        )
        .where(
            fts_matches("message_search", match),
            m.c.chatbot_id == chatbot_id,
            s.c.chatbot_id == chatbot_id,
            s.c.deleted_at.is_(None),
            *filters,
        )
        .order_by(MESSAGE_FTS.c.rowid.desc())
        .limit(CANDIDATES)
    )


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
    filters = _time_and_role(since=since, until=until, role=role)
    ranked: Any
    if dialect == "postgresql":
        query = tsquery(language=language, text=parsed.text, mode="all")
        found = _postgresql_candidates(chatbot_id=chatbot_id, query=query, user_id=user_id, filters=filters)
        candidates = found.subquery("candidates")
        c = candidates.c
        shown = MESSAGES.alias("shown")  # the text of the hits returned only
        headline = func.ts_headline(search_config(language), shown.c.content, query, TS_HEADLINE_OPTIONS)
        ranked = (
            select(c.message_id, c.session_id, c.role, c.created_at, c.user_id, c.score, headline)
            .select_from(candidates.join(shown, shown.c.id == c.message_id))
            .order_by(c.score.desc(), c.created_at.desc())
        )
    else:  # SQLite: the text, marked below; bm25 is lower-is-better
        found = _sqlite_candidates(chatbot_id=chatbot_id, parsed=parsed, user_id=user_id, filters=filters)
        c = found.subquery("candidates").c
        ranked = select(c.message_id, c.session_id, c.role, c.created_at, c.user_id, -c.score, c.content)
        ranked = ranked.order_by(c.score, c.created_at.desc())
    await plan_each_search(conn)
    rows = (await conn.execute(ranked.limit(limit))).all()
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
    s = SESSIONS
    raw = parsed.text.strip()
    conditions: list[ColumnElement[bool]] = []
    if len(raw) >= MIN_SUBSTRING_CHARS:
        escaped = raw.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conditions.append(s.c.title.ilike(f"%{escaped}%", escape="\\"))
    score: ColumnElement[Any]
    source: Any = s
    if conn.dialect.name == "postgresql":
        vector = literal_column("conversation_sessions.title_vector", TSVECTOR)
        query = tsquery(language=language, text=parsed.text, mode="all")
        score = func.ts_rank(vector, query) if not parsed.empty else literal(0.0)
        if not parsed.empty:
            conditions.append(vector.op("@@")(query))
        order = score.desc()
    else:
        if not parsed.empty:
            hits = (
                select(TITLE_DOCS.c.session_id, bm25("title_search", 0.0, 1.0).label("rank"))
                .select_from(TITLE_FTS.join(TITLE_DOCS, TITLE_DOCS.c.id == TITLE_FTS.c.rowid))
                .where(
                    fts_matches(
                        "title_search",
                        fts_match(
                            [shopper_scope(shopper_id(chatbot_id=chatbot_id, user_id=user_id))],
                            "body",
                            parsed.fts5("all"),
                        ),
                    )
                )
                .subquery("title_hits")
            )
            source = s.outerjoin(hits, hits.c.session_id == s.c.id)
            conditions.append(hits.c.session_id.is_not(None))
            score = func.coalesce(-hits.c.rank, 0.0)
        else:
            score = literal(0.0)
        order = score.desc()
    if not conditions:
        return []
    rows = (
        await conn.execute(
            select(s.c.id, s.c.title, s.c.created_at, s.c.user_id, score)
            .select_from(source)
            .where(
                s.c.chatbot_id == chatbot_id,
                s.c.user_id == user_id,
                s.c.deleted_at.is_(None),
                s.c.title.is_not(None),
                or_(*conditions),
            )
            .order_by(order, s.c.last_message_at.desc())
            .limit(limit)
        )
    ).all()
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
