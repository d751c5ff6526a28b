"""The conversation retention job: old and soft-deleted conversations removed for good.

Two rules, run together by the scheduled maintenance job ``conversation_retention``
(:mod:`samtale.observability.maintenance`, daily at 04:30 by default):

* **Per-chatbot retention.** A chatbot whose YAML document sets ``retention_days: N`` keeps a
  conversation N days after its last activity (``last_message_at``, or ``created_at`` for one
  with no stored message); older ones are removed with their messages, edits, context chunks,
  streams, metrics and error-log rows (:func:`samtale.conversation.erasure.remove_conversations`).
  Unset (the default) keeps conversations for ever.
* **Soft-deleted conversations** (a shopper's ``DELETE /api/conversations/{id}``) are removed
  the same way once ``deleted_conversation_grace_days`` (Settings, default 30) have passed
  since ``deleted_at``, whatever the chatbot's retention.
* **Unused uploads**: a file no message carries (an image uploaded for a message that was never
  sent) is removed ``unused_upload_hours`` (Settings, default 24) after it was stored.

Each chatbot is one transaction with set-based deletes. The job reports the rows it removed per
table, summed over chatbots (the ``result`` of its ``maintenance_runs`` row).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select

from samtale.chatbots.service import retention_days_by_chatbot
from samtale.conversation.erasure import SHOPPER_DATA, remove_conversations
from samtale.files.service import delete_files, delete_files_of_conversations
from samtale.files.storage import FileStorage
from samtale.files.types import FileInfo
from samtale.storage.base import utcnow
from samtale.storage.db import Database
from samtale.storage.models import ConversationSession, UploadedFile

logger = logging.getLogger(__name__)
CS = ConversationSession


async def purge_conversations(
    *,
    db: Database,
    grace_days: float,
    files: FileStorage | None = None,
    now: datetime | None = None,
    unused_upload_hours: float = 24.0,
) -> dict[str, int]:
    """Remove conversations past their chatbot's retention and soft-deleted ones past the grace.

    Args:
        db: the database.
        grace_days: days a soft-deleted conversation is kept before it is removed (>= 0).
        files: the deployment's file storage: the purged conversations' files (bytes, then rows)
            go first (None: a deployment without files).
        now: the current time (tests pass their own).
        unused_upload_hours: hours a file no message carries is kept (``unused_files`` in the result).

    Returns:
        Rows removed per table (the keys of :data:`~samtale.conversation.erasure.SHOPPER_DATA`,
        the per-shopper ``memories`` and ``users`` excepted, plus ``files``), summed over every chatbot.

    Raises:
        FileStorageError: the file storage failed; that chatbot's conversations are kept for the
            next run.
    """
    now = now or utcnow()
    deleted_before = now - timedelta(days=grace_days)
    retention = await retention_days_by_chatbot(db=db)
    async with db.engine.connect() as conn:
        chatbots = (
            (await conn.execute(select(CS.chatbot_id).where(CS.deleted_at < deleted_before).distinct())).scalars().all()
        )
    totals = {"files": 0, **{table.key: 0 for table in SHOPPER_DATA if not table.per_shopper}}
    for chatbot_id in sorted(set(chatbots) | set(retention)):
        expired = [CS.deleted_at < deleted_before]
        if chatbot_id in retention:
            last_activity = func.coalesce(CS.last_message_at, CS.created_at)
            expired.append(last_activity < now - timedelta(days=retention[chatbot_id]))
        async with db.engine.connect() as conn:
            ids = (await conn.execute(select(CS.id).where(CS.chatbot_id == chatbot_id, or_(*expired)))).scalars().all()
        if not ids:
            continue
        if files is not None:
            deleted = await delete_files_of_conversations(
                db=db, storage=files, chatbot_id=chatbot_id, conversation_session_ids=list(ids)
            )
            totals["files"] += deleted.files
        async with db.engine.begin() as conn:
            removed = await remove_conversations(conn, chatbot_id=chatbot_id, conversation_ids=list(ids))
        for key in totals:
            totals[key] += removed.get(key, 0)
    if files is not None:
        cutoff = now - timedelta(hours=unused_upload_hours)
        totals["unused_files"] = await _delete_unused_files(db=db, storage=files, created_before=cutoff)
    logger.info("conversation retention removed %s", totals)
    return totals


async def _delete_unused_files(*, db: Database, storage: FileStorage, created_before: datetime) -> int:
    """Delete every file no message carries stored before ``created_before`` (an image uploaded for
    a message never sent), chatbot by chatbot, bytes then rows; how many went.

    Raises:
        FileStorageError: the backend failed; that chatbot's rows stay for the next run.
    """
    async with db.session() as session:
        rows = (
            await session.scalars(
                select(UploadedFile).where(UploadedFile.message_id.is_(None), UploadedFile.created_at < created_before)
            )
        ).all()
        unused = [FileInfo.from_row(row) for row in rows]
    by_chatbot: dict[str, list[FileInfo]] = {}
    for info in unused:
        by_chatbot.setdefault(info.chatbot_id, []).append(info)
    removed = 0
    for chatbot_id, infos in sorted(by_chatbot.items()):
        removed += (await delete_files(db=db, storage=storage, chatbot_id=chatbot_id, files=infos)).files
    return removed
