"""SQL pieces shared by the searches: PostgreSQL ``tsquery`` from untrusted text, FTS5 ``MATCH`` strings.

Nothing here puts shopper text into SQL: PostgreSQL gets it as a bound parameter of
``websearch_to_tsquery``/``plainto_tsquery``; SQLite gets a ``MATCH`` string (also a bound
parameter) built only from quoted stems (:meth:`ParsedQuery.fts5
<samtale.conversation.search.query.ParsedQuery.fts5>`) and scope tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Integer, Text, cast, column, func, literal_column, table, text
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


def fts_matches(fts_table: str, expression: Any) -> ColumnElement[bool]:
    """``<fts_table> MATCH :expression`` (``expression``: a ``bindparam`` or a string, bound either way)."""
    return literal_column(fts_table).op("MATCH")(expression)


def bm25(fts_table: str, *weights: float) -> ColumnElement[Any]:
    """FTS5's ``bm25(<fts_table>, weights…)`` (one weight per column; lower is better)."""
    return func.bm25(literal_column(fts_table), *weights)


def search_config(language: str) -> ColumnElement[Any]:
    """The PostgreSQL text search configuration of a chatbot language as a ``regconfig`` constant.

    A literal in the SQL, not a parameter: ``CAST($1 AS regconfig)`` is only *stable* (a name
    lookup), so ``websearch_to_tsquery`` over it was evaluated again for every row a common word's
    walk filtered, about 1 µs each; ``'english'::regconfig`` is resolved when the statement is
    parsed and the whole ``tsquery`` folded to a constant. The name comes from
    :data:`samtale.storage.fulltext.LANGUAGES` (``english`` or ``danish``), never from input.
    """
    name = text_search_config(language)
    assert name.isalpha(), name
    return literal_column(f"'{name}'::regconfig", REGCONFIG)


def tsquery(*, language: str, text: Any, mode: MatchMode) -> ColumnElement[Any]:
    """The PostgreSQL ``tsquery`` of untrusted ``text`` in the chatbot's language (``text``: a string or
    a ``bindparam``; bound either way, never SQL).

    ``all``: ``websearch_to_tsquery``; ``any``: ``plainto_tsquery`` with its ``&`` turned into
    ``|`` (its lexemes stay quoted, so the cast back to ``tsquery`` cannot fail).
    """
    config = search_config(language)
    if mode == "all":
        return func.websearch_to_tsquery(config, text)
    return cast(func.replace(cast(func.plainto_tsquery(config, text), Text), " & ", " | "), TSQUERY)


async def plan_each_search(conn: AsyncConnection) -> None:
    """On PostgreSQL, plan the transaction's statements for their own parameters, in one process.

    A prepared statement's generic plan cannot know whether a word is rare (GIN bitmap scan) or
    common (walk the newest messages and stop), so ``plan_cache_mode = force_custom_plan``; and a
    search takes milliseconds, less than starting parallel workers, so
    ``max_parallel_workers_per_gather = 0``. Both for this transaction only, in one round trip.
    """
    if conn.dialect.name == "postgresql":
        await conn.execute(
            text(
                "SELECT set_config('plan_cache_mode', 'force_custom_plan', true),"
                " set_config('max_parallel_workers_per_gather', '0', true)"
            )
        )
