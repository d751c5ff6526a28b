"""conversation_analytics, message_feedback and conversation_csat: topic and score per turn, feedback

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 19:00:00.000000

Issue 15. ``conversation_analytics`` holds one row per turn, written by the analytics worker
after the turn was stored (topic, score, retrieval and timing figures, knowledge-gap signals);
``message_feedback`` one thumbs up/down per assistant message; ``conversation_csat`` one 1–5
satisfaction per conversation. All cascade from their conversation (erasure, retention).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import samtale.storage.base

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "conversation_analytics",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("chatbot_id", sa.String(length=64), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=True),
        sa.Column("streaming_session_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=True),
        sa.Column("topic_confidence", sa.Float(), nullable=False),
        sa.Column("topic_source", sa.String(length=16), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("score_source", sa.String(length=16), nullable=False),
        sa.Column("best_score", sa.Float(), nullable=True),
        sa.Column("sources", sa.Integer(), nullable=False),
        sa.Column("answered", sa.Boolean(), nullable=False),
        sa.Column("route_key", sa.String(length=64), nullable=True),
        sa.Column("speculative_hit", sa.Boolean(), nullable=True),
        sa.Column("ttft_ms", sa.Float(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error_category", sa.String(length=32), nullable=True),
        sa.Column("repeated", sa.Boolean(), nullable=False),
        sa.Column("asked_for_person", sa.Boolean(), nullable=False),
        sa.Column("created_at", samtale.storage.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["conversation_sessions.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id"),
        sa.UniqueConstraint("streaming_session_id"),
    )
    op.create_index(
        "ix_conversation_analytics_chatbot_created", "conversation_analytics", ["chatbot_id", "created_at"]
    )
    op.create_index("ix_conversation_analytics_session", "conversation_analytics", ["session_id", "created_at"])
    op.create_table(
        "message_feedback",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("chatbot_id", sa.String(length=64), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("rating", sa.String(length=4), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", samtale.storage.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", samtale.storage.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["conversation_sessions.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id", name="uq_message_feedback_message"),
    )
    op.create_index("ix_message_feedback_chatbot_id", "message_feedback", ["chatbot_id"])
    op.create_index("ix_message_feedback_session_id", "message_feedback", ["session_id"])
    op.create_table(
        "conversation_csat",
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("chatbot_id", sa.String(length=64), nullable=False),
        sa.Column("csat", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", samtale.storage.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", samtale.storage.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["session_id"], ["conversation_sessions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("session_id"),
    )
    op.create_index("ix_conversation_csat_chatbot_id", "conversation_csat", ["chatbot_id"])


def downgrade() -> None:
    op.drop_index("ix_conversation_csat_chatbot_id", table_name="conversation_csat")
    op.drop_table("conversation_csat")
    op.drop_index("ix_message_feedback_session_id", table_name="message_feedback")
    op.drop_index("ix_message_feedback_chatbot_id", table_name="message_feedback")
    op.drop_table("message_feedback")
    op.drop_index("ix_conversation_analytics_session", table_name="conversation_analytics")
    op.drop_index("ix_conversation_analytics_chatbot_created", table_name="conversation_analytics")
    op.drop_table("conversation_analytics")
