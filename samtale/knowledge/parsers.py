"""Parse source files into documents, choosing the format by the file's suffix or content.

Formats (see :data:`FORMAT_BY_SUFFIX`):

* CSV/TSV product feeds: one document per row (:func:`parse_csv`); Shopify's product-import CSV,
  recognised by its header, one document per product (:mod:`samtale.knowledge.shopify`);
* Markdown and plain text: one document per file, chunked by headings and paragraphs;
* HTML pages: the main content (:func:`samtale.knowledge.pages.parse_html`);
* PDF: the text of each page (:func:`samtale.knowledge.pages.parse_pdf`);
* JSON Lines and JSON (:mod:`samtale.knowledge.json_documents`).

A file with an unknown or missing suffix is recognised by its first bytes (``%PDF-``, an HTML
tag, JSON). Text formats must be UTF-8 (a byte-order mark is accepted; HTML pages may declare
their own encoding); anything unreadable is a
:class:`~samtale.knowledge.errors.KnowledgeInputError` for that file alone.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Literal

import yaml

from samtale.knowledge.documents import (
    DEFAULT_MAX_FILE_BYTES,
    Document,
    DocumentKind,
    ParseResult,
    decode_utf8,
    read_file_bytes,
    read_text_file,
    typed_value,
)
from samtale.knowledge.errors import KnowledgeInputError
from samtale.knowledge.json_documents import JsonOptions, parse_json, parse_jsonl
from samtale.knowledge.pages import parse_html, parse_pdf
from samtale.knowledge.shopify import is_shopify_header, parse_shopify_csv
from samtale.knowledge.types import MetadataValue

__all__ = [
    "DEFAULT_MAX_FILE_BYTES",
    "CsvOptions",
    "Document",
    "DocumentKind",
    "FileFormat",
    "JsonOptions",
    "ParseResult",
    "detect_format",
    "parse_csv",
    "parse_file",
    "parse_markdown",
    "parse_text",
    "read_text_file",
    "typed_value",
]

FileFormat = Literal["csv", "tsv", "markdown", "text", "html", "pdf", "jsonl", "json"]

FORMAT_BY_SUFFIX: dict[str, FileFormat] = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".md": "markdown",
    ".markdown": "markdown",
    ".txt": "text",
    ".text": "text",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".pdf": "pdf",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
}
SUPPORTED_SUFFIXES = frozenset(FORMAT_BY_SUFFIX)

#: Column names taken as a row's title when no ``title_column`` is given (compared case-insensitively).
TITLE_COLUMN_CANDIDATES = ("title", "name", "product_name", "product", "heading")

_FRONT_MATTER_RE = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.DOTALL)
_H1_RE = re.compile(r"^#[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
_HTML_START_RE = re.compile(
    rb"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)\b", re.I | re.S
)


@dataclass(frozen=True, slots=True)
class CsvOptions:
    """How CSV rows become documents.

    Attributes:
        id_column: the column holding the document id; None = ``{source}#{row number}`` (1-based
            data rows), which changes when rows are inserted above, so give one for real feeds.
            Shopify product CSVs are always identified by ``Handle``.
        text_columns: the columns written as ``column: value`` lines and embedded; None = every
            column except the id column and ``metadata_only_columns``.
        metadata_only_columns: columns kept as metadata but never embedded (e.g. a reviewer's
            handle, a price: filters use them, the embedding gains nothing from them).
        metadata_columns: the columns stored as metadata; None = every column.
        title_column: the column used as title; None = the first of
            :data:`TITLE_COLUMN_CANDIDATES` present (case-insensitive), else the first column
            whose name ends in ``title``, else in ``name`` (``WineName``), else the id.
        delimiter: the field separator; None = sniffed from the header line (``,`` ``;`` tab ``|``).
    """

    id_column: str | None = None
    text_columns: tuple[str, ...] | None = None
    metadata_only_columns: tuple[str, ...] = ()
    metadata_columns: tuple[str, ...] | None = None
    title_column: str | None = None
    delimiter: str | None = None


def detect_format(name: str, head: bytes) -> FileFormat:
    """The format of a file named ``name`` whose first bytes are ``head`` (a few KB suffice).

    The suffix decides when it is known; otherwise the content: ``%PDF-`` → PDF, an HTML tag →
    HTML, a JSON object per line → JSON Lines, ``{``/``[`` → JSON.

    Raises:
        KnowledgeInputError: neither the suffix nor the content names a supported format.
    """
    suffix = Path(name).suffix.lower()
    if suffix in FORMAT_BY_SUFFIX:
        return FORMAT_BY_SUFFIX[suffix]
    body = head.removeprefix(b"\xef\xbb\xbf")
    stripped = body.lstrip()
    if stripped.startswith(b"%PDF-"):
        return "pdf"
    if _HTML_START_RE.match(body):
        return "html"
    lines = [line.strip() for line in stripped.splitlines() if line.strip()]
    if len(lines) > 1 and all(line.startswith(b"{") for line in lines[:-1]):
        return "jsonl"
    if stripped.startswith((b"{", b"[")):
        return "json"
    raise KnowledgeInputError(
        f"{name}: unsupported file type {suffix or '(no suffix)'} and its content is not PDF, HTML or JSON; "
        f"supported: {', '.join(sorted(SUPPORTED_SUFFIXES))}",
        details={"source": name},
    )


def parse_file(
    path: Path,
    *,
    csv_options: CsvOptions | None = None,
    json_options: JsonOptions | None = None,
    max_bytes: int = DEFAULT_MAX_FILE_BYTES,
    source: str | None = None,
) -> ParseResult:
    """Parse one file in the format :func:`detect_format` finds.

    Args:
        path: the file.
        csv_options: options for CSV files (ignored for the others).
        json_options: options for JSON Lines and JSON arrays (ignored for the others).
        max_bytes: size limit of the file in bytes, checked before it is read.
        source: the name recorded as the documents' source; default the file name.

    Raises:
        KnowledgeInputError: unsupported type, unreadable, not UTF-8, a damaged PDF, a page with
            no text, or (CSV) a missing id column.
        FileTooLargeError: the file is over ``max_bytes``.
    """
    name = source or path.name
    data = read_file_bytes(path, source=name, max_bytes=max_bytes)
    file_format = detect_format(name, data[:4096])
    if file_format == "pdf":
        return ParseResult(documents=[parse_pdf(data, source=name)])
    if file_format == "html":
        return ParseResult(documents=[parse_html(data, source=name)])
    content = decode_utf8(data, source=name)
    if not content.strip():
        raise KnowledgeInputError(f"{name}: the file is empty", details={"source": name})
    if file_format in ("csv", "tsv"):
        options = csv_options or CsvOptions()
        if file_format == "tsv" and options.delimiter is None:
            options = dataclasses.replace(options, delimiter="\t")
        return parse_csv(content, source=name, options=options)
    if file_format == "jsonl":
        return parse_jsonl(content, source=name, options=json_options)
    if file_format == "json":
        return parse_json(content, source=name, options=json_options)
    if file_format == "markdown":
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
        raise KnowledgeInputError(f"{source}: the CSV file is empty", details={"source": source}) from None
    if is_shopify_header(header):
        return parse_shopify_csv(content, source=source)
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
        title_column = next((c for name in TITLE_COLUMN_CANDIDATES if (c := _find_column(header, name))), None) or next(
            (c for suffix in ("title", "name") for c in header if c.casefold().replace("_", "").endswith(suffix)), None
        )
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
