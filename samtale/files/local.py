"""The default backend: files in a folder (``Settings.files_dir``, by default ``data_dir/files``).

A key ``vinhuset/2026/11/3f…`` is the file ``<folder>/vinhuset/2026/11/3f…``. Keys are checked
against :data:`~samtale.files.storage.KEY_PATTERN` (no dot, no absolute path) and the resolved
path must stay inside the folder, so no key reaches outside it. A write goes to a temporary file
in the same folder, is flushed to disk (``fsync``) and renamed over the target with
:func:`os.replace`, so a reader (or a crash) never sees half a file. All file I/O runs in a
worker thread (``asyncio.to_thread``), never on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from pathlib import Path

from samtale.files.errors import FileNotFoundInStoreError, StorageFailure
from samtale.files.storage import check_storage_key, storage_failure

logger = logging.getLogger(__name__)

BACKEND = "local"


class LocalFileStorage:
    """Files under ``root`` (created at the first write). Implements :class:`~samtale.files.storage.FileStorage`.

    Args:
        root: the folder; made absolute once here.
    """

    name = BACKEND

    def __init__(self, *, root: Path) -> None:
        self.root = root.absolute()

    def path_of(self, key: str) -> Path:
        """The file that holds ``key``'s bytes.

        Raises:
            ValueError: ``key`` is not a storage key, or its path would leave the folder.
        """
        path = self.root / check_storage_key(key)
        if os.path.commonpath([self.root, path]) != str(self.root):
            raise ValueError("not a storage key")
        return path

    async def put(self, key: str, data: bytes, mime: str) -> None:
        """Write ``data`` to ``key``'s file atomically (temporary file, fsync, rename); ``mime`` is
        not kept (the row has it).

        Raises:
            FileStorageError: the folder cannot be written (reason ``disk``).
        """
        path = self.path_of(key)
        try:
            await asyncio.to_thread(_write_atomically, path, data)
        except OSError as exc:
            logger.error("local file storage: writing %s under %s failed: %s", key, self.root, exc)
            raise storage_failure(backend=BACKEND, reason=StorageFailure.DISK, doing="write a file") from None

    async def get(self, key: str) -> bytes:
        """The bytes of ``key``'s file.

        Raises:
            FileNotFoundInStoreError: no file. FileStorageError: it cannot be read (``disk``).
        """
        path = self.path_of(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            raise FileNotFoundInStoreError("no file is stored under this key") from None
        except OSError as exc:
            logger.error("local file storage: reading %s under %s failed: %s", key, self.root, exc)
            raise storage_failure(backend=BACKEND, reason=StorageFailure.DISK, doing="read a file") from None

    async def delete(self, key: str) -> None:
        """Remove ``key``'s file (nothing happens when there is none).

        Raises:
            FileStorageError: it cannot be removed (``disk``).
        """
        path = self.path_of(key)
        try:
            await asyncio.to_thread(path.unlink, missing_ok=True)
        except OSError as exc:
            logger.error("local file storage: deleting %s under %s failed: %s", key, self.root, exc)
            raise storage_failure(backend=BACKEND, reason=StorageFailure.DISK, doing="delete a file") from None

    async def exists(self, key: str) -> bool:
        """True when ``key``'s file exists."""
        return await asyncio.to_thread(self.path_of(key).is_file)

    async def url(self, key: str, *, filename: str, mime: str) -> str | None:
        """None: a local file has no URL of its own; the app serves its bytes."""
        self.path_of(key)
        return None

    async def aclose(self) -> None:
        """Nothing to release (no handle stays open between calls)."""
        return None


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with temporary.open("xb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a crash
    finally:
        os.close(directory)
