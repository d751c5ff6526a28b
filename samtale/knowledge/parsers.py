"""Parse source files into documents: CSV product feeds (one document per row), Markdown and plain text.

A :class:`Document` is what ingestion stores and keeps in sync: it is identified by its
``external_id`` and its content hash (SHA-256 of its kind, title, text and metadata), so an
unchanged document is recognised on every later ingest.

Files must be UTF-8 (a byte-order mark is accepted); anything else is a
:class:`~samtale.knowledge.errors.KnowledgeInputError` for that file alone.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Literal

import orjson
import yaml

from samtale.knowledge.errors import FileTooLargeError, KnowledgeInputError
from samtale.knowledge.types import MetadataValue

DocumentKind = Literal["markdown", "text", "record"]

#: Default size limit of one ingested file, in bytes (issue 5: configurable, default 50 MB).
DEFAULT_MAX_FILE_BYTES = 50 * 1024 * 1024

CSV_SUFFIXES = frozenset({".csv", ".tsv"})
MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})
TEXT_SUFFIXES = frozenset({".txt", ".text"})
SUPPORTED_SUFFIXES = CSV_SUFFIXES | MARKDOWN_SUFFIXES | TEXT_SUFFIXES

#: Column names taken as a row's title when no ``title_column`` is given (compared case-insensitively).
TITLE_COLUMN_CANDIDATES = ("title", "name", "product_name", "product", "heading")

_INT_RE = re.compile(r"[+-]?(?:0|[1-9]\d{0,14})")
_FLOAT_RE = re.compile(r"[+-]?\d{1,15}\.\d+")
_FRONT_MATTER_RE = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.DOTALL)
_H1_RE = re.compile(r"^#[ \t]+(.+?)[ \t#]*$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Document:
    """One source document before chunking.

    Attributes:
        external_id: the document's id within its index (a CSV row's id-column value, else
            ``source#row``; for a Markdown or text file its source).
        source: where it came from: the file name (not the full path, so the same file ingested
            from another folder or machine is the same document).
        title: a product title, the Markdown front matter title or first heading, or the file stem.
        text: for a CSV row the ``column: value`` lines to embed; for files their text.
        metadata: typed fields (numbers as int/float) used for filters and shown with sources.
        kind: ``record`` (a CSV row), ``markdown`` or ``text``; selects the chunker.
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


@dataclass(frozen=True, slots=True)
class CsvOptions:
    """How CSV rows become documents.

    Attributes:
        id_column: the column holding the document id; None = ``{source}#{row number}`` (1-based
            data rows), which changes when rows are inserted above, so give one for real feeds.
        text_columns: the columns written as ``column: value`` lines and embedded; None = every
            column except the id column and ``metadata_only_columns``.
        metadata_only_columns: columns kept as metadata but never embedded (e.g. a reviewer's
            handle, a price: filters use them, the embedding gains nothing from them).
        metadata_columns: the columns stored as metadata; None = every column.
        title_column: the column used as title; None = the first of
            :data:`TITLE_COLUMN_CANDIDATES` present (case-insensitive), else the id.
        delimiter: the field separator; None = sniffed from the header line (``,`` ``;`` tab ``|``).
    """

    id_column: str | None = None
    text_columns: tuple[str, ...] | None = None
    metadata_only_columns: tuple[str, ...] = ()
    metadata_columns: tuple[str, ...] | None = None
    title_column: str | None = None
    delimiter: str | None = None


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


def read_text_file(path: Path, *, source: str, max_bytes: int = DEFAULT_MAX_FILE_BYTES) -> str:
    """Read ``path`` as UTF-8 text (a BOM is dropped).

    Raises:
        FileTooLargeError: the file is over ``max_bytes``.
        KnowledgeInputError: it cannot be read or is not UTF-8.
    """
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise FileTooLargeError(
                f"{source} is {size:,} bytes, over the {max_bytes:,}-byte limit for one file",
                details={"source": source, "bytes": size, "limit": max_bytes},
            )
        data = path.read_bytes()
    except OSError as exc:
        raise KnowledgeInputError(f"{source} cannot be read: {exc.strerror or exc}", details={"source": source})
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise KnowledgeInputError(
            f"{source} is not UTF-8 text (invalid byte at offset {exc.start}); save it as UTF-8 and ingest it again",
            details={"source": source, "offset": exc.start},
        )


def parse_file(
    path: Path,
    *,
    csv_options: CsvOptions | None = None,
    max_bytes: int = DEFAULT_MAX_FILE_BYTES,
    source: str | None = None,
) -> ParseResult:
    """Parse one file by its suffix (``.csv``/``.tsv``, ``.md``/``.markdown``, ``.txt``).

    Args:
        path: the file.
        csv_options: options for CSV files (ignored for the others).
        max_bytes: size limit of the file in bytes.
        source: the name recorded as the documents' source; default the file name.

    Raises:
        KnowledgeInputError: unsupported type, unreadable, not UTF-8, or (CSV) a missing id column.
        FileTooLargeError: the file is over ``max_bytes``.
    """
    name = source or path.name
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise KnowledgeInputError(
            f"{name}: unsupported file type {suffix or '(none)'}; supported: {', '.join(sorted(SUPPORTED_SUFFIXES))}",
            details={"source": name},
        )
    content = read_text_file(path, source=name, max_bytes=max_bytes)
    if suffix in CSV_SUFFIXES:
        options = csv_options or CsvOptions()
        if suffix == ".tsv" and options.delimiter is None:
            options = dataclasses.replace(options, delimiter="\t")
        return parse_csv(content, source=name, options=options)
    if suffix in MARKDOWN_SUFFIXES:
        return ParseResult(documents=[parse_markdown(content, source=name)])
    return ParseResult(documents=[parse_text(content, source=name)])


