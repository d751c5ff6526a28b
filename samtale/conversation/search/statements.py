"""The statements of message and title search, built once per shape and bound per call.

Building a statement of this size with SQLAlchemy Core costs more Python time than PostgreSQL
takes to run it for a rare word (~2 ms against ~1 ms), so each shape (database, language, which
filters are present) is built once (:func:`functools.lru_cache`) with bound parameters, and a
search only binds its values. Parameters: ``chatbot_id``, ``query`` (PostgreSQL: the raw text for
``websearch_to_tsquery``; SQLite: the FTS5 ``MATCH`` string), ``user_id``, ``since``, ``until``,
``role``, ``pattern`` (a title's ``ILIKE``), ``limit``.

Message search: the newest :data:`CANDIDATES` matches are ranked and the best ``limit`` returned.
PostgreSQL selects the candidates from ``messages`` alone (no text, no join, so a common word is
answered from ``ix_messages_search_recent``), leaves soft-deleted conversations out with
``session_id NOT IN`` the chatbot's deleted ones (hashed once from
``ix_conversation_sessions_deleted``), and reads the text and owner of the returned hits only.
SQLite walks FTS5's postings from the highest rowid down, scoped to the shopper or the chatbot.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import Integer, Select, Table, bindparam, func, literal, literal_column, or_, select
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.sql.elements import ColumnElement

from samtale.conversation.search.snippets import TS_HEADLINE_OPTIONS
from samtale.conversation.search.sql import MESSAGE_FTS, TITLE_FTS, bm25, fts_matches, search_config, tsquery
from samtale.storage.fulltext import MESSAGE_DOCS, TITLE_DOCS
from samtale.storage.models import ConversationSession, Message

CANDIDATES = 1000
"""How many of the newest matching messages are ranked (``samtale.conversation.search.messages``)."""


def _table(model: Any) -> Table:
    found = model.__table__
    assert isinstance(found, Table)
    return found


MESSAGES = _table(Message)
SESSIONS = _table(ConversationSession)


def _filters(*, since: bool, until: bool, role: bool) -> list[ColumnElement[bool]]:
    m = MESSAGES
    found: list[ColumnElement[bool]] = []
    if since:
        found.append(m.c.created_at >= bindparam("since", type_=m.c.created_at.type))
    if until:
        found.append(m.c.created_at < bindparam("until", type_=m.c.created_at.type))
    if role:
        found.append(m.c.role == bindparam("role"))
    return found


@lru_cache(maxsize=128)
def message_statement(dialect: str, language: str, *, by_user: bool, since: bool, until: bool, role: bool) -> Any:
    """The message search of one shape; rows ``(message_id, session_id, role, created_at, user_id,
    score, shown)`` best first, where ``shown`` is the ``ts_headline`` (PostgreSQL) or the text to
    mark (SQLite) and ``score`` is higher-is-better on both."""
    if dialect == "postgresql":
        return _postgresql_messages(language, by_user=by_user, filters=_filters(since=since, until=until, role=role))
    return _sqlite_messages(by_user=by_user, filters=_filters(since=since, until=until, role=role))


def _postgresql_messages(language: str, *, by_user: bool, filters: list[ColumnElement[bool]]) -> Select[Any]:
    m, s = MESSAGES, SESSIONS
    chatbot: Any = bindparam("chatbot_id")
    query = tsquery(language=language, text=bindparam("query"), mode="all")
    vector = literal_column("messages.search_vector", TSVECTOR)
    candidates = select(
        m.c.id.label("message_id"), m.c.session_id, m.c.role, m.c.created_at, func.ts_rank(vector, query).label("score")
    ).where(m.c.chatbot_id == chatbot, vector.op("@@")(query), *filters)
    if by_user:
        own = select(s.c.id).where(s.c.chatbot_id == chatbot, s.c.user_id == bindparam("user_id"))
        candidates = candidates.where(m.c.session_id.in_(own.where(s.c.deleted_at.is_(None))))
    else:
        deleted = select(s.c.id).where(s.c.chatbot_id == chatbot, s.c.deleted_at.is_not(None))
        candidates = candidates.where(m.c.session_id.not_in(deleted))
    c = candidates.order_by(m.c.created_at.desc()).limit(CANDIDATES).subquery("candidates").c
    best = (
        select(c.message_id, c.session_id, c.role, c.created_at, c.score)
        .order_by(c.score.desc(), c.created_at.desc())
        .limit(bindparam("limit", type_=Integer))
        .subquery("best")
    )
    b = best.c
    shown = MESSAGES.alias("shown")  # the text and owner of the hits returned only
    headline = func.ts_headline(search_config(language), shown.c.content, query, TS_HEADLINE_OPTIONS)
    return (
        select(b.message_id, b.session_id, b.role, b.created_at, s.c.user_id, b.score, headline)
        .select_from(
            best.join(shown, shown.c.id == b.message_id).join(s, (s.c.id == b.session_id) & (s.c.chatbot_id == chatbot))
        )
        .order_by(b.score.desc(), b.created_at.desc())
    )


def _sqlite_messages(*, by_user: bool, filters: list[ColumnElement[bool]]) -> Select[Any]:
    m, s = MESSAGES, SESSIONS
    chatbot: Any = bindparam("chatbot_id")
    if by_user:
        filters = [*filters, s.c.user_id == bindparam("user_id")]
    c = (
        select(
            m.c.id.label("message_id"),
            m.c.session_id,
            m.c.role,
            m.c.created_at,
            s.c.user_id,
            bm25("message_search", 0.0, 1.0).label("rank"),
            m.c.content,
        )
        .select_from(
            MESSAGE_FTS.join(MESSAGE_DOCS, MESSAGE_DOCS.c.id == MESSAGE_FTS.c.rowid)
            .join(m, m.c.id == MESSAGE_DOCS.c.message_id)
            .join(s, s.c.id == m.c.session_id)
        )
        .where(
            fts_matches("message_search", bindparam("query")),
            m.c.chatbot_id == chatbot,
            s.c.chatbot_id == chatbot,
            s.c.deleted_at.is_(None),
            *filters,
        )
        .order_by(MESSAGE_FTS.c.rowid.desc())
        .limit(CANDIDATES)
        .subquery("candidates")
        .c
    )
    return (
        select(c.message_id, c.session_id, c.role, c.created_at, c.user_id, (-c.rank).label("score"), c.content)
        .order_by(c.rank, c.created_at.desc())
        .limit(bindparam("limit", type_=Integer))
    )


@lru_cache(maxsize=32)
def title_statement(dialect: str, language: str, *, by_terms: bool, by_substring: bool) -> Any:
    """A shopper's conversations whose title matches (``by_terms``) or contains ``pattern``
    (``by_substring``); rows ``(id, title, created_at, user_id, score)``, best first."""
    s = SESSIONS
    conditions: list[ColumnElement[bool]] = []
    if by_substring:
        conditions.append(s.c.title.ilike(bindparam("pattern"), escape="\\"))
    score: ColumnElement[Any] = literal(0.0)
    source: Any = s
    if by_terms and dialect == "postgresql":
        vector = literal_column("conversation_sessions.title_vector", TSVECTOR)
        query = tsquery(language=language, text=bindparam("query"), mode="all")
        score = func.ts_rank(vector, query)
        conditions.append(vector.op("@@")(query))
    elif by_terms:
        hits = (
            select(TITLE_DOCS.c.session_id, bm25("title_search", 0.0, 1.0).label("rank"))
            .select_from(TITLE_FTS.join(TITLE_DOCS, TITLE_DOCS.c.id == TITLE_FTS.c.rowid))
            .where(fts_matches("title_search", bindparam("query")))
            .subquery("title_hits")
        )
        source = s.outerjoin(hits, hits.c.session_id == s.c.id)
        conditions.append(hits.c.session_id.is_not(None))
        score = func.coalesce(-hits.c.rank, 0.0)
    return (
        select(s.c.id, s.c.title, s.c.created_at, s.c.user_id, score.label("score"))
        .select_from(source)
        .where(
            s.c.chatbot_id == bindparam("chatbot_id"),
            s.c.user_id == bindparam("user_id"),
            s.c.deleted_at.is_(None),
            s.c.title.is_not(None),
            or_(*conditions),
        )
        .order_by(score.desc(), s.c.last_message_at.desc())
        .limit(bindparam("limit", type_=Integer))
    )
