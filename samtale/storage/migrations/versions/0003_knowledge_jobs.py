"""knowledge_jobs: background ingestion and re-index jobs of knowledge indexes

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 17:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import samtale.storage.base

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "knowledge_jobs",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("chatbot_id", sa.String(length=64), nullable=False),
        sa.Column("index_name", sa.String(length=100), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=30), nullable=False),
        sa.Column("phase", sa.String(length=20), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("files", _json(), nullable=False),
        sa.Column("errors", _json(), nullable=False),
        sa.Column("result", _json(), nullable=True),
        sa.Column("worker", sa.String(length=200), nullable=False),
        sa.Column("created_at", samtale.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("started_at", samtale.storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("finished_at", samtale.storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", samtale.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_jobs")),
    )
    with op.batch_alter_table("knowledge_jobs", schema=None) as batch_op:
        batch_op.create_index("ix_knowledge_jobs_chatbot_created", ["chatbot_id", "created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("knowledge_jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_knowledge_jobs_chatbot_created")
    op.drop_table("knowledge_jobs")
