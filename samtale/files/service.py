"""The file service: store an uploaded file's bytes and row, load it back, delete it (GDPR erasure).

Every function is keyword-only and filters on ``chatbot_id``: another chatbot's file is
reported as :class:`FileNotFoundInStoreError`, exactly like a file that does not exist.

Order of writes, so that no failure leaves bytes without a row that names them:

* storing writes the bytes first (a new, generated key), then the row; if the row cannot be
  written the bytes are deleted again;
* deleting removes the bytes first, then the rows; if the backend fails, the rows stay and the
  call can be repeated (deleting bytes that are already gone is not an error).

De-duplication (sha256 per chatbot, index ``ix_files_chatbot_sha256``): the same bytes stored
again for the same shopper and conversation while the first copy is not yet attached to a
message (a retried upload) return the first row (``reused=True``) and write nothing. Bytes are
never shared between rows: a shopper's erasure deletes exactly their bytes and never breaks
another shopper's file, and no reference count can race with a concurrent upload.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Iterable, Sequence

from sqlalchemy import ColumnElement, Select, delete, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from samtale.files.errors import (
    FileNotFoundInStoreError,
    FileOwnerNotFoundError,
    FileTooLargeError,
    InvalidFileError,
    StorageFailure,
)
from samtale.files.storage import FileStorage, new_storage_key, storage_failure
from samtale.files.types import FileInfo, FilesDeleted, LoadedFile, StoredFile, check_pixels, clean_mime, clean_name
from samtale.storage.base import utcnow
from samtale.storage.db import Database
from samtale.storage.models import ConversationSession, Message, Shopper, UploadedFile

logger = logging.getLogger(__name__)

ID_CHUNK = 500
"""Conversation ids per ``IN`` list when deleting the files of many conversations."""

HASH_INLINE_BYTES = 256 * 1024
"""Files up to this size are hashed on the event loop; larger ones in a worker thread."""

DELETE_CONCURRENCY = 8
"""Deletions of bytes in flight at once during a bulk deletion."""

_ID_CHUNK = 500


async def _sha256(data: bytes) -> str:
    if len(data) <= HASH_INLINE_BYTES:
        return hashlib.sha256(data).hexdigest()
    return await asyncio.to_thread(lambda: hashlib.sha256(data).hexdigest())


async def store_file(
    *,
    db: Database,
    storage: FileStorage,
    chatbot_id: str,
    data: bytes,
    name: str,
    mime: str,
    max_bytes: int,
    shopper_id: str | None = None,
    conversation_session_id: str | None = None,
    message_id: str | None = None,
    width: int | None = None,
    height: int | None = None,
) -> StoredFile:
    """Store an uploaded file: its bytes in ``storage``, its row in ``files``.

    Args:
        chatbot_id: the tenant.
        data: the file's bytes, 1 to ``max_bytes`` of them.
        name: the uploaded name (untrusted; cleaned by :func:`~samtale.files.types.clean_name`).
        mime: the declared type ``type/subtype`` (not checked against the bytes here).
        max_bytes: the upload limit, ``Settings.max_upload_bytes`` (50 MiB by default).
        shopper_id: the uploading shopper's ``users.id`` (``samtale.conversation.shoppers.shopper_id``), if known.
        conversation_session_id, message_id: the conversation and message it belongs to, if known.
        width, height: pixels, both or neither.

    Returns:
        The row, ``reused`` when the same bytes were already stored unattached for the same
        shopper and conversation (module docstring).

    Raises:
        FileTooLargeError: ``data`` is over ``max_bytes`` (413). InvalidFileError: empty, bad
        MIME type or pixel sizes (422). FileOwnerNotFoundError: the shopper, conversation or
        message is not this chatbot's (404). FileStorageError: the backend failed (503).
    """
    if len(data) > max_bytes:
        raise FileTooLargeError(
            f"the file is larger than {max_bytes} bytes",
            details={"size_bytes": len(data), "limit_bytes": max_bytes},
        )
    if not data:
        raise InvalidFileError("the file is empty", details={"field": "data"})
    declared = clean_mime(mime)
    check_pixels(width=width, height=height)
    digest = await _sha256(data)

    async with db.session() as session:
        await _check_owners(
            session,
            chatbot_id=chatbot_id,
            shopper_id=shopper_id,
            conversation_session_id=conversation_session_id,
            message_id=message_id,
        )
        earlier = (
            await _unattached_copy(
                session,
                chatbot_id=chatbot_id,
                sha256=digest,
                shopper_id=shopper_id,
                conversation_session_id=conversation_session_id,
                backend=storage.name,
            )
            if message_id is None
            else None
        )
    if earlier is not None and await storage.exists(earlier.storage_key):
        return StoredFile(file=earlier, reused=True)

    now = utcnow()
    key = new_storage_key(chatbot_id=chatbot_id, now=now)
    await storage.put(key, data, declared)
    row = UploadedFile(
        chatbot_id=chatbot_id,
        shopper_id=shopper_id,
        conversation_session_id=conversation_session_id,
        message_id=message_id,
        name=clean_name(name),
        mime=declared,
        size_bytes=len(data),
        sha256=digest,
        width=width,
        height=height,
        storage_backend=storage.name,
        storage_key=key,
        processed=False,
        created_at=now,
    )
    try:
        async with db.session() as session:
            session.add(row)
            await session.flush()
            stored = FileInfo.from_row(row)
    except BaseException as exc:
        await _forget_bytes(storage, key)
        if isinstance(exc, IntegrityError):  # the shopper, conversation or message went meanwhile
            raise FileOwnerNotFoundError("the file's shopper, conversation or message no longer exists") from None
        raise
    return StoredFile(file=stored)


async def _check_owners(
    session: AsyncSession,
    *,
    chatbot_id: str,
    shopper_id: str | None,
    conversation_session_id: str | None,
    message_id: str | None,
) -> None:
    checks: list[tuple[str, Select[str]]] = []
    if shopper_id is not None:
        checks.append(("shopper", select(Shopper.id).where(Shopper.id == shopper_id, Shopper.chatbot_id == chatbot_id)))
    if conversation_session_id is not None:
        checks.append(
            (
                "conversation",
                select(ConversationSession.id).where(
                    ConversationSession.id == conversation_session_id, ConversationSession.chatbot_id == chatbot_id
                ),
            )
        )
    if message_id is not None:
        of_message = select(Message.id).where(Message.id == message_id, Message.chatbot_id == chatbot_id)
        if conversation_session_id is not None:
            of_message = of_message.where(Message.session_id == conversation_session_id)
        checks.append(("message", of_message))
    for owner, query in checks:
        if (await session.execute(query)).first() is None:
            message = f"the file's {owner} does not exist for this chatbot"
            raise FileOwnerNotFoundError(message, details={"owner": owner})


async def _unattached_copy(
    session: AsyncSession,
    *,
    chatbot_id: str,
    sha256: str,
    shopper_id: str | None,
    conversation_session_id: str | None,
    backend: str,
) -> FileInfo | None:
    query = (
        select(UploadedFile)
        .where(
            UploadedFile.chatbot_id == chatbot_id,
            UploadedFile.sha256 == sha256,
            UploadedFile.shopper_id.is_not_distinct_from(shopper_id),
            UploadedFile.conversation_session_id.is_not_distinct_from(conversation_session_id),
            UploadedFile.message_id.is_(None),
            UploadedFile.storage_backend == backend,
        )
        .order_by(UploadedFile.created_at)
        .limit(1)
    )
    row = (await session.execute(query)).scalar_one_or_none()
    return FileInfo.from_row(row) if row is not None else None


async def _forget_bytes(storage: FileStorage, key: str) -> None:
    try:
        await storage.delete(key)
    except Exception:
        logger.exception("file storage: the bytes of an unstored file could not be deleted (key %s)", key)


async def get_file(*, db: Database, chatbot_id: str, file_id: str) -> FileInfo:
    """A file's row.

    Raises:
        FileNotFoundInStoreError: no such file for this chatbot.
    """
    async with db.session() as session:
        row = (
            await session.execute(
                select(UploadedFile).where(UploadedFile.chatbot_id == chatbot_id, UploadedFile.id == file_id)
            )
        ).scalar_one_or_none()
        if row is None:
            raise FileNotFoundInStoreError("no such file")
        return FileInfo.from_row(row)


async def load_file(*, db: Database, storage: FileStorage, chatbot_id: str, file_id: str) -> LoadedFile:
    """A file's row and bytes, the bytes checked against the row's SHA-256.

    Raises:
        FileNotFoundInStoreError: no such file for this chatbot, or its bytes are gone (404).
        FileStorageError: the backend failed, holds other bytes (``corrupt``), or is not the one
            the file was stored on (``backend_mismatch``) (503).
    """
    info = await get_file(db=db, chatbot_id=chatbot_id, file_id=file_id)
    _check_backend(storage, [info])
    try:
        data = await storage.get(info.storage_key)
    except FileNotFoundInStoreError:
        logger.warning("file storage: the bytes of file %s are missing (key %s)", info.id, info.storage_key)
        raise FileNotFoundInStoreError("the file's bytes are missing") from None
    if len(data) != info.size_bytes or await _sha256(data) != info.sha256:
        logger.error("file storage: the bytes of file %s do not match its SHA-256 (key %s)", info.id, info.storage_key)
        raise storage_failure(backend=storage.name, reason=StorageFailure.CORRUPT, doing="read a file intact")
    return LoadedFile(file=info, data=data)


async def list_conversation_files(*, db: Database, chatbot_id: str, conversation_session_id: str) -> list[FileInfo]:
    """A conversation's files in upload order (index ``ix_files_conversation``); empty for an
    unknown conversation or another chatbot's."""
    async with db.session() as session:
        rows = (
            await session.execute(
                select(UploadedFile)
                .where(
                    UploadedFile.conversation_session_id == conversation_session_id,
                    UploadedFile.chatbot_id == chatbot_id,
                )
                .order_by(UploadedFile.created_at, UploadedFile.id)
            )
        ).scalars()
        return [FileInfo.from_row(row) for row in rows]


