"""Split documents into chunks that fit the embedding model, with overlap.

* Markdown: chunks follow headings (outside fenced code) and paragraphs; each chunk's title is
  its heading path (``Terms & Conditions > Shipping``), and the title is embedded with it.
* Plain text: paragraphs (blank-line separated), titled by the document title.
* Records (CSV rows, products, JSON records): one chunk per record unless it is longer than
  ``max_chars``, then split between lines.
* PDF: each page on its own (a chunk never spans two pages), by paragraphs; chunks carry
  ``page`` (1-based) in their metadata and the document title as their title.

Paragraphs longer than ``max_chars`` are split at line breaks, then sentence ends, then spaces. Consecutive
chunks of one section share up to ``overlap_chars`` characters, cut at a sentence or word start.
The default 1,000 characters is about the 256 word pieces all-MiniLM-L6-v2 reads (its
``max_seq_length``; longer input is truncated, so the tail would not be embedded).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from samtale.knowledge.documents import PAGE_BREAK, Document
from samtale.knowledge.types import MetadataValue

_HEADING_RE = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
_FENCE_RE = re.compile(r"^[ \t]*(```|~~~)")
_SENTENCE_END_RE = re.compile(r"(?<=[.!?:;])\s+")
_TITLE_SEPARATOR = " > "


@dataclass(frozen=True, slots=True)
class ChunkingOptions:
    """Chunk sizes in characters.

    Attributes:
        max_chars: the longest chunk body (default 1,000 ≈ 256 MiniLM word pieces of English).
        overlap_chars: how much of a chunk's end is repeated at the start of the next one.
    """

    max_chars: int = 1000
    overlap_chars: int = 200

    def __post_init__(self) -> None:
        if self.max_chars < 100 or not 0 <= self.overlap_chars < self.max_chars // 2:
            raise ValueError("max_chars must be >= 100 and overlap_chars in [0, max_chars / 2)")

    @property
    def signature(self) -> str:
        """A short string naming these settings; part of each document's content hash."""
        return f"chunks:{self.max_chars}/{self.overlap_chars}"


@dataclass(frozen=True, slots=True)
class TextChunk:
    """A chunk of a document.

    Attributes:
        position: 0-based order within the document.
        title: the heading path (Markdown), the document title, or a product title.
        text: the chunk body as shown to the LLM and in sources.
        embed_text: what is embedded and indexed lexically (the title and the body for
            Markdown, text and PDF; the ``column: value`` lines, which include the title, for records).
        metadata: fields of this chunk alone, added to the document's metadata (a PDF page's ``page``).
    """

    position: int
    title: str | None
    text: str
    embed_text: str
    metadata: dict[str, MetadataValue] = field(default_factory=dict)


def chunk_document(document: Document, *, options: ChunkingOptions | None = None) -> list[TextChunk]:
    """Chunk ``document`` by its kind; returns at least one chunk when it has any text."""
    opts = options or ChunkingOptions()
    sections: list[tuple[str | None, list[str], dict[str, MetadataValue]]]
    if document.kind == "markdown":
        sections = [(t, b, {}) for t, b in markdown_sections(document.text, document_title=document.title)]
    elif document.kind == "text":
        sections = [(document.title, _paragraphs(document.text), {})]
    elif document.kind == "pdf":
        sections = [
            (document.title, _paragraphs(page), {"page": number})
            for number, page in enumerate(document.text.split(PAGE_BREAK), start=1)
            if page.strip()
        ]
    else:
        sections = [(document.title, document.text.split("\n"), {})]
    chunks: list[TextChunk] = []
    for title, blocks, extra in sections:
        joiner = "\n" if document.kind == "record" else "\n\n"
        for body in pack_blocks(blocks, max_chars=opts.max_chars, overlap_chars=opts.overlap_chars, joiner=joiner):
            embed_text = body if document.kind == "record" or not title else f"{title}\n\n{body}"
            chunks.append(
                TextChunk(position=len(chunks), title=title, text=body, embed_text=embed_text, metadata=dict(extra))
            )
    return chunks


