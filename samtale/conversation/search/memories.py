"""Searching a shopper's memories, and recalling the ones relevant to a new question.

:func:`search_memories` (the ``/api/memories/search`` route) finds the shopper's memories that
hold every word of the query (websearch syntax); :func:`recall_memories` (a turn with
``memory.enabled``) finds those sharing any word with the shopper's new question, best first,
and tops them up with the shopper's importance-5 memories (seed 003's scale: 5 = always
relevant). A memory's question and tags weigh more than its answer (PostgreSQL weights A and
B; SQLite ``bm25`` column weights 2, 1, 2). Always one chatbot's one shopper: the SQL filters
on ``chatbot_id`` and ``shopper_id``, and on SQLite the FTS5 match is scoped to the shopper.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Integer, Table, bindparam, func, literal_column, select
from sqlalchemy.dialects.postgresql import TSVECTOR

from samtale.conversation.memories import MemoryInput, MemoryView, create_memory
from samtale.conversation.search.query import MatchMode, parse
from samtale.conversation.search.snippets import TS_HEADLINE_OPTIONS, highlight
from samtale.conversation.search.sql import (
    MEMORY_FTS,
    bm25,
    fts_match,
    fts_matches,
    plan_each_search,
    search_config,
    tsquery,
)
from samtale.conversation.shoppers import shopper_id
from samtale.conversation.turn import MemoryRecaller, NewMemory, RecalledMemory
from samtale.storage.db import Database
from samtale.storage.fulltext import MEMORY_DOCS, analyzer, shopper_scope
from samtale.storage.models import Memory

MAX_LIMIT = 50
"""The most memories one search returns."""
ALWAYS_RELEVANT = 5
"""Memories of this importance are recalled into every turn while there is room (seed 003: 1–5)."""
SEPARATOR = " — "
"""Between a memory's question and answer in its snippet."""


def _memories() -> Table:
    found = Memory.__table__
    assert isinstance(found, Table)
    return found


MEMORIES = _memories()


@dataclass(frozen=True, slots=True)
class MemoryHit:
    """A memory found by a search: the memory, its snippet (question — answer, matches marked
    ``<mark>`` … ``</mark>``) and its relevance ``score`` (higher is better, within one answer;
    0 for an importance-5 memory recalled without a matching word)."""

    memory: MemoryView
    snippet: str
    score: float


