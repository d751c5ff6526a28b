"""JSON Lines and JSON files as documents.

* JSON Lines (``.jsonl``, ``.ndjson``): one document per line, each a JSON object. The text is
  the ``text_field`` (default: the first of ``text, content, body, answer, description`` present),
  chunked by paragraphs; without one, the object's fields become ``field: value`` lines like a
  CSV row. Every other scalar field is metadata (JSON numbers stay numbers; a ``metadata``
  object's fields are merged in; lists of scalars are joined by ``, ``). The id is the
  ``id_field`` (default ``id`` when present, else ``source#line``).
* JSON (``.json``): an array of objects is read like JSON Lines. An object (a policy handbook,
  a settings tree, ABCD's agent guidelines) is one document rendered as a Markdown outline:
  nested objects become headings, so chunks follow the structure and keep its path as title.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from samtale.knowledge.documents import Document, ParseResult, scalar_metadata
from samtale.knowledge.errors import KnowledgeInputError
from samtale.knowledge.types import MetadataValue

TEXT_FIELD_CANDIDATES = ("text", "content", "body", "answer", "description")
TITLE_FIELD_CANDIDATES = ("title", "name", "heading", "question")
DEFAULT_ID_FIELD = "id"
MAX_HEADING_LEVEL = 6


@dataclass(frozen=True, slots=True)
class JsonOptions:
    """How JSON records become documents.

    Attributes:
        id_field: the field holding each record's id; None = ``id`` when a record has it, else
            ``{source}#{line or item number}``.
        text_field: the field holding the text; None = the first of :data:`TEXT_FIELD_CANDIDATES`.
        title_field: the field holding the title; None = the first of :data:`TITLE_FIELD_CANDIDATES`.
    """

    id_field: str | None = None
    text_field: str | None = None
    title_field: str | None = None


def _record_document(
    record: dict[str, Any], *, source: str, number: int, options: JsonOptions, what: str
) -> Document | str:
    """A record as a document, or a sentence saying why it cannot be one."""
    id_field = options.id_field or DEFAULT_ID_FIELD
    raw_id = record.get(id_field)
    if raw_id is None or raw_id == "":
        if options.id_field is not None:
            return f"{source} {what} {number}: the id field {options.id_field!r} is missing or empty"
        external_id = f"{source}#{number}"
    elif isinstance(raw_id, str | int) and not isinstance(raw_id, bool):
        external_id = str(raw_id).strip()
    else:
        return f"{source} {what} {number}: the id field {id_field!r} is not a string or number"

    text_field: str | None
    if options.text_field is not None:
        wanted = record.get(options.text_field)
        if not isinstance(wanted, str) or not wanted.strip():
            return f"{source} {what} {number}: the text field {options.text_field!r} is missing or empty"
        text_field = options.text_field
    else:
        text_field = next(
            (f for f in TEXT_FIELD_CANDIDATES if isinstance(record.get(f), str) and record[f].strip()), None
        )
    title_field = options.title_field or next((f for f in TITLE_FIELD_CANDIDATES if record.get(f)), None)
    raw_title = record.get(title_field) if title_field else None
    title = str(raw_title).strip() if isinstance(raw_title, str | int | float) else external_id

    metadata: dict[str, MetadataValue] = {}
    nested = record.get("metadata")
    if isinstance(nested, dict):
        for key, value in nested.items():
            if (typed := scalar_metadata(value)) is not None:
                metadata[str(key)] = typed
    for key, value in record.items():
        if key in (text_field, "metadata"):
            continue
        if (typed := scalar_metadata(value)) is not None:
            metadata[str(key)] = typed
        elif isinstance(value, dict):
            for sub_key, sub_value in value.items():
                if (typed := scalar_metadata(sub_value)) is not None:
                    metadata[f"{key}.{sub_key}"] = typed

    if text_field is not None:
        text, kind = record[text_field].strip(), "text"
    else:
        lines = [f"{key}: {value}" for key, value in metadata.items() if key != id_field]
        if not lines:
            return f"{source} {what} {number}: the record has no text"
        text, kind = "\n".join(lines), "record"
    return Document(
        external_id=external_id[:500],
        source=source,
        title=title[:500],
        text=text,
        kind=kind,  # type: ignore[arg-type]
        metadata=metadata,
    )


def _records(items: list[tuple[int, Any]], *, source: str, options: JsonOptions, what: str) -> ParseResult:
    documents: list[Document] = []
    errors: list[str] = []
    seen: set[str] = set()
    for number, item in items:
        if not isinstance(item, dict):
            errors.append(f"{source} {what} {number}: not a JSON object")
            continue
        outcome = _record_document(item, source=source, number=number, options=options, what=what)
        if isinstance(outcome, str):
            errors.append(outcome)
        elif outcome.external_id in seen:
            errors.append(
                f"{source} {what} {number}: id {outcome.external_id!r} appears more than once; the first is kept"
            )
        else:
            seen.add(outcome.external_id)
            documents.append(outcome)
    return ParseResult(documents=documents, row_errors=errors)


def parse_jsonl(content: str, *, source: str, options: JsonOptions | None = None) -> ParseResult:
    """One document per JSON Lines line; blank lines are skipped, a line that is not a JSON
    object is a row error naming it (the other lines are kept).

    Raises:
        KnowledgeInputError: no line holds a JSON object.
    """
    items: list[tuple[int, Any]] = []
    errors: list[str] = []
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append((number, orjson.loads(line)))
        except orjson.JSONDecodeError as exc:
            errors.append(f"{source} line {number}: not valid JSON ({exc})")
    if not items:
        raise KnowledgeInputError(f"{source}: no JSON object on any line", details={"source": source})
    result = _records(items, source=source, options=options or JsonOptions(), what="line")
    result.row_errors[:0] = errors
    return result


def _outline_value(value: Any) -> str | None:
    if isinstance(value, str):
        return " ".join(value.split()) or None
    if isinstance(value, bool | int | float):
        return str(value).lower() if isinstance(value, bool) else str(value)
    if isinstance(value, list) and value and all(_is_scalar(v) for v in value):
        return "; ".join(filter(None, (_outline_value(v) for v in value))) or None
    return None


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | bool | int | float)


def _flat_lines(value: dict[str, Any], prefix: str = "") -> list[str]:
    lines = []
    for key, item in value.items():
        if (rendered := _outline_value(item)) is not None:
            lines.append(f"{prefix}{key}: {rendered}")
        elif isinstance(item, dict):
            lines += _flat_lines(item, prefix=f"{prefix}{key}.")
        elif isinstance(item, list):
            for element in item:
                if isinstance(element, dict):
                    lines += _flat_lines(element, prefix=f"{prefix}{key}.")
    return lines


def json_outline(value: Any, *, level: int = 1) -> list[str]:
    """``value`` as Markdown blocks: scalar fields as ``key: value`` lines, nested objects as
    headings (level by depth, at most 6), lists of objects as one paragraph per object."""
    blocks: list[str] = []
    if isinstance(value, dict):
        lines = [f"{key}: {rendered}" for key, item in value.items() if (rendered := _outline_value(item)) is not None]
        if lines:
            blocks.append("\n".join(lines))
        for key, item in value.items():
            if _outline_value(item) is not None or _is_scalar(item):
                continue
            inner = json_outline(item, level=level + 1)
            if inner:
                blocks.append(f"{'#' * min(level, MAX_HEADING_LEVEL)} {key}")
                blocks.extend(inner)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                if lines := _flat_lines(item):
                    blocks.append("\n".join(lines))
            elif (rendered := _outline_value(item)) is not None:
                blocks.append(rendered)
            elif isinstance(item, list):
                blocks.extend(json_outline(item, level=level))
    elif (rendered := _outline_value(value)) is not None:
        blocks.append(rendered)
    return blocks


def parse_json(content: str, *, source: str, options: JsonOptions | None = None) -> ParseResult:
    """A JSON file: an array of objects as records (see :func:`parse_jsonl`), an object as one
    Markdown-outline document titled by its ``title`` field or the file stem.

    Raises:
        KnowledgeInputError: the file is not valid JSON, or holds no text.
    """
    try:
        value = orjson.loads(content)
    except orjson.JSONDecodeError as exc:
        raise KnowledgeInputError(f"{source}: not valid JSON ({exc})", details={"source": source}) from exc
    if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        return _records(list(enumerate(value, start=1)), source=source, options=options or JsonOptions(), what="item")
    blocks = json_outline(value)
    if not blocks:
        raise KnowledgeInputError(f"{source}: the JSON file holds no text", details={"source": source})
    raw_title = value.get("title") if isinstance(value, dict) else None
    title = raw_title.strip() if isinstance(raw_title, str) and raw_title.strip() else Path(source).stem
    return ParseResult(
        documents=[
            Document(
                external_id=source,
                source=source,
                title=title[:500],
                text="\n\n".join(blocks),
                kind="markdown",
                metadata={"format": "json"},
            )
        ]
    )
