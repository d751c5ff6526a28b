"""Knowledge tables: indexes, documents, chunks (with their vectors), the embedding cache.

Vectors are stored with their chunks as little-endian float32 bytes, so the database is the
source of truth and every worker can rebuild the same in-process index.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from samtale.storage.base import Base, JSONColumn, JSONDict, UTCDateTime, new_id, utcnow


class KnowledgeIndex(Base):
    """A named knowledge base of a chatbot, with the embedding model and dimension that built it."""

    __tablename__ = "knowledge_indexes"
    __table_args__ = (UniqueConstraint("chatbot_id", "name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    chatbot_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(100))
    embedding_model: Mapped[str] = mapped_column(String(200))
    dimension: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class KnowledgeDocument(Base):
    """A source document in an index, identified by ``external_id`` and its content hash."""

    __tablename__ = "knowledge_documents"
    __table_args__ = (UniqueConstraint("index_id", "external_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    chatbot_id: Mapped[str] = mapped_column(String(64), index=True)
    index_id: Mapped[str] = mapped_column(ForeignKey("knowledge_indexes.id", ondelete="CASCADE"), index=True)
    external_id: Mapped[str] = mapped_column(String(500))
    source: Mapped[str] = mapped_column(String(1000))
    title: Mapped[str | None] = mapped_column(String(500), nullable=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    doc_metadata: Mapped[JSONDict] = mapped_column("metadata", JSONColumn, default=dict)
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class KnowledgeChunk(Base):
    """A chunk of a document: its text, metadata and float32 embedding bytes."""

    __tablename__ = "knowledge_chunks"
    __table_args__ = (Index("ix_knowledge_chunks_index_doc", "index_id", "document_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    chatbot_id: Mapped[str] = mapped_column(String(64), index=True)
    index_id: Mapped[str] = mapped_column(ForeignKey("knowledge_indexes.id", ondelete="CASCADE"))
    document_id: Mapped[str] = mapped_column(ForeignKey("knowledge_documents.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(String(500), nullable=True)
    chunk_metadata: Mapped[JSONDict] = mapped_column("metadata", JSONColumn, default=dict)
    text_hash: Mapped[str] = mapped_column(String(64))
    embedding: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EmbeddingCacheEntry(Base):
    """A cached embedding of a text (SHA-256) under one model, so no text is embedded twice."""

    __tablename__ = "embedding_cache"

    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    text_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    embedding: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class KnowledgeJob(Base):
    """A background ingestion or re-index job of a knowledge index, with its progress and errors.

    The worker running the job writes its progress at least every few seconds (``updated_at`` is
    its heartbeat), so any worker can answer a status request and tell a stopped job from a slow one.
    """

    __tablename__ = "knowledge_jobs"
    __table_args__ = (Index("ix_knowledge_jobs_chatbot_created", "chatbot_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    chatbot_id: Mapped[str] = mapped_column(String(64))
    index_name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(30))
    phase: Mapped[str] = mapped_column(String(20), default="queued")
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    files: Mapped[list[str]] = mapped_column(JSONColumn, default=list)
    errors: Mapped[list[JSONDict]] = mapped_column(JSONColumn, default=list)
    result: Mapped[JSONDict | None] = mapped_column(JSONColumn, nullable=True)
    worker: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
