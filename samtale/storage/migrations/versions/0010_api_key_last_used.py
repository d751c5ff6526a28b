"""api_keys.last_used_at: when an admin key was last presented

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 19:00:00.000000

``samtale apikeys list`` and ``GET /api/admin/apikeys`` show it so an operator can tell a key
still in use from one that can be revoked. Written at most once a minute per key
(``samtale.chatbots.apikeys.LAST_USED_RESOLUTION``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import samtale.storage.base

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("last_used_at", samtale.storage.base.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("last_used_at")
