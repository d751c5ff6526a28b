"""Uploaded files (seed 003 table ``files``): what a shopper uploaded, and where its bytes live."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from samtale.storage.base import Base, UTCDateTime, new_id, utcnow


class UploadedFile(Base):
    """One uploaded file of a chatbot: its metadata here, its bytes in a file storage backend.

    ``name`` is the name the client gave (untrusted: shown, never used as a path or key);
    ``mime`` the declared type (the images issue checks the bytes); ``size_bytes`` (column
    ``bytes``) and ``sha256`` (hex) are computed from the bytes when stored.
    ``storage_backend`` (``local`` | ``s3``) and ``storage_key`` (generated, unique) say where the
    bytes are; no two rows share bytes, so deleting a row's bytes never breaks another row.
    ``processed`` and ``description`` are filled by the images issue (the vision model's
    description).

    Foreign keys: ``shopper_id`` → ``users.id`` ON DELETE CASCADE (seed 003: a shopper's files are
    theirs); ``conversation_session_id`` and ``message_id`` ON DELETE SET NULL, so a purged
    conversation never drops a row silently while its bytes stay behind: rows go through
    ``samtale.files.service``, which deletes the bytes first. Deleting a ``users`` row directly
    would drop its files' rows but not their bytes: erase a shopper with
    ``delete_files_of_shopper`` first.

    Indexes, one per query that runs: ``ix_files_chatbot_sha256`` (the same bytes again, per
    chatbot), ``ix_files_shopper_id`` (a shopper's files; the cascade from ``users``),
    ``ix_files_conversation`` (a conversation's files in upload order; the SET NULL from
    ``conversation_sessions``), ``ix_files_message_id`` (the SET NULL from ``messages``).
    """

    __tablename__ = "files"
    __table_args__ = (
        UniqueConstraint("storage_backend", "storage_key", name="uq_files_storage_key"),
        Index("ix_files_chatbot_sha256", "chatbot_id", "sha256"),
        Index("ix_files_conversation", "conversation_session_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    chatbot_id: Mapped[str] = mapped_column(String(64))
    shopper_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), nullable=True, index=True
    )
    conversation_session_id: Mapped[str | None] = mapped_column(
        ForeignKey("conversation_sessions.id", ondelete="SET NULL"), nullable=True
    )
    message_id: Mapped[str | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"), nullable=True, index=True
    )
    name: Mapped[str] = mapped_column(String(255))
    mime: Mapped[str] = mapped_column(String(127))
    size_bytes: Mapped[int] = mapped_column("bytes", BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    storage_backend: Mapped[str] = mapped_column(String(16))
    storage_key: Mapped[str] = mapped_column(String(512))
    processed: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
