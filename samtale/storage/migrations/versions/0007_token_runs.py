"""streaming_events.event_count: a run of consecutive token events stored as one row

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 09:00:00.000000

A finished answer used to cost one ``streaming_events`` row per token (about 20 of a turn's 25
rows, and ~0.5 ms of the worker's CPU per turn at 50 clients, bench/README.md). The recorder
now stores each run of consecutive ``token`` events as one row whose ``event_id`` is the run's
first id and ``event_count`` its length, with the events' payloads and time offsets in ``data``
(``samtale.conversation.stored_streams``). Every existing row is one event: the column defaults to 1.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("streaming_events") as batch:
        batch.add_column(sa.Column("event_count", sa.Integer(), nullable=False, server_default="1"))


def downgrade() -> None:
    with op.batch_alter_table("streaming_events") as batch:
        batch.drop_column("event_count")