async def delete_file(*, db: Database, storage: FileStorage, chatbot_id: str, file_id: str) -> FilesDeleted:
    """Delete one file, bytes then row.

    Raises:
        FileNotFoundInStoreError: no such file for this chatbot. FileStorageError: the backend failed (the row stays).
    """
    info = await get_file(db=db, chatbot_id=chatbot_id, file_id=file_id)
    return await delete_files(db=db, storage=storage, chatbot_id=chatbot_id, files=[info])


async def delete_files_of_shopper(
    *, db: Database, storage: FileStorage, chatbot_id: str, shopper_id: str
) -> FilesDeleted:
    """Delete every file of one shopper of one chatbot (GDPR right to erasure), bytes then rows:
    the files stored as theirs (``files.shopper_id``) and any file in one of their conversations.

    Call it before deleting the shopper's ``users`` row or conversations: those deletes cascade
    to (or unlink) the rows but cannot reach the bytes.

    Args:
        shopper_id: the ``users.id`` (``samtale.conversation.shoppers.shopper_id(chatbot_id=…, user_id=…)``).

    Returns:
        How many files and bytes were removed (0 and 0 for a shopper with none, or another chatbot's).

    Raises:
        FileStorageError: the backend failed; no row was deleted, and the call can be repeated.
    """
    of_shopper = select(ConversationSession.id).where(
        ConversationSession.chatbot_id == chatbot_id, ConversationSession.shopper_id == shopper_id
    )
    files = await _select(
        db,
        UploadedFile.chatbot_id == chatbot_id,
        or_(UploadedFile.shopper_id == shopper_id, UploadedFile.conversation_session_id.in_(of_shopper)),
    )
    return await delete_files(db=db, storage=storage, chatbot_id=chatbot_id, files=files)


