"""What the file service hands between layers: frozen records of stored files and deletions,
and the cleaning of the two untrusted inputs, the uploaded name and the declared MIME type."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from samtale.files.errors import InvalidFileError
from samtale.storage.models import UploadedFile

NAME_MAX_CHARS = 255
"""Longest kept uploaded name (the ``files.name`` column)."""

_MIME = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,62}/[a-z0-9][a-z0-9!#$&^_.+-]{0,62}")
"""A media type ``type/subtype`` (RFC 6838 characters), lowercase, without parameters."""


@dataclass(frozen=True, slots=True)
class FileInfo:
    """One stored file's row (``files``): see :class:`~samtale.storage.models.files.UploadedFile`.

    ``size_bytes`` is the length in bytes, ``sha256`` its lowercase hex digest, ``width`` and
    ``height`` pixels (None when not an image or not measured), ``created_at`` UTC.
    """

    id: str
    chatbot_id: str
    shopper_id: str | None
    conversation_session_id: str | None
    message_id: str | None
    name: str
    mime: str
    size_bytes: int
    sha256: str
    width: int | None
    height: int | None
    storage_backend: str
    storage_key: str
    processed: bool
    description: str | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: UploadedFile) -> FileInfo:
        """The record of a loaded ``files`` row."""
        return cls(
            id=row.id,
            chatbot_id=row.chatbot_id,
            shopper_id=row.shopper_id,
            conversation_session_id=row.conversation_session_id,
            message_id=row.message_id,
            name=row.name,
            mime=row.mime,
            size_bytes=row.size_bytes,
            sha256=row.sha256,
            width=row.width,
            height=row.height,
            storage_backend=row.storage_backend,
            storage_key=row.storage_key,
            processed=row.processed,
            description=row.description,
            created_at=row.created_at,
        )


@dataclass(frozen=True, slots=True)
class StoredFile:
    """The answer of ``store_file``: the file's row, and whether it was ``reused`` (the same bytes
    were already stored, unattached to a message, for the same shopper and conversation: a retried
    upload, so no second copy was written)."""

    file: FileInfo
    reused: bool = False


@dataclass(frozen=True, slots=True)
class LoadedFile:
    """The answer of ``load_file``: the row and its bytes (checked against the row's SHA-256)."""

    file: FileInfo
    data: bytes


@dataclass(frozen=True, slots=True)
class FilesDeleted:
    """What a deletion removed: ``files`` rows (and their bytes), ``size_bytes`` in total."""

    files: int = 0
    size_bytes: int = 0


def clean_name(name: str) -> str:
    """The uploaded ``name`` as kept for display: the last path segment (a browser may send
    ``C:\\fakepath\\photo.jpg``), without control or format characters, trimmed, at most
    :data:`NAME_MAX_CHARS` characters; ``"upload"`` when nothing is left. Never used as a path."""
    last = re.split(r"[\\/]", name)[-1]
    kept = "".join(char for char in last if not unicodedata.category(char).startswith("C")).strip()
    return kept[:NAME_MAX_CHARS] or "upload"


def clean_mime(mime: str) -> str:
    """The declared MIME type, lowercased and without parameters (``image/JPEG; q=1`` → ``image/jpeg``).

    Raises:
        InvalidFileError: it is not of the form ``type/subtype``.
    """
    value = mime.split(";", 1)[0].strip().lower()
    if not _MIME.fullmatch(value):
        raise InvalidFileError("the file's MIME type is not of the form type/subtype", details={"field": "mime"})
    return value


def check_pixels(*, width: int | None, height: int | None) -> None:
    """Width and height are both given, as positive pixel counts, or both None.

    Raises:
        InvalidFileError: otherwise.
    """
    if (width is None) != (height is None):
        raise InvalidFileError("width and height are given together", details={"field": "width"})
    if width is not None and height is not None and (width < 1 or height < 1):
        raise InvalidFileError("width and height are positive pixel counts", details={"field": "width"})
