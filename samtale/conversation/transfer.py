"""Export and import of a chatbot's stored conversations as JSON Lines (``samtale conversations export|import``).

One line per conversation, its messages inside, in the shape of :class:`ConversationRecord`
(``"format": "samtale.conversation/1"``). Export pages through the chatbot's conversations by id
(keyset, ``batch_size`` per query, one query for the page's messages); import is idempotent by
conversation and message id: a row that exists already is left as it is and counted as skipped,
so an interrupted import is simply run again. Rows are written with one ``executemany`` per table
and batch (``INSERT … ON CONFLICT DO NOTHING``), never a round trip per row; afterwards each
touched conversation's ``message_count`` (its version, ``samtale.conversation.sessions``) is set
from its stored messages in one statement.

Session token hashes travel with their conversation (SHA-256 of a 32-byte random token, not
reversible), so a widget's token keeps working after a move; soft-deleted conversations are not
exported.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import Table, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from samtale.conversation.search.indexing import MessageDocument, TitleDocument, index_messages, index_titles
from samtale.conversation.shoppers import ShopperSeen, shopper_id, upsert_shoppers
from samtale.errors import ConflictError, InputError, NotFoundError
from samtale.storage.db import Database
from samtale.storage.models import Chatbot, ConversationSession, Message

FORMAT: Literal["samtale.conversation/1"] = "samtale.conversation/1"
DEFAULT_BATCH = 500


def _table(model: Any) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


SESSIONS = _table(ConversationSession)
MESSAGES = _table(Message)


class TransferFormatError(InputError):
    """A line of an import file is not a conversation record (its line number is in the message)."""

    code = "invalid_export_line"


class MessageRecord(BaseModel):
    """One message of an exported conversation."""

    id: str = Field(min_length=1, max_length=36)
    sequence: int = Field(ge=1)
    role: Literal["user", "assistant", "system"]
    content: str
    status: str = "ok"
    flow_type: str | None = None
    is_edited: bool = False
    language: Literal["en", "da"] | None = None
    extra: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime


class ConversationRecord(BaseModel):
    """One exported conversation with its messages (one JSON line)."""

    format: Literal["samtale.conversation/1"] = FORMAT
    id: str = Field(min_length=1, max_length=64)
    chatbot_id: str = Field(min_length=1, max_length=64)
    user_id: str = Field(min_length=1, max_length=200)
    title: str | None = Field(default=None, max_length=200)
    status: str = "active"
    is_archived: bool = False
    is_pinned: bool = False
    state: dict[str, Any] = Field(default_factory=dict)
    token_hash: str | None = Field(default=None, max_length=64)
    language: Literal["en", "da"] | None = None
    created_at: datetime
    updated_at: datetime
    last_message_at: datetime | None = None
    messages: list[MessageRecord] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ExportSummary:
    """What an export wrote: conversations and messages (counts)."""

    conversations: int
    messages: int


@dataclass(frozen=True, slots=True)
class ImportSummary:
    """What an import did: rows added, and rows skipped because their id was stored already."""

    conversations_added: int
    conversations_skipped: int
    messages_added: int
    messages_skipped: int


def parse_records(lines: Iterable[str]) -> list[ConversationRecord]:
    """Parse the lines of an export file (blank lines are skipped).

    Raises:
        TransferFormatError: a line is not JSON or not a conversation record; the message names
            the line (1-based) and the first problem, and nothing has been written.
    """
    records: list[ConversationRecord] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            records.append(ConversationRecord.model_validate(orjson.loads(line)))
        except orjson.JSONDecodeError as exc:
            raise TransferFormatError(f"line {number} is not JSON: {exc}") from exc
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise TransferFormatError(f"line {number}: {where}: {first['msg']}") from exc
    return records


async def export_conversations(
    *,
    db: Database,
    chatbot_id: str,
    write: Callable[[str], Awaitable[None]],
    batch_size: int = DEFAULT_BATCH,
    progress: Callable[[int], None] | None = None,
) -> ExportSummary:
    """Write every stored conversation of ``chatbot_id`` as one JSON line each (``"\\n"``-terminated).

    Args:
        write: receives each page's lines joined (one call per page of ``batch_size``
            conversations), e.g. a thread-offloaded file write.
        progress: called with the number of conversations written after each page.

    Raises:
        NotFoundError: no chatbot has that id.
    """
    async with db.engine.connect() as conn:
        if (await conn.execute(select(_table(Chatbot).c.id).where(_table(Chatbot).c.id == chatbot_id))).first() is None:
            raise NotFoundError(f"unknown chatbot '{chatbot_id}'")
    conversations = messages = 0
    after = ""
    while True:
        async with db.engine.connect() as conn:
            page = (
                (
                    await conn.execute(
                        select(SESSIONS)
                        .where(
                            SESSIONS.c.chatbot_id == chatbot_id, SESSIONS.c.deleted_at.is_(None), SESSIONS.c.id > after
                        )
                        .order_by(SESSIONS.c.id)
                        .limit(batch_size)
                    )
                )
                .mappings()
                .all()
            )
            if not page:
                break
            ids = [row["id"] for row in page]
            rows = (
                (
                    await conn.execute(
                        select(MESSAGES)
                        .where(MESSAGES.c.chatbot_id == chatbot_id, MESSAGES.c.session_id.in_(ids))
                        .order_by(MESSAGES.c.session_id, MESSAGES.c.sequence)
                    )
                )
                .mappings()
                .all()
            )
        by_session: dict[str, list[MessageRecord]] = {}
        for row in rows:
            by_session.setdefault(row["session_id"], []).append(MessageRecord.model_validate(dict(row)))
        lines = []
        for row in page:
            record = ConversationRecord.model_validate({**row, "messages": by_session.get(row["id"], [])})
            lines.append(record.model_dump_json())
            messages += len(record.messages)
        await write("\n".join(lines) + "\n")
        conversations += len(page)
        after = ids[-1]
        if progress is not None:
            progress(conversations)
    return ExportSummary(conversations=conversations, messages=messages)


def _insert_ignoring_duplicates(conn: AsyncConnection, table: Table) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING`` in the connection's dialect (any unique key)."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    return insert(table).on_conflict_do_nothing()


async def _existing(conn: AsyncConnection, column: Any, ids: Sequence[str]) -> set[str]:
    return set((await conn.execute(select(column).where(column.in_(ids)))).scalars())


async def _owners(conn: AsyncConnection, session_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    """The stored conversations among ``session_ids``: id -> (chatbot_id, user_id)."""
    rows = await conn.execute(
        select(SESSIONS.c.id, SESSIONS.c.chatbot_id, SESSIONS.c.user_id).where(SESSIONS.c.id.in_(session_ids))
    )
    return {row[0]: (row[1], row[2]) for row in rows}


async def import_conversations(
    *,
    db: Database,
    records: Sequence[ConversationRecord],
    batch_size: int = DEFAULT_BATCH,
    progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Store exported conversations, skipping every conversation and message id already stored.

    Each batch of ``batch_size`` conversations is one transaction: the shoppers' rows (created
    where missing), then the conversations and their messages with one ``executemany`` each, then
    ``message_count`` of the batch's conversations recounted from the store. A message whose
    ``(conversation, sequence)`` is taken by another message is skipped too.

    Args:
        progress: called with the number of conversations processed after each batch.

    Raises:
        NotFoundError: a record names a chatbot this database does not have (checked before
            anything is written).
        ConflictError: a conversation id is stored already for another chatbot or shopper (its
            batch is rolled back; earlier batches stay).
    """
    chatbots = {record.chatbot_id for record in records}
    bots = _table(Chatbot)
    async with db.engine.connect() as conn:
        rows = await conn.execute(select(bots.c.id, bots.c.language).where(bots.c.id.in_(sorted(chatbots))))
        languages: dict[str, str] = {row[0]: row[1] or "en" for row in rows}
    if missing := sorted(chatbots - set(languages)):
        raise NotFoundError(f"the import names chatbots this database does not have: {', '.join(missing)}")
    added_sessions = skipped_sessions = added_messages = skipped_messages = done = 0
    for start in range(0, len(records), batch_size):
        batch = records[start : start + batch_size]
        async with db.engine.begin() as conn:
            stored_sessions = await _owners(conn, [r.id for r in batch])
            for record in batch:
                owner = stored_sessions.get(record.id)
                if owner is not None and owner != (record.chatbot_id, record.user_id):
                    raise ConflictError(
                        f"conversation {record.id} is stored already for another chatbot or shopper; nothing of "
                        "this batch was imported"
                    )
            message_ids = [m.id for r in batch for m in r.messages]
            stored_messages: set[str] = set()
            for offset in range(0, len(message_ids), 5000):  # stay under the bind-parameter limits
                stored_messages |= await _existing(conn, MESSAGES.c.id, message_ids[offset : offset + 5000])
            await upsert_shoppers(
                conn,
                [ShopperSeen(r.chatbot_id, r.user_id, r.last_message_at or r.updated_at) for r in batch],
            )
            new_sessions = [_session_row(r, languages[r.chatbot_id]) for r in batch if r.id not in stored_sessions]
            if new_sessions:
                await conn.execute(_insert_ignoring_duplicates(conn, SESSIONS), new_sessions)
            new_messages = [
                _message_row(r, m, languages[r.chatbot_id])
                for r in batch
                for m in r.messages
                if m.id not in stored_messages
            ]
            if new_messages:
                await conn.execute(_insert_ignoring_duplicates(conn, MESSAGES), new_messages)
            stored_after = set()
            new_ids = [row["id"] for row in new_messages]
            for offset in range(0, len(new_ids), 5000):
                stored_after |= await _existing(conn, MESSAGES.c.id, new_ids[offset : offset + 5000])
            indexed = [row for row in new_messages if row["id"] in stored_after]
            await _index(conn, sessions=new_sessions, messages=indexed)
            await _recount(conn, [r.id for r in batch])
        added_sessions += len(new_sessions)
        skipped_sessions += len(batch) - len(new_sessions)
        added_messages += len(stored_after)
        skipped_messages += len(message_ids) - len(stored_after)
        done += len(batch)
        if progress is not None:
            progress(done)
    return ImportSummary(
        conversations_added=added_sessions,
        conversations_skipped=skipped_sessions,
        messages_added=added_messages,
        messages_skipped=skipped_messages,
    )