def _view(row: Any) -> MemoryView:
    return MemoryView(
        id=row.id,
        question=row.question,
        answer=row.answer,
        tags=tuple(row.tags or ()),
        importance=row.importance,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


@lru_cache(maxsize=16)
def _memory_statement(dialect: str, language: str, mode: MatchMode) -> Any:
    """A shopper's memory search, built once per shape (see ``statements``); rows are the memory's
    fields, ``score`` (higher is better) and ``shown`` (PostgreSQL's ``ts_headline``, else NULL)."""
    m = MEMORIES
    own = (m.c.chatbot_id == bindparam("chatbot_id"), m.c.shopper_id == bindparam("shopper_id"))
    fields = (m.c.id, m.c.question, m.c.answer, m.c.tags, m.c.importance, m.c.created_at, m.c.updated_at)
    limit = bindparam("limit", type_=Integer)
    if dialect == "postgresql":
        tsq = tsquery(language=language, text=bindparam("query"), mode=mode)
        vector = literal_column("memories.search_vector", TSVECTOR)
        score = func.ts_rank(vector, tsq)
        shown = func.ts_headline(
            search_config(language), m.c.question + SEPARATOR + m.c.answer, tsq, TS_HEADLINE_OPTIONS
        )
        return (
            select(*fields, score.label("score"), shown.label("shown"))
            .where(vector.op("@@")(tsq), *own)
            .order_by(score.desc(), m.c.importance.desc(), m.c.updated_at.desc())
            .limit(limit)
        )
    rank = bm25("memory_search", 0.0, 2.0, 1.0, 2.0)
    return (
        select(*fields, (-rank).label("score"), literal_column("NULL").label("shown"))
        .select_from(
            MEMORY_FTS.join(MEMORY_DOCS, MEMORY_DOCS.c.id == MEMORY_FTS.c.rowid).join(
                m, m.c.id == MEMORY_DOCS.c.memory_id
            )
        )
        .where(fts_matches("memory_search", bindparam("query")), *own)
        .order_by(rank, m.c.importance.desc(), m.c.updated_at.desc())
        .limit(limit)
    )


async def search_memories(
    *,
    db: Database,
    chatbot_id: str,
    language: str,
    user_id: str,
    query: str,
    limit: int = 10,
    mode: MatchMode = "all",
) -> list[MemoryHit]:
    """The shopper's memories matching ``query``, best first (then importance, then most recent).

    Args:
        chatbot_id, user_id: the shopper (only their memories are read).
        language: the chatbot's language (``en`` | ``da``), which stems the query.
        query: untrusted text (websearch syntax, :mod:`~samtale.conversation.search.query`).
        limit: the most hits (1 to :data:`MAX_LIMIT`).
        mode: ``all`` words must match, or ``any`` (recall).
    """
    words = analyzer(language)
    parsed = parse(query, analyzer=words)
    if parsed.empty:
        return []
    owner = shopper_id(chatbot_id=chatbot_id, user_id=user_id)
    values: dict[str, Any] = {"chatbot_id": chatbot_id, "shopper_id": owner, "limit": max(1, min(limit, MAX_LIMIT))}
    async with db.engine.connect() as conn:
        dialect = conn.dialect.name
        if dialect == "postgresql":
            values["query"] = parsed.text
        else:
            values["query"] = fts_match([shopper_scope(owner)], "{question answer tags}", parsed.fts5(mode))
        await plan_each_search(conn)
        rows = (await conn.execute(_memory_statement(dialect, language, mode), values)).all()
    return [
        MemoryHit(
            memory=_view(row),
            snippet=row.shown
            if row.shown is not None
            else highlight(f"{row.question}{SEPARATOR}{row.answer}", terms=parsed.terms, analyzer=words),
            score=round(float(row.score), 6),
        )
        for row in rows
    ]


async def recall_memories(
    *, db: Database, chatbot_id: str, language: str, user_id: str, question: str, top_k: int
) -> list[MemoryHit]:
    """The shopper's memories most relevant to ``question``, at most ``top_k``, for the prompt.

    Memories sharing words with the question come first, best first; what room is left goes to
    the shopper's importance-5 memories, most recently changed first.
    """
    found = await search_memories(
        db=db, chatbot_id=chatbot_id, language=language, user_id=user_id, query=question, limit=top_k, mode="any"
    )
    if len(found) >= top_k:
        return found
    seen = {hit.memory.id for hit in found}
    m = MEMORIES
    async with db.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(m.c.id, m.c.question, m.c.answer, m.c.tags, m.c.importance, m.c.created_at, m.c.updated_at)
                .where(
                    m.c.chatbot_id == chatbot_id,
                    m.c.shopper_id == shopper_id(chatbot_id=chatbot_id, user_id=user_id),
                    m.c.importance >= ALWAYS_RELEVANT,
                )
                .order_by(m.c.updated_at.desc())
                .limit(top_k + len(seen))
            )
        ).all()
    for row in rows:
        if len(found) >= top_k:
            break
        if row.id not in seen:
            found.append(MemoryHit(memory=_view(row), snippet=f"{row.question}{SEPARATOR}{row.answer}", score=0.0))
    return found


class StoredMemories:
    """The turn's :class:`~samtale.conversation.turn.MemoryRecaller` on ``db``: recall with
    :func:`recall_memories`, remember with :func:`samtale.conversation.memories.create_memory`."""

    def __init__(self, *, db: Database) -> None:
        self.db = db

    async def __call__(
        self, *, chatbot_id: str, language: str, user_id: str, question: str, top_k: int
    ) -> list[RecalledMemory]:
        """:func:`recall_memories` on ``db``, as the turn's :class:`~samtale.conversation.turn.RecalledMemory` list."""
        hits = await recall_memories(
            db=self.db, chatbot_id=chatbot_id, language=language, user_id=user_id, question=question, top_k=top_k
        )
        return [
            RecalledMemory(
                id=hit.memory.id,
                question=hit.memory.question,
                answer=hit.memory.answer,
                importance=hit.memory.importance,
                score=hit.score,
            )
            for hit in hits
        ]

    async def remember(self, *, chatbot_id: str, language: str, user_id: str, memory: NewMemory) -> RecalledMemory:
        """Store ``memory`` as the shopper's (see :func:`~samtale.conversation.memories.create_memory`).

        Raises:
            InputError, MemoryLimitError: see :func:`~samtale.conversation.memories.create_memory`.
        """
        stored = await create_memory(
            db=self.db,
            chatbot_id=chatbot_id,
            language=language,
            user_id=user_id,
            memory=MemoryInput(
                question=memory.question, answer=memory.answer, tags=memory.tags, importance=memory.importance
            ),
        )
        return RecalledMemory(
            id=stored.id, question=stored.question, answer=stored.answer, importance=stored.importance, score=1.0
        )


def memory_recaller(*, db: Database) -> MemoryRecaller:
    """The turn's :class:`~samtale.conversation.turn.MemoryRecaller` on ``db`` (:class:`StoredMemories`)."""
    return StoredMemories(db=db)
