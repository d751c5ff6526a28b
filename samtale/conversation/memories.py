"""A shopper's memories (seed 003): create, list, change and delete, always the shopper's own.

A memory is a ``question`` and its ``answer`` ("Which wines do I like?" / "Dry whites, no
oak"), ``tags`` and an ``importance`` from 1 (trivia) to 5 (always relevant; seed 003: 1–5,
default 3 here). It belongs to one chatbot's shopper (``users`` row, created here when the
shopper has none yet) and is reached only through that shopper's verified identity: another
shopper's or another chatbot's memory is :class:`MemoryNotFoundError`, the same as one that does
not exist. Every write re-indexes the memory for full-text search in its transaction
(``samtale.conversation.search.indexing``). Searching and recalling memories is
``samtale.conversation.search.memories``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, func, literal, literal_column, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from samtale.conversation.search.indexing import index_memories, memory_document
from samtale.conversation.shoppers import ensure_shopper, shopper_id
from samtale.errors import ConflictError, InputError, NotFoundError
from samtale.storage.base import utcnow
from samtale.storage.db import Database
from samtale.storage.models import Memory

MAX_MEMORIES_PER_SHOPPER = 500
"""The most memories one shopper keeps per chatbot (a create beyond it is refused, 409)."""
MAX_TAGS = 20
"""The most tags of one memory."""
MAX_TAG_CHARS = 40
"""The longest tag, in characters."""
DEFAULT_IMPORTANCE = 3
"""The importance of a memory created without one (the middle of seed 003's 1–5)."""


class MemoryNotFoundError(NotFoundError):
    """No memory with this id belongs to this chatbot's shopper (HTTP 404)."""

    code = "memory_not_found"


class MemoryLimitError(ConflictError):
    """The shopper already keeps :data:`MAX_MEMORIES_PER_SHOPPER` memories (HTTP 409)."""

    code = "memory_limit_reached"


@dataclass(frozen=True, slots=True)
class MemoryView:
    """A stored memory as the API shows it (timestamps aware UTC)."""

    id: str
    question: str
    answer: str
    tags: tuple[str, ...]
    importance: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Memory) -> MemoryView:
        """The view of a stored row."""
        return cls(
            id=row.id,
            question=row.question,
            answer=row.answer,
            tags=tuple(row.tags or ()),
            importance=row.importance,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@dataclass(frozen=True, slots=True)
class MemoryInput:
    """A new memory: question and answer (non-empty), tags, importance 1–5."""

    question: str
    answer: str
    tags: tuple[str, ...] = ()
    importance: int = DEFAULT_IMPORTANCE


@dataclass(frozen=True, slots=True)
class MemoryChanges:
    """A change to a memory; each field left None stays as it is."""

    question: str | None = None
    answer: str | None = None
    tags: tuple[str, ...] | None = None
    importance: int | None = None


def normalise_tags(tags: Sequence[str]) -> tuple[str, ...]:
    """Tags trimmed, lower-cased and de-duplicated in order; empty ones dropped.

    Raises:
        InputError: more than :data:`MAX_TAGS` tags, or one longer than :data:`MAX_TAG_CHARS`.
    """
    cleaned: list[str] = []
    for tag in tags:
        value = " ".join(tag.split()).lower()
        if len(value) > MAX_TAG_CHARS:
            raise InputError(f"a tag is at most {MAX_TAG_CHARS} characters", details={"field": "tags"})
        if value and value not in cleaned:
            cleaned.append(value)
    if len(cleaned) > MAX_TAGS:
        raise InputError(f"a memory has at most {MAX_TAGS} tags", details={"field": "tags"})
    return tuple(cleaned)


def _check_importance(importance: int) -> int:
    if not 1 <= importance <= 5:
        raise InputError("importance is 1 to 5 (seed 003)", details={"field": "importance"})
    return importance


def _text(value: str, field: str) -> str:
    cleaned = value.strip()
    if not cleaned:
        raise InputError(f"{field} must not be empty", details={"field": field})
    return cleaned


def has_tag(tag: str, *, dialect: str) -> ColumnElement[bool]:
    """``memories.tags`` holds ``tag`` (normalised): ``tags @> '["tag"]'`` on PostgreSQL (its GIN
    index), ``json_each`` on SQLite (a shopper's memories are few)."""
    if dialect == "postgresql":
        return literal_column("memories.tags").op("@>")(literal([tag], type_=JSONB))
    each = func.json_each(Memory.tags).table_valued("value")
    return exists(select(1).select_from(each).where(each.c.value == tag))


async def list_memories(
    *, db: Database, chatbot_id: str, user_id: str, tag: str | None = None, limit: int = 100
) -> list[MemoryView]:
    """A shopper's memories, most important first, then the most recently changed.

    Args:
        chatbot_id, user_id: the shopper.
        tag: only memories with this tag (compared normalised, :func:`normalise_tags`).
        limit: the most returned (1 to :data:`MAX_MEMORIES_PER_SHOPPER`).
    """
    owner = shopper_id(chatbot_id=chatbot_id, user_id=user_id)
    query = select(Memory).where(Memory.chatbot_id == chatbot_id, Memory.shopper_id == owner)
    async with db.session() as session:
        if tag is not None:
            wanted = normalise_tags([tag])
            if not wanted:
                return []
            query = query.where(has_tag(wanted[0], dialect=db.engine.dialect.name))
        rows = await session.scalars(
            query.order_by(Memory.importance.desc(), Memory.updated_at.desc(), Memory.id).limit(
                max(1, min(limit, MAX_MEMORIES_PER_SHOPPER))
            )
        )
        return [MemoryView.of(row) for row in rows]


async def create_memory(
    *, db: Database, chatbot_id: str, language: str, user_id: str, memory: MemoryInput
) -> MemoryView:
    """Store a new memory of the shopper and index it.

    Args:
        language: the chatbot's language (``en`` | ``da``): the memory's stemmer.

    Raises:
        InputError: empty question or answer, importance outside 1–5, bad tags.
        MemoryLimitError: the shopper already has :data:`MAX_MEMORIES_PER_SHOPPER` memories.
    """
    now = utcnow()
    row = Memory(
        chatbot_id=chatbot_id,
        question=_text(memory.question, "question"),
        answer=_text(memory.answer, "answer"),
        tags=list(normalise_tags(memory.tags)),
        importance=_check_importance(memory.importance),
        language=language,
        created_at=now,
        updated_at=now,
    )
    async with db.session() as session:
        conn = await session.connection()
        row.shopper_id = await ensure_shopper(conn, chatbot_id=chatbot_id, user_id=user_id, verified_at=now)
        count = await session.scalar(
            select(func.count()).where(Memory.chatbot_id == chatbot_id, Memory.shopper_id == row.shopper_id)
        )
        if (count or 0) >= MAX_MEMORIES_PER_SHOPPER:
            raise MemoryLimitError(f"a shopper keeps at most {MAX_MEMORIES_PER_SHOPPER} memories; delete one first")
        session.add(row)
        await session.flush()
        await index_memories(conn, [memory_document(row)])
        return MemoryView.of(row)


async def _owned(session: AsyncSession, *, chatbot_id: str, user_id: str, memory_id: str) -> Memory:
    row = await session.scalar(
        select(Memory).where(
            Memory.id == memory_id,
            Memory.chatbot_id == chatbot_id,
            Memory.shopper_id == shopper_id(chatbot_id=chatbot_id, user_id=user_id),
        )
    )
    if row is None:
        raise MemoryNotFoundError(f"unknown memory {memory_id}")
    return row


async def update_memory(
    *, db: Database, chatbot_id: str, language: str, user_id: str, memory_id: str, changes: MemoryChanges
) -> MemoryView:
    """Change a memory of the shopper (the fields given) and re-index it.

    Raises:
        MemoryNotFoundError: no such memory of this shopper (another's included).
        InputError: an empty question or answer, importance outside 1–5, bad tags.
    """
    async with db.session() as session:
        row = await _owned(session, chatbot_id=chatbot_id, user_id=user_id, memory_id=memory_id)
        if changes.question is not None:
            row.question = _text(changes.question, "question")
        if changes.answer is not None:
            row.answer = _text(changes.answer, "answer")
        if changes.tags is not None:
            row.tags = list(normalise_tags(changes.tags))
        if changes.importance is not None:
            row.importance = _check_importance(changes.importance)
        row.language = language
        row.updated_at = utcnow()
        await session.flush()
        await index_memories(await session.connection(), [memory_document(row)])
        return MemoryView.of(row)


async def delete_memory(*, db: Database, chatbot_id: str, user_id: str, memory_id: str) -> None:
    """Delete a memory of the shopper (its index entry goes with it).

    Raises:
        MemoryNotFoundError: no such memory of this shopper (another's included).
    """
    async with db.session() as session:
        row = await _owned(session, chatbot_id=chatbot_id, user_id=user_id, memory_id=memory_id)
        await session.delete(row)
