"""Ingestion: files → documents → chunks → embeddings → the database, idempotently.

A document is skipped when its ``external_id`` and content hash are already stored, so
re-ingesting the same files writes nothing and runs no model. A new or changed document is
chunked, embedded through the embedding cache (see :mod:`samtale.knowledge.embedding_cache`)
and written in a transaction that holds whole documents only (see
:func:`samtale.knowledge.repository.write_documents`). A file that cannot be read or parsed is
reported in :attr:`IngestReport.errors` and the rest of the batch continues.

Parsing and chunking (pypdf, trafilatura, CSV) run in a worker thread and embedding runs off
the event loop too, so an ingestion inside the server (an admin API job) never blocks requests.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from samtale.knowledge.chunking import ChunkingOptions, chunk_document
from samtale.knowledge.embedders import Embedder
from samtale.knowledge.embedding_cache import cached_embeddings, text_hash, vector_to_bytes
from samtale.knowledge.errors import KnowledgeInputError
from samtale.knowledge.parsers import DEFAULT_MAX_FILE_BYTES, CsvOptions, Document, JsonOptions, parse_file
from samtale.knowledge.repository import (
    DocumentWrite,
    IndexHead,
    find_index,
    get_or_create_index,
    remove_documents,
    stored_hashes,
    write_documents,
)
from samtale.storage.db import Database

#: Chunks embedded and written per transaction: bounds memory and the work a crash can lose.
WRITE_GROUP_CHUNKS = 1024


@dataclass(frozen=True, slots=True)
class IngestProgress:
    """A progress report: while ``parsing``, ``done`` of ``total`` files read; while ``embedding``
    (and when ``done``), ``done`` of ``total`` chunks embedded (cache hits count as embedded)."""

    phase: Literal["parsing", "embedding", "done"]
    done: int
    total: int


@dataclass(frozen=True, slots=True)
class IngestError:
    """A file or document that was not ingested, and why (a sentence an operator can act on)."""

    source: str
    message: str
    external_id: str | None = None


@dataclass(slots=True)
class IngestReport:
    """What one ingestion did.

    Attributes:
        documents_added / documents_updated / documents_unchanged / documents_failed /
        documents_removed: counts of documents (removed only with ``prune``).
        files_total: files given.
        files_failed: files that could not be read or parsed at all.
        chunks_written: chunk rows written (new and replacing).
        chunks_embedded: chunk texts the model embedded (the rest came from the cache).
        seconds: wall time of the whole ingestion.
        index_version: the index version after the ingestion.
        errors: one entry per failed file or document.
    """

    chatbot_id: str
    index_name: str
    documents_added: int = 0
    documents_updated: int = 0
    documents_unchanged: int = 0
    documents_failed: int = 0
    documents_removed: int = 0
    files_total: int = 0
    files_failed: int = 0
    chunks_written: int = 0
    chunks_embedded: int = 0
    seconds: float = 0.0
    index_version: int = 0
    errors: list[IngestError] = field(default_factory=list)

    @property
    def chunks_per_s(self) -> float:
        """Chunks written per second of wall time (0 when nothing was written)."""
        return self.chunks_written / self.seconds if self.seconds > 0 else 0.0


async def _parse_all(
    paths: Sequence[Path],
    *,
    csv_options: CsvOptions,
    json_options: JsonOptions,
    max_file_bytes: int,
    report: IngestReport,
    progress: Callable[[IngestProgress], None] | None,
) -> list[Document]:
    documents: list[Document] = []
    seen: dict[str, str] = {}
    for done, path in enumerate(paths):
        if progress is not None:
            progress(IngestProgress(phase="parsing", done=done, total=len(paths)))
        try:
            result = await asyncio.to_thread(
                parse_file, path, csv_options=csv_options, json_options=json_options, max_bytes=max_file_bytes
            )
        except KnowledgeInputError as exc:
            report.files_failed += 1
            report.errors.append(IngestError(source=path.name, message=exc.message))
            continue
        for message in result.row_errors:
            report.documents_failed += 1
            report.errors.append(IngestError(source=path.name, message=message))
        for document in result.documents:
            if document.external_id in seen:
                report.documents_failed += 1
                report.errors.append(
                    IngestError(
                        source=document.source,
                        external_id=document.external_id,
                        message=f"{document.source}: document id {document.external_id!r} was already read "
                        f"from {seen[document.external_id]}; ids must be unique within an index",
                    )
                )
                continue
            seen[document.external_id] = document.source
            documents.append(document)
    return documents


def _prepare(
    documents: Sequence[Document],
    stored: dict[str, tuple[str, str]],
    chunk_options: ChunkingOptions,
    report: IngestReport,
) -> list[DocumentWrite]:
    """The documents that are new or changed, chunked and ready to embed (runs in a thread)."""
    pending: list[DocumentWrite] = []
    for document in documents:
        content_hash = document.content_hash(salt=chunk_options.signature)
        previous = stored.get(document.external_id)
        if previous is not None and previous[1] == content_hash:
            report.documents_unchanged += 1
            continue
        chunks = chunk_document(document, options=chunk_options)
        if not chunks:
            report.documents_failed += 1
            report.errors.append(
                IngestError(
                    source=document.source,
                    external_id=document.external_id,
                    message=f"{document.source}: document {document.external_id!r} has no text",
                )
            )
            continue
        pending.append(
            DocumentWrite(
                external_id=document.external_id,
                source=document.source,
                title=document.title,
                content_hash=content_hash,
                metadata=dict(document.metadata),
                chunks=[
                    {
                        "position": chunk.position,
                        "text": chunk.text,
                        "title": chunk.title,
                        "metadata": {**document.metadata, **chunk.metadata},
                        "embed_text": chunk.embed_text,
                        "text_hash": text_hash(chunk.embed_text),
                    }
                    for chunk in chunks
                ],
                document_id=previous[0] if previous is not None else None,
            )
        )
    return pending


async def ingest_paths(
    *,
    db: Database,
    embedder: Embedder,
    chatbot_id: str,
    index_name: str,
    paths: Sequence[Path],
    id_column: str | None = None,
    csv_options: CsvOptions | None = None,
    json_options: JsonOptions | None = None,
    chunking: ChunkingOptions | None = None,
    prune: bool = False,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    progress: Callable[[IngestProgress], None] | None = None,
) -> IngestReport:
    """Ingest files into the index ``index_name`` of ``chatbot_id`` (created when missing).

    Args:
        db: the database.
        embedder: the embedding model; must be the one that built the index, if it exists.
        chatbot_id: the owning chatbot.
        index_name: the knowledge index name (e.g. ``products``, ``policies``).
        paths: files in any format :func:`~samtale.knowledge.parsers.parse_file` reads (CSV,
            Shopify CSV, Markdown, text, HTML, PDF, JSON Lines, JSON).
        id_column: the CSV column or JSON field holding document ids (overrides
            ``csv_options.id_column`` and ``json_options.id_field``).
        csv_options: which CSV columns are embedded and which are metadata only.
        json_options: the id, text and title fields of JSON records.
        chunking: chunk sizes (part of each document's content hash: new sizes re-chunk).
        prune: delete documents of the index that none of ``paths`` contains any more; skipped
            (and reported) when a file failed, so a broken file never empties an index.
        max_file_bytes: per-file size limit in bytes (default 50 MB).
        progress: called with :class:`IngestProgress` as files are read and chunks embedded.

    Returns:
        An :class:`IngestReport`; per-file and per-document failures are in its ``errors``.

    Raises:
        EmbedderMismatchError: the index exists and was built by another embedder.
        EmbeddingError: the embedder failed (nothing of the failing group is written).
    """
    started = time.perf_counter()
    report = IngestReport(chatbot_id=chatbot_id, index_name=index_name, files_total=len(paths))
    options = csv_options or CsvOptions()
    record_options = json_options or JsonOptions()
    if id_column is not None:
        options = dataclasses.replace(options, id_column=id_column)
        record_options = dataclasses.replace(record_options, id_field=id_column)
    chunk_options = chunking or ChunkingOptions()
    head = await get_or_create_index(db, chatbot_id=chatbot_id, index_name=index_name, embedder=embedder)
    documents = await _parse_all(
        paths,
        csv_options=options,
        json_options=record_options,
        max_file_bytes=max_file_bytes,
        report=report,
        progress=progress,
    )
    stored = await stored_hashes(db, index_id=head.id)
    pending = await asyncio.to_thread(_prepare, documents, stored, chunk_options, report)

    total = sum(len(doc.chunks) for doc in pending)
    done = 0

    def advance(count: int) -> None:
        nonlocal done
        done += count
        if progress is not None:
            progress(IngestProgress(phase="embedding", done=done, total=total))

    if progress is not None:
        progress(IngestProgress(phase="embedding", done=0, total=total))
    group: list[DocumentWrite] = []
    for position, doc in enumerate(pending):
        group.append(doc)
        if sum(len(d.chunks) for d in group) >= WRITE_GROUP_CHUNKS or position == len(pending) - 1:
            await _embed_and_write(db=db, embedder=embedder, head=head, group=group, report=report, advance=advance)
            group = []

    if prune:
        if report.files_failed:
            report.errors.append(
                IngestError(source="*", message="prune skipped: a file failed, so its documents were kept")
            )
        else:
            present = {document.external_id for document in documents}
            gone = [doc_id for external_id, (doc_id, _) in stored.items() if external_id not in present]
            report.documents_removed = await remove_documents(db, head=head, document_ids=gone)

    async with db.session() as session:
        current = await find_index(session, chatbot_id=chatbot_id, index_name=index_name)
    report.index_version = current.version if current is not None else head.version
    report.seconds = time.perf_counter() - started
    if progress is not None:
        progress(IngestProgress(phase="done", done=done, total=total))
    return report


async def _embed_and_write(
    *,
    db: Database,
    embedder: Embedder,
    head: IndexHead,
    group: list[DocumentWrite],
    report: IngestReport,
    advance: Callable[[int], None],
) -> None:
    chunks = [chunk for doc in group for chunk in doc.chunks]
    vectors, embedded = await cached_embeddings(
        db=db,
        embedder=embedder,
        texts=[chunk["embed_text"] for chunk in chunks],
        hashes=[chunk["text_hash"] for chunk in chunks],
        on_embedded=advance,
    )
    for chunk in chunks:
        chunk["embedding"] = vector_to_bytes(vectors[chunk["text_hash"]])
    report.chunks_embedded += embedded
    report.chunks_written += await write_documents(db, head=head, documents=group)
    for doc in group:
        if doc.document_id is None:
            report.documents_added += 1
        else:
            report.documents_updated += 1
