"""The interface of a file storage backend, and the storage keys it is given.

A backend keeps opaque bytes under a key and knows nothing of chatbots, shoppers or rows: the
file service (:mod:`samtale.files.service`) writes the row, chooses the key and checks the bytes.
Keys are generated (:func:`new_storage_key`), never derived from an uploaded name, and every
backend refuses a key that is not of that shape (:func:`check_storage_key`), so no key can climb
out of the local folder or the S3 prefix.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from datetime import datetime
from typing import Protocol, runtime_checkable
from urllib.parse import quote

from samtale.files.errors import FileStorageError, StorageFailure

KEY_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}(/[A-Za-z0-9_-]{1,64}){0,7}")
"""A storage key: 1-8 segments of letters, digits, ``_`` and ``-`` joined by ``/`` (no dot, so no ``..``)."""

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


@runtime_checkable
class FileStorage(Protocol):
    """Where uploaded files' bytes live. Every method may raise :class:`FileStorageError`
    (the backend failed) and :class:`ValueError` (a key not of :data:`KEY_PATTERN`)."""

    name: str
    """The backend's name as stored in ``files.storage_backend``: ``local`` or ``s3``."""

    async def put(self, key: str, data: bytes, mime: str) -> None:
        """Store ``data`` under ``key`` (atomically: a reader sees all of it or nothing); ``mime``
        is kept where the backend can (S3's Content-Type). Overwrites an existing key."""
        ...

    async def get(self, key: str) -> bytes:
        """The bytes under ``key``.

        Raises:
            FileNotFoundInStoreError: nothing is stored under ``key``.
        """
        ...

    async def delete(self, key: str) -> None:
        """Delete the bytes under ``key``; a key that holds nothing is not an error (idempotent)."""
        ...

    async def exists(self, key: str) -> bool:
        """True when bytes are stored under ``key``."""
        ...

    async def url(self, key: str, *, filename: str, mime: str) -> str | None:
        """A time-limited URL a browser can download the bytes from directly (S3 presigned, with
        ``filename`` and ``mime`` as its Content-Disposition and Content-Type), or None when the
        backend has none and the app serves the bytes itself (local)."""
        ...

    async def aclose(self) -> None:
        """Release connections and threads; the backend is not used afterwards."""
        ...


def check_storage_key(key: str) -> str:
    """Return ``key`` when it is of :data:`KEY_PATTERN`.

    Raises:
        ValueError: otherwise (a programming error: keys come from :func:`new_storage_key`).
    """
    if not KEY_PATTERN.fullmatch(key):
        raise ValueError("not a storage key")
    return key


def new_storage_key(*, chatbot_id: str, now: datetime) -> str:
    """A fresh, unique key: ``<chatbot>/<yyyy>/<mm>/<uuid4 hex>``.

    The chatbot segment is ``chatbot_id`` with every character outside ``[A-Za-z0-9_-]``
    replaced by ``-`` (cut to 64), for an operator browsing the folder or bucket; it decides
    nothing (rows do). Year and month let backups and lifecycle rules work by age.
    """
    segment = _UNSAFE.sub("-", chatbot_id)[:64] or "-"
    return f"{segment}/{now:%Y}/{now:%m}/{uuid.uuid4().hex}"


def content_disposition(filename: str) -> str:
    """A ``Content-Disposition: attachment`` value for an untrusted ``filename`` (RFC 6266): an
    ASCII fallback (accents dropped; other non-ASCII characters, quotes, backslashes and control
    characters replaced by ``_``), and the exact name percent-encoded as ``filename*``."""
    decomposed = unicodedata.normalize("NFKD", filename)
    ascii_only = "".join(
        char if char.isascii() else "_" for char in decomposed if not unicodedata.combining(char)
    )  # é → e, ø → _
    fallback = re.sub(r'[\x00-\x1f\x7f"\\]', "_", ascii_only) or "file"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def storage_failure(*, backend: str, reason: StorageFailure, doing: str) -> FileStorageError:
    """A :class:`FileStorageError` whose message says what was being done (``doing``, e.g. ``"read a file"``)."""
    message = f"the {backend} file storage could not {doing} ({reason.value})"
    return FileStorageError(message, backend=backend, reason=reason)
