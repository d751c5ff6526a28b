"""Uploaded files of knowledge jobs: their options, safe names, index names, staging to disk."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from samtale.errors import InputError

#: Bytes read from an upload at a time while staging it.
STAGE_CHUNK_BYTES = 1024 * 1024
_INDEX_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


class AsyncReadable(Protocol):
    """An uploaded file (e.g. Starlette's ``UploadFile``): ``await read(size)`` returns bytes."""

    async def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes; ``b""`` at the end."""
        ...


@dataclass(frozen=True, slots=True)
class UploadOptions:
    """How uploaded files are read: see :class:`~samtale.knowledge.parsers.CsvOptions`,
    :class:`~samtale.knowledge.parsers.JsonOptions` and ``prune`` of
    :func:`~samtale.knowledge.ingest.ingest_paths`."""

    id_column: str | None = None
    text_field: str | None = None
    text_columns: tuple[str, ...] | None = None
    metadata_only_columns: tuple[str, ...] = ()
    prune: bool = False


def safe_file_name(name: str | None, *, fallback: str) -> str:
    """The last path component of an uploaded file's name, without control characters; ``fallback``
    when nothing is left (a name like ``../``)."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip().lstrip(".")
    return base[:200] or fallback


def check_index_name(index_name: str) -> None:
    """Raise InputError unless ``index_name`` is 1–100 letters, digits, ``_ . -`` (starting alphanumeric)."""
    if not _INDEX_NAME_RE.fullmatch(index_name):
        raise InputError(
            f"invalid index name {index_name!r}: use 1-100 letters, digits, '_', '.' or '-', "
            "starting with a letter or digit"
        )


async def stage_upload(reader: AsyncReadable, target: Path, *, max_bytes: int) -> bool:
    """Copy an upload to ``target``; False (and nothing left on disk) when it is over ``max_bytes``."""
    handle = await asyncio.to_thread(target.open, "wb")
    size = 0
    try:
        while chunk := await reader.read(STAGE_CHUNK_BYTES):
            size += len(chunk)
            if size > max_bytes:
                break
            await asyncio.to_thread(handle.write, chunk)
    finally:
        await asyncio.to_thread(handle.close)
    if size > max_bytes:
        await asyncio.to_thread(target.unlink, True)
        return False
    return True
