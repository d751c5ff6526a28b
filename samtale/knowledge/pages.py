"""Web pages and PDFs as documents: the main text of an HTML page, the text of each PDF page.

* HTML: trafilatura extracts the main content (navigation, footers and scripts left out) as
  Markdown, so chunks follow the page's headings like a Markdown file's.
* PDF: pypdf extracts the text of every page; chunks never span two pages and carry their page
  number. Scanned PDFs (images only) have no text: samtale does no OCR and says so.

Both parsers work on bytes and are CPU-bound: ingestion runs them in a worker thread.
"""

from __future__ import annotations

import io
import logging
import re
from pathlib import Path

from samtale.knowledge.documents import PAGE_BREAK, Document
from samtale.knowledge.errors import KnowledgeInputError
from samtale.knowledge.types import MetadataValue

logger = logging.getLogger(__name__)

_BLANK_LINES_RE = re.compile(r"\n[ \t]*\n")
_HYPHEN_BREAK_RE = re.compile(r"(\w)-\n(\w)")


def parse_html(data: bytes, *, source: str) -> Document:
    """The main content of an HTML page as a Markdown document.

    The title is the page's title (``<title>``, Open Graph or the first heading, as trafilatura
    finds it), else the file stem. The encoding is read from the page (``<meta charset>``) or
    detected.

    Raises:
        KnowledgeInputError: the page has no main text (an empty page, a script-only shell).
    """
    import trafilatura

    try:
        text = trafilatura.extract(
            data,
            output_format="markdown",
            include_tables=True,
            include_links=False,
            include_images=False,
            include_comments=False,
            favor_recall=True,
        )
        metadata = trafilatura.extract_metadata(data)
    except Exception as exc:  # trafilatura/lxml raise many types on broken markup
        raise KnowledgeInputError(
            f"{source}: the HTML page cannot be read ({exc})", details={"source": source}
        ) from exc
    if not text or not text.strip():
        raise KnowledgeInputError(
            f"{source}: the HTML page has no main text to ingest (empty, or only navigation and scripts)",
            details={"source": source},
        )
    title = (metadata.title if metadata is not None and metadata.title else None) or Path(source).stem
    meta: dict[str, MetadataValue] = {"format": "html"}
    if metadata is not None:
        for key in ("url", "author", "date", "sitename"):
            value = getattr(metadata, key, None)
            if isinstance(value, str) and value.strip():
                meta[key] = value.strip()[:500]
    return Document(
        external_id=source, source=source, title=title.strip()[:500], text=text.strip(), kind="markdown", metadata=meta
    )


def _page_text(raw: str) -> str:
    """A PDF page's text with line-wrap hyphens joined and lines of one paragraph on one line."""
    text = _HYPHEN_BREAK_RE.sub(r"\1\2", raw.replace("\r\n", "\n").replace(PAGE_BREAK, "\n"))
    paragraphs = [" ".join(block.split()) for block in _BLANK_LINES_RE.split(text)]
    return "\n\n".join(p for p in paragraphs if p)


def parse_pdf(data: bytes, *, source: str) -> Document:
    """A PDF's text, page by page (pages joined by :data:`~samtale.knowledge.documents.PAGE_BREAK`).

    The title is the PDF's ``/Title`` metadata, else the file stem; metadata holds ``pages``.
    A page whose text cannot be extracted is left empty (and logged); the others are kept.

    Raises:
        KnowledgeInputError: the file is not a readable PDF, is password-protected, or has no text
            on any page (a scanned PDF: samtale does no OCR).
    """
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise KnowledgeInputError(
                f"{source}: the PDF is password-protected; remove the password and ingest it again",
                details={"source": source},
            )
        pages = list(reader.pages)
        raw_title = reader.metadata.title if reader.metadata is not None else None
    except KnowledgeInputError:
        raise
    except Exception as exc:  # pypdf raises PdfReadError and plain ValueError/KeyError on broken files
        raise KnowledgeInputError(
            f"{source}: the file is not a readable PDF ({exc}); it may be damaged or incomplete",
            details={"source": source},
        ) from exc
    texts: list[str] = []
    for number, page in enumerate(pages, start=1):
        try:
            texts.append(_page_text(page.extract_text() or ""))
        except Exception:
            logger.warning("%s: the text of page %d cannot be extracted", source, number, exc_info=True)
            texts.append("")
    if not any(texts):
        raise KnowledgeInputError(
            f"{source}: the PDF has no extractable text on any of its {len(pages)} pages "
            "(a scanned document needs OCR first, which samtale does not do)",
            details={"source": source, "pages": len(pages)},
        )
    title = raw_title.strip() if isinstance(raw_title, str) and raw_title.strip() else Path(source).stem
    return Document(
        external_id=source,
        source=source,
        title=title[:500],
        text=PAGE_BREAK.join(texts),
        kind="pdf",
        metadata={"format": "pdf", "pages": len(pages)},
    )