def _sniff_delimiter(content: str) -> str:
    header = content.split("\n", 1)[0]
    try:
        return csv.Sniffer().sniff(header, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def _find_column(columns: Sequence[str], wanted: str) -> str | None:
    if wanted in columns:
        return wanted
    folded = {column.casefold(): column for column in columns}
    return folded.get(wanted.casefold())


def _check_columns(columns: Sequence[str], wanted: Sequence[str], *, what: str, source: str) -> list[str]:
    found: list[str] = []
    for name in wanted:
        column = _find_column(columns, name)
        if column is None:
            raise KnowledgeInputError(
                f"{source}: {what} {name!r} is not a column (columns: {', '.join(columns)})",
                details={"source": source, "column": name},
            )
        found.append(column)
    return found


def parse_csv(content: str, *, source: str, options: CsvOptions | None = None) -> ParseResult:
    """One document per data row of a CSV feed; see :class:`CsvOptions`.

    Each embedded column becomes a ``column: value`` line (whitespace collapsed, empty values
    left out); metadata holds the typed values (see :func:`typed_value`).

    Raises:
        KnowledgeInputError: the file has no header, or a named column does not exist.
    """
    opts = options or CsvOptions()
    reader = csv.reader(io.StringIO(content, newline=""), delimiter=opts.delimiter or _sniff_delimiter(content))
    try:
        header = [name.strip() for name in next(reader)]
    except StopIteration:
        raise KnowledgeInputError(f"{source}: the CSV file is empty", details={"source": source})
    id_column = _check_columns(header, [opts.id_column], what="id column", source=source)[0] if opts.id_column else None
    metadata_only = set(_check_columns(header, opts.metadata_only_columns, what="column", source=source))
    if opts.text_columns is not None:
        text_columns = _check_columns(header, opts.text_columns, what="text column", source=source)
    else:
        text_columns = [c for c in header if c != id_column and c not in metadata_only and c]
    metadata_columns = (
        _check_columns(header, opts.metadata_columns, what="metadata column", source=source)
        if opts.metadata_columns is not None
        else [c for c in header if c]
    )
    if opts.title_column:
        title_column: str | None = _check_columns(header, [opts.title_column], what="title column", source=source)[0]
    else:
        title_column = next((c for name in TITLE_COLUMN_CANDIDATES if (c := _find_column(header, name))), None)
    position = {name: i for i, name in enumerate(header)}

    documents: list[Document] = []
    errors: list[str] = []
    seen: set[str] = set()
    for row_number, row in enumerate(reader, start=1):
        if not any(cell.strip() for cell in row):
            continue
        values = {name: " ".join(row[i].split()) for name, i in position.items() if i < len(row)}
        if id_column is not None:
            external_id = values.get(id_column, "")
            if not external_id:
                errors.append(f"{source} row {row_number}: the id column {id_column!r} is empty")
                continue
        else:
            external_id = f"{source}#{row_number}"
        if external_id in seen:
            errors.append(f"{source} row {row_number}: id {external_id!r} appears more than once; the first is kept")
            continue
        seen.add(external_id)
        lines = [f"{name}: {values[name]}" for name in text_columns if values.get(name)]
        if not lines:
            errors.append(f"{source} row {row_number}: no text in the embedded columns")
            continue
        metadata = {name: typed_value(values[name]) for name in metadata_columns if values.get(name)}
        title = (values.get(title_column) if title_column else None) or external_id
        documents.append(
            Document(
                external_id=external_id,
                source=source,
                title=title[:500],
                text="\n".join(lines),
                kind="record",
                metadata=metadata,
            )
        )
    return ParseResult(documents=documents, row_errors=errors)


def _front_matter(content: str) -> tuple[dict[str, MetadataValue], str]:
    match = _FRONT_MATTER_RE.match(content)
    if not match:
        return {}, content
    try:
        loaded = yaml.safe_load(match.group(1))
    except yaml.YAMLError:
        return {}, content
    metadata: dict[str, MetadataValue] = {}
    if isinstance(loaded, dict):
        for key, value in loaded.items():
            if isinstance(value, bool | int | float | str):
                metadata[str(key)] = value
            elif isinstance(value, date | datetime):
                metadata[str(key)] = value.isoformat()
    return metadata, content[match.end() :]


def parse_markdown(content: str, *, source: str) -> Document:
    """A Markdown file as one document; YAML front matter scalars become metadata.

    The title is the front matter ``title``, else the first ``# heading``, else the file stem.
    """
    metadata, body = _front_matter(content)
    title_value = metadata.get("title")
    if isinstance(title_value, str) and title_value.strip():
        title = title_value.strip()
    elif heading := _H1_RE.search(body):
        title = heading.group(1).strip()
    else:
        title = Path(source).stem
    return Document(
        external_id=source, source=source, title=title[:500], text=body.strip(), kind="markdown", metadata=metadata
    )


def parse_text(content: str, *, source: str) -> Document:
    """A plain-text file as one document titled by its file stem."""
    return Document(external_id=source, source=source, title=Path(source).stem[:500], text=content.strip(), kind="text")
