"""Performance and error tables: processing metrics per turn, categorised error logs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from samtale.storage.base import Base, JSONColumn, JSONDict, UTCDateTime, utcnow


class ConversationProcessingMetrics(Base):
    """Phase timings of one turn in milliseconds (seed table ``conversation_processing_metrics``).

    Phases: ``config_ms`` (chatbot config), ``image_ms`` (describing the message's image; None
    without one, migration 0009), ``routing_ms``, ``retrieval_ms``, ``order_ms``,
    ``prompt_ms``, ``llm_ttft_ms`` (request sent to first token from the provider),
    ``stream_ms`` (first to last token), ``persist_ms`` (writing the turn, measured by the
    writer). ``ttft_ms`` is from receiving the message to the first token event; ``total_ms``
    from receiving the message to the ``end`` event.
    """

    __tablename__ = "conversation_processing_metrics"
    __table_args__ = (Index("ix_metrics_chatbot_created", "chatbot_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    chatbot_id: Mapped[str] = mapped_column(String(64))
    session_id: Mapped[str] = mapped_column(String(64))
    streaming_session_id: Mapped[str] = mapped_column(String(36), index=True)
    flow_type: Mapped[str] = mapped_column(String(32))
    route_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    routing_strategy: Mapped[str | None] = mapped_column(String(32), nullable=True)
    speculative_hit: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    provider: Mapped[str] = mapped_column(String(32))
    model: Mapped[str | None] = mapped_column(String(100), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="ok")
    error_category: Mapped[str | None] = mapped_column(String(32), nullable=True)
    config_ms: Mapped[float] = mapped_column(Float, default=0.0)
    image_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    routing_ms: Mapped[float] = mapped_column(Float, default=0.0)
    retrieval_ms: Mapped[float] = mapped_column(Float, default=0.0)
    order_ms: Mapped[float] = mapped_column(Float, default=0.0)
    prompt_ms: Mapped[float] = mapped_column(Float, default=0.0)
    llm_ttft_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    stream_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    persist_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    ttft_ms: Mapped[float | None] = mapped_column(Float, nullable=True)
    total_ms: Mapped[float] = mapped_column(Float, default=0.0)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    tokens_per_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ErrorLog(Base):
    """A categorised error (seed table ``error_logs``); context never holds secrets or PII."""

    __tablename__ = "error_logs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    chatbot_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    category: Mapped[str] = mapped_column(String(32), index=True)
    code: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    recovery: Mapped[str | None] = mapped_column(Text, nullable=True)
    context: Mapped[JSONDict] = mapped_column(JSONColumn, default=dict)
    system_state: Mapped[JSONDict] = mapped_column(JSONColumn, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class MaintenanceRun(Base):
    """One firing of a scheduled maintenance job in one worker (``samtale.observability.maintenance``).

    ``status`` is ``ok`` or ``failed`` for the worker that took the job's lock and ran it, and
    ``skipped`` for a worker that fired the same tick but found the lock held, so each tick of a
    job has exactly one ``ok``/``failed`` row per deployment and one row per live worker.
    ``tick_at`` is the scheduled (wall-clock) time of the tick; ``worker`` is ``host:pid``;
    ``result`` holds the job's counts (rows deleted, entries expired).
    """

    __tablename__ = "maintenance_runs"
    __table_args__ = (Index("ix_maintenance_runs_job_tick", "job", "tick_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job: Mapped[str] = mapped_column(String(64))
    tick_at: Mapped[datetime] = mapped_column(UTCDateTime)
    worker: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    result: Mapped[JSONDict] = mapped_column(JSONColumn, default=dict)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
