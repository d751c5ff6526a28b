"""files: uploaded files' rows (name, mime, bytes, sha256, size in pixels, storage backend and key)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 09:00:00.000000

One new table and its indexes, nothing else: the bytes live in a file storage backend
(``samtale.files``). ``shopper_id`` cascades from ``users``; the conversation and the message
are SET NULL, so a row (and the key of its bytes) never disappears behind the file service's back.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import samtale.storage.base

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "files",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("chatbot_id", sa.String(length=64), nullable=False),
        sa.Column("shopper_id", sa.String(length=36), nullable=True),
        sa.Column("conversation_session_id", sa.String(length=64), nullable=True),
        sa.Column("message_id", sa.String(length=36), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("mime", sa.String(length=127), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("storage_backend", sa.String(length=16), nullable=False),
        sa.Column("storage_key", sa.String(length=512), nullable=False),
        sa.Column("processed", sa.Boolean(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", samtale.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["shopper_id"], ["users.id"], name=op.f("fk_files_shopper_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["conversation_session_id"],
            ["conversation_sessions.id"],
            name=op.f("fk_files_conversation_session_id_conversation_sessions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_files_message_id_messages"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_files")),
        sa.UniqueConstraint("storage_backend", "storage_key", name="uq_files_storage_key"),
    )
    op.create_index("ix_files_chatbot_sha256", "files", ["chatbot_id", "sha256"], unique=False)
    op.create_index("ix_files_conversation", "files", ["conversation_session_id", "created_at"], unique=False)
    op.create_index(op.f("ix_files_shopper_id"), "files", ["shopper_id"], unique=False)
    op.create_index(op.f("ix_files_message_id"), "files", ["message_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_files_message_id"), table_name="files")
    op.drop_index(op.f("ix_files_shopper_id"), table_name="files")
    op.drop_index("ix_files_conversation", table_name="files")
    op.drop_index("ix_files_chatbot_sha256", table_name="files")
    op.drop_table("files")
