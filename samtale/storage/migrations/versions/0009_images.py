"""conversation_processing_metrics.image_ms: the time a turn spent on its image

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 19:00:00.000000

A message with a photo (issue 14) is described by the chatbot's vision model before it is
routed; that phase is timed like the others. Turns without an image leave it NULL. The image's
description itself needs no column: it is stored on the file's row (``files.description``,
``processed``, migration 0005) and in the user message's ``extra`` JSON.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("conversation_processing_metrics") as batch:
        batch.add_column(sa.Column("image_ms", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("conversation_processing_metrics") as batch:
        batch.drop_column("image_ms")
