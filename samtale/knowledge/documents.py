"""The document model every parser produces, and the helpers parsers share (reading, typing).

A :class:`Document` is what ingestion stores and keeps in sync: it is identified by its
``external_id`` and its content hash (SHA-256 of its kind, title, text and metadata), so an
unchanged document is recognised on every later ingest.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import orjson

from samtale.knowledge.errors import FileTooLargeError, KnowledgeInputError
from samtale.knowledge.types import MetadataValue

#: ``markdown`` and ``text`` are chunked by headings and paragraphs, ``record`` (a CSV row, a
#: product, a JSON record) line by line, ``pdf`` page by page (pages separated by form feeds).
DocumentKind = Literal["markdown", "text", "record", "pdf"]

#: Default size limit of one ingested file, in bytes (issue 5: configurable, default 50 MB).
DEFAULT_MAX_FILE_BYTES = 50 * 1024 * 1024

#: Separates the pages of a ``pdf`` document's text.
PAGE_BREAK = "\f"

_INT_RE = re.compile(r"[+-]?(?:0|[1-9]\d{0,14})")
_FLOAT_RE = re.compile(r"[+-]?\d{1,15}\.\d+")


@dataclass(frozen=True, slots=True)
class Document:
    """One source document before chunking.

    Attributes:
        external_id: the document's id within its index (a CSV row's id-column value, a Shopify
            product's Handle, a JSON record's id field, else ``source#row``; for a whole file its
            source).
        source: where it came from: the file name (not the full path, so the same file ingested
            from another folder or machine, or uploaded through the admin API, is the same document).
        title: a product title, a page or PDF title, the first heading, or the file stem.
        text: for a record the ``field: value`` lines to embed; for files their text (Markdown for
            HTML pages and JSON outlines; pages joined by :data:`PAGE_BREAK` for PDFs).
        metadata: typed fields (numbers as int/float) used for filters and shown with sources.
        kind: selects the chunker, see :data:`DocumentKind`.
    """

    external_id: str
    source: str
    title: str | None
    text: str
    kind: DocumentKind
    metadata: dict[str, MetadataValue] = field(default_factory=dict)

    def content_hash(self, *, salt: str = "") -> str:
        """SHA-256 (hex) of the kind, title, text, metadata and ``salt`` (e.g. the chunking settings)."""
        payload = orjson.dumps([self.kind, self.title, self.text, self.metadata, salt], option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(payload).hexdigest()


@dataclass(slots=True)
class ParseResult:
    """Documents parsed from one file, and row-level problems (each a sentence naming the row)."""

    documents: list[Document]
    row_errors: list[str] = field(default_factory=list)


def typed_value(raw: str) -> MetadataValue:
    """``raw`` as an int or float when it is written as one (``15`` → 15, ``13.5`` → 13.5), else the string.

    Numbers with leading zeros (``007``) or more than 15 digits stay strings: they are codes, not
    quantities.
    """
    value = raw.strip()
    if _INT_RE.fullmatch(value):
        return int(value)
    if _FLOAT_RE.fullmatch(value):
        return float(value)
    return value


def read_file_bytes(path: Path, *, source: str, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> bytes:
    """The bytes of ``path``, refusing a file over ``max_bytes`` before reading it.

    Raises:
        FileTooLargeError: the file is over ``max_bytes``.
        KnowledgeInputError: it cannot be read.
    """
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise FileTooLargeError(
                f"{source} is {size:,} bytes, over the {max_bytes:,}-byte limit for one file",
                details={"source": source, "bytes": size, "limit": max_bytes},
            )
        return path.read_bytes()
    except OSError as exc:
        raise KnowledgeInputError(
            f"{source} cannot be read: {exc.strerror or exc}", details={"source": source}
        ) from exc


def decode_utf8(data: bytes, *, source: str) -> str:
    """``data`` decoded as UTF-8 (a byte-order mark is dropped).

    Raises:
        KnowledgeInputError: it is not UTF-8; the message names the file and the offset.
    """
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise KnowledgeInputError(
            f"{source} is not UTF-8 text (invalid byte at offset {exc.start}); save it as UTF-8 and ingest it again",
            details={"source": source, "offset": exc.start},
        ) from exc


def read_text_file(path: Path, *, source: str, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> str:
    """Read ``path`` as UTF-8 text (a BOM is dropped).

    Raises:
        FileTooLargeError: the file is over ``max_bytes``.
        KnowledgeInputError: it cannot be read or is not UTF-8.
    """
    return decode_utf8(read_file_bytes(path, source=source, max_bytes=max_bytes), source=source)


def scalar_metadata(value: object) -> MetadataValue | None:
    """A JSON-ish value as a metadata value: scalars as they are, a list of scalars joined by ``, ``;
    None for anything else (nested objects, empty strings)."""
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, list) and value and all(isinstance(v, str | int | float) for v in value):
        return ", ".join(str(v) for v in value)
    return None