async def _index(conn: AsyncConnection, *, sessions: list[dict[str, Any]], messages: list[dict[str, Any]]) -> None:
    """Make the imported messages and titles searchable (SQLite's stemmed documents; PostgreSQL's
    generated ``tsvector`` columns need nothing), as the recorder does for a stored turn."""
    owners = {row["id"]: row["shopper_id"] for row in sessions}
    missing = sorted({row["session_id"] for row in messages} - set(owners))
    for offset in range(0, len(missing), 5000):
        chunk = missing[offset : offset + 5000]
        found = await conn.execute(select(SESSIONS.c.id, SESSIONS.c.shopper_id).where(SESSIONS.c.id.in_(chunk)))
        owners.update({row[0]: row[1] for row in found})
    await index_messages(
        conn,
        [
            MessageDocument(
                message_id=row["id"],
                chatbot_id=row["chatbot_id"],
                shopper_id=owners[row["session_id"]] or "",
                content=row["content"],
                language=row["language"],
            )
            for row in messages
        ],
    )
    await index_titles(
        conn,
        [
            TitleDocument(
                session_id=row["id"],
                chatbot_id=row["chatbot_id"],
                shopper_id=row["shopper_id"],
                title=row["title"],
                language=row["language"],
            )
            for row in sessions
            if row["title"]
        ],
    )