def _paragraphs(text: str) -> list[str]:
    return [block.strip() for block in re.split(r"\n[ \t]*\n", text) if block.strip()]


def markdown_sections(text: str, *, document_title: str | None) -> list[tuple[str | None, list[str]]]:
    """Split Markdown into ``(heading path, paragraphs)`` sections, in document order.

    Headings inside fenced code blocks are text. A section with no body is left out (its
    heading still names its subsections). A level-1 heading equal to the document title is not
    repeated in the path.
    """
    sections: list[tuple[str | None, list[str]]] = []
    path: list[str] = []
    lines: list[str] = []
    in_fence = False

    def flush() -> None:
        body = "\n".join(lines).strip()
        lines.clear()
        if not body:
            return
        parts = [document_title] if document_title else []
        parts += [p for p in path if p and p != document_title]
        sections.append((_TITLE_SEPARATOR.join(parts)[:500] or None, _paragraphs(body)))

    for line in text.splitlines():
        if _FENCE_RE.match(line):
            in_fence = not in_fence
        heading = None if in_fence else _HEADING_RE.match(line)
        if heading is None:
            lines.append(line)
            continue
        flush()
        level = len(heading.group(1))
        path = [*path[: level - 1], *([""] * max(0, level - 1 - len(path))), heading.group(2).strip()]
    flush()
    return sections


def _split_long(block: str, max_chars: int) -> list[tuple[str, str]]:
    """``block`` in pieces of at most ``max_chars``, each with the separator that joins it to
    the piece before it within the block (``\n`` between lines, a space within a line)."""
    if len(block) <= max_chars:
        return [(block, "")]
    pieces: list[tuple[str, str]] = []
    for line in block.split("\n"):
        separator = "\n"
        for sentence in _SENTENCE_END_RE.split(line.strip()) if len(line) > max_chars else [line.strip()]:
            while len(sentence) > max_chars:
                cut = sentence.rfind(" ", 0, max_chars)
                cut = cut if cut > max_chars // 2 else max_chars
                pieces.append((sentence[:cut].strip(), separator))
                separator = " "
                sentence = sentence[cut:].strip()
            if sentence:
                pieces.append((sentence, separator))
                separator = " "
    return pieces


def _overlap_tail(text: str, overlap_chars: int) -> str:
    if overlap_chars <= 0 or len(text) <= overlap_chars:
        return ""
    tail = text[-overlap_chars:]
    line = tail.find("\n")
    if 0 <= line and tail[line:].strip():
        return tail[line:].strip()
    sentence = _SENTENCE_END_RE.search(tail)
    if sentence and sentence.end() < len(tail):
        return tail[sentence.end() :].strip()
    space = tail.find(" ")
    return tail[space + 1 :].strip() if space >= 0 else tail.strip()


def pack_blocks(blocks: list[str], *, max_chars: int, overlap_chars: int, joiner: str = "\n\n") -> list[str]:
    """Pack ``blocks`` (paragraphs, lines) greedily into chunks of at most ``max_chars`` characters.

    Blocks are joined with ``joiner``; the lines of a block too long for one chunk are joined
    with a line break, its sentences with a space. A chunk after the first of the same section
    starts with the end of the previous chunk (at most ``overlap_chars`` characters, from a
    sentence or word start).
    """
    pieces = [
        (piece, inner if index > 0 else joiner)
        for block in blocks
        for index, (piece, inner) in enumerate(_split_long(block, max_chars))
    ]
    chunks: list[str] = []
    current = ""
    for piece, joined_by in pieces:
        separator = joined_by if current else ""
        if current and len(current) + len(separator) + len(piece) > max_chars:
            chunks.append(current)
            tail = _overlap_tail(current, overlap_chars)
            current = tail if tail and len(tail) + len(joined_by) + len(piece) <= max_chars else ""
            separator = joined_by if current else ""
        current += separator + piece
    if current:
        chunks.append(current)
    return chunks
