"""maintenance_runs: one row per scheduled job firing per worker

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 16:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import samtale.storage.base

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "maintenance_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job", sa.String(length=64), nullable=False),
        sa.Column("tick_at", samtale.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("worker", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "result", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", samtale.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", samtale.storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", samtale.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_maintenance_runs")),
    )
    with op.batch_alter_table("maintenance_runs", schema=None) as batch_op:
        batch_op.create_index("ix_maintenance_runs_job_tick", ["job", "tick_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_maintenance_runs_created_at"), ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("maintenance_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_maintenance_runs_created_at"))
        batch_op.drop_index("ix_maintenance_runs_job_tick")
    op.drop_table("maintenance_runs")