async def _recount(conn: AsyncConnection, session_ids: list[str]) -> None:
    """Set ``message_count`` of the conversations from their stored messages (one UPDATE)."""
    count = select(func.count()).select_from(MESSAGES).where(MESSAGES.c.session_id == SESSIONS.c.id).scalar_subquery()
    await conn.execute(update(SESSIONS).where(SESSIONS.c.id.in_(session_ids)).values(message_count=count))


def _session_row(record: ConversationRecord, language: str) -> dict[str, Any]:
    return {
        "language": record.language or language,
        "id": record.id,
        "chatbot_id": record.chatbot_id,
        "user_id": record.user_id,
        "shopper_id": shopper_id(chatbot_id=record.chatbot_id, user_id=record.user_id),
        "status": record.status,
        "title": record.title,
        "is_archived": record.is_archived,
        "is_pinned": record.is_pinned,
        "state": record.state,
        "message_count": 0,
        "token_hash": record.token_hash,
        "last_message_at": record.last_message_at,
        "deleted_at": None,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    }


def _message_row(record: ConversationRecord, message: MessageRecord, language: str) -> dict[str, Any]:
    return {
        "language": message.language or record.language or language,
        "id": message.id,
        "chatbot_id": record.chatbot_id,
        "session_id": record.id,
        "sequence": message.sequence,
        "role": message.role,
        "content": message.content,
        "status": message.status,
        "flow_type": message.flow_type,
        "streaming_session_id": None,
        "extra": message.extra,
        "is_edited": message.is_edited,
        "created_at": message.created_at,
    }
