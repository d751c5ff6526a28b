"""SQL pieces shared by the searches: PostgreSQL ``tsquery`` from untrusted text, FTS5 ``MATCH`` strings.

Nothing here puts shopper text into SQL: PostgreSQL gets it as a bound parameter of
``websearch_to_tsquery``/``plainto_tsquery``; SQLite gets a ``MATCH`` string (also a bound
parameter) built only from quoted stems (:meth:`ParsedQuery.fts5
<samtale.conversation.search.query.ParsedQuery.fts5>`) and scope tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Integer, Text, cast, column, func, literal, literal_column, table, text
from sqlalchemy.dialects.postgresql import REGCONFIG, TSQUERY
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from samtale.conversation.search.query import MatchMode
from samtale.storage.fulltext import text_search_config

MESSAGE_FTS = table("message_search", column("rowid", Integer))
"""SQLite's FTS5 table of messages (rowid = ``message_search_docs.id``)."""
TITLE_FTS = table("title_search", column("rowid", Integer))
"""SQLite's FTS5 table of conversation titles (rowid = ``title_search_docs.id``)."""
MEMORY_FTS = table("memory_search", column("rowid", Integer))
"""SQLite's FTS5 table of memories (rowid = ``memory_search_docs.id``)."""


def fts_match(scopes: Sequence[str], columns: str, expression: str) -> str:
    """An FTS5 expression: every scope token in column ``scope``, and ``expression`` in ``columns``.

    ``columns`` is one column (``body``) or a set (``{question answer tags}``); ``expression``
    comes from :meth:`~samtale.conversation.search.query.ParsedQuery.fts5`.
    """
    wanted = " AND ".join(f'"{token}"' for token in scopes)
    return f"scope : ({wanted}) AND {columns} : ({expression})"


def fts_matches(fts_table: str, expression: str) -> ColumnElement[bool]:
    """``<fts_table> MATCH :expression`` (the expression a bound parameter)."""
    return literal_column(fts_table).op("MATCH")(expression)


def bm25(fts_table: str, *weights: float) -> ColumnElement[Any]:
    """FTS5's ``bm25(<fts_table>, weights…)`` (one weight per column; lower is better)."""
    return func.bm25(literal_column(fts_table), *weights)


def search_config(language: str) -> ColumnElement[Any]:
    """The PostgreSQL text search configuration of a chatbot language, as a ``regconfig`` parameter."""
    return cast(literal(text_search_config(language)), REGCONFIG)


def tsquery(*, language: str, text: str, mode: MatchMode) -> ColumnElement[Any]:
    """The PostgreSQL ``tsquery`` of untrusted ``text`` in the chatbot's language (a bound parameter, never SQL).

    ``all``: ``websearch_to_tsquery``; ``any``: ``plainto_tsquery`` with its ``&`` turned into
    ``|`` (its lexemes stay quoted, so the cast back to ``tsquery`` cannot fail).
    """
    config = search_config(language)
    if mode == "all":
        return func.websearch_to_tsquery(config, text)
    return cast(func.replace(cast(func.plainto_tsquery(config, text), Text), " & ", " | "), TSQUERY)


async def plan_each_search(conn: AsyncConnection) -> None:
    """On PostgreSQL, plan the transaction's statements for their own parameters.

    A prepared statement's generic plan cannot know whether a word is rare (GIN bitmap scan) or
    common (walk the newest messages and stop): ``SET LOCAL plan_cache_mode = force_custom_plan``.
    """
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