async def delete_files_of_conversation(
    *, db: Database, storage: FileStorage, chatbot_id: str, conversation_session_id: str
) -> FilesDeleted:
    """Delete every file of one conversation, bytes then rows (call it before purging the
    conversation: that delete only sets the rows' ``conversation_session_id`` to NULL).

    Raises:
        FileStorageError: the backend failed; no row was deleted, and the call can be repeated.
    """
    return await delete_files_of_conversations(
        db=db, storage=storage, chatbot_id=chatbot_id, conversation_session_ids=[conversation_session_id]
    )


async def delete_files_of_conversations(
    *, db: Database, storage: FileStorage, chatbot_id: str, conversation_session_ids: Sequence[str]
) -> FilesDeleted:
    """Delete every file of these conversations of ``chatbot_id``, bytes then rows (the retention
    job calls it before it purges them). Ids are read in chunks of :data:`ID_CHUNK`.

    Raises:
        FileStorageError: the backend failed; no row was deleted, and the call can be repeated.
    """
    files: list[FileInfo] = []
    for start in range(0, len(conversation_session_ids), ID_CHUNK):
        chunk = list(conversation_session_ids[start : start + ID_CHUNK])
        files += await _select(
            db, UploadedFile.conversation_session_id.in_(chunk), UploadedFile.chatbot_id == chatbot_id
        )
    if not files:
        return FilesDeleted()
    return await delete_files(db=db, storage=storage, chatbot_id=chatbot_id, files=files)


async def _select(db: Database, *conditions: ColumnElement[bool]) -> list[FileInfo]:
    async with db.session() as session:
        rows = (await session.execute(select(UploadedFile).where(*conditions))).scalars()
        return [FileInfo.from_row(row) for row in rows]


def _check_backend(storage: FileStorage, files: Iterable[FileInfo]) -> None:
    elsewhere = sorted({info.storage_backend for info in files} - {storage.name})
    if elsewhere:
        logger.error(
            "file storage: files stored on %s cannot be reached through the %s backend (docs/operations.md)",
            ", ".join(elsewhere),
            storage.name,
        )
        raise storage_failure(
            backend=storage.name, reason=StorageFailure.BACKEND_MISMATCH, doing="reach files stored on another backend"
        )


async def delete_files(*, db: Database, storage: FileStorage, chatbot_id: str, files: list[FileInfo]) -> FilesDeleted:
    """Delete these files of ``chatbot_id`` (rows read by the caller), bytes then rows; FileStorageError
    when the backend fails (the rows stay, and the call can be repeated)."""
    if not files:
        return FilesDeleted()
    _check_backend(storage, files)
    gate = asyncio.Semaphore(DELETE_CONCURRENCY)

    async def remove(key: str) -> None:
        async with gate:
            await storage.delete(key)

    outcomes = await asyncio.gather(*(remove(info.storage_key) for info in files), return_exceptions=True)
    failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
    if failures:
        raise failures[0]  # the rows stay: a repeated call deletes what is left
    ids = [info.id for info in files]
    async with db.session() as session:
        for start in range(0, len(ids), _ID_CHUNK):
            await session.execute(
                delete(UploadedFile).where(
                    UploadedFile.chatbot_id == chatbot_id, UploadedFile.id.in_(ids[start : start + _ID_CHUNK])
                )
            )
    return FilesDeleted(files=len(files), size_bytes=sum(info.size_bytes for info in files))
