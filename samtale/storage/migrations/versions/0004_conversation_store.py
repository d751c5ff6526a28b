"""conversation store: shoppers (users), conversation version and token, gap-free message sequences, edits

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 09:00:00.000000

Existing rows are carried over: every conversation's shopper gets a ``users`` row (its id derived
from chatbot and user id as ``samtale.conversation.shoppers.shopper_id`` derives it), its
``message_count`` and ``last_message_at`` are counted from its messages, its ``token_hash`` is the
token of its first stream (the token its first turn returned), and message sequences that had a
gap or a duplicate are renumbered 1, 2, 3… in their stored order before the unique index is built.
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import samtale.storage.base

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of samtale.conversation.shoppers.SHOPPER_NAMESPACE (a migration must not change
# when the code does).
SHOPPER_NAMESPACE = uuid.UUID("5d1c7f3e-6b1a-4c2e-9a57-2f8e0c4b9d61")


def _shopper_id(chatbot_id: str, user_id: str) -> str:
    return str(uuid.uuid5(SHOPPER_NAMESPACE, f"{chatbot_id}\x00{user_id}"))


def _json() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("chatbot_id", sa.String(length=64), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("username", sa.String(length=100), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("verified_at", samtale.storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_seen_at", samtale.storage.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("order_failed_attempts", sa.Integer(), nullable=False),
        sa.Column("order_failed_lookups", _json(), nullable=False),
        sa.Column("created_at", samtale.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("chatbot_id", "external_id", name="uq_users_chatbot_external"),
        sa.UniqueConstraint("chatbot_id", "username", name="uq_users_chatbot_username"),
        sa.UniqueConstraint("chatbot_id", "email", name="uq_users_chatbot_email"),
    )
    op.create_table(
        "message_edits",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("chatbot_id", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.String(length=36), nullable=False),
        sa.Column("previous_content", sa.Text(), nullable=False),
        sa.Column("edited_at", samtale.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_message_edits_message_id_messages"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_edits")),
    )
    with op.batch_alter_table("message_edits", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_message_edits_message_id"), ["message_id"], unique=False)

    with op.batch_alter_table("chatbots", schema=None) as batch_op:
        batch_op.add_column(sa.Column("identity_secret_encrypted", sa.LargeBinary(), nullable=True))

    with op.batch_alter_table("conversation_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("shopper_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("message_count", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("token_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("last_message_at", samtale.storage.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("deleted_at", samtale.storage.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_conversation_sessions_shopper_id_users"), "users", ["shopper_id"], ["id"], ondelete="SET NULL"
        )
        batch_op.create_index(batch_op.f("ix_conversation_sessions_shopper_id"), ["shopper_id"], unique=False)
        batch_op.create_index(
            "ix_conversation_sessions_user_active",
            ["chatbot_id", "user_id", "last_message_at"],
            unique=False,
            postgresql_where=sa.text("is_archived = false AND deleted_at IS NULL"),
            sqlite_where=sa.text("is_archived = 0 AND deleted_at IS NULL"),
        )
        batch_op.create_index(
            "ix_conversation_sessions_user_pinned",
            ["chatbot_id", "user_id", "last_message_at"],
            unique=False,
            postgresql_where=sa.text("is_pinned = true AND deleted_at IS NULL"),
            sqlite_where=sa.text("is_pinned = 1 AND deleted_at IS NULL"),
        )

    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("is_edited", sa.Boolean(), nullable=False, server_default=sa.false()))

    _carry_over_rows()

    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_session_seq")
        batch_op.create_index("uq_messages_session_sequence", ["session_id", "sequence"], unique=True)


def _carry_over_rows() -> None:
    bind = op.get_bind()
    sessions = sa.table(
        "conversation_sessions",
        sa.column("id", sa.String),
        sa.column("chatbot_id", sa.String),
        sa.column("user_id", sa.String),
        sa.column("shopper_id", sa.String),
        sa.column("message_count", sa.Integer),
        sa.column("token_hash", sa.String),
        sa.column("last_message_at", samtale.storage.base.UTCDateTime(timezone=True)),
        sa.column("created_at", samtale.storage.base.UTCDateTime(timezone=True)),
        sa.column("updated_at", samtale.storage.base.UTCDateTime(timezone=True)),
    )
    messages = sa.table(
        "messages",
        sa.column("id", sa.String),
        sa.column("session_id", sa.String),
        sa.column("sequence", sa.Integer),
        sa.column("created_at", samtale.storage.base.UTCDateTime(timezone=True)),
    )
    streams = sa.table(
        "streaming_sessions",
        sa.column("conversation_session_id", sa.String),
        sa.column("token_hash", sa.String),
        sa.column("created_at", samtale.storage.base.UTCDateTime(timezone=True)),
    )
    users = sa.table(
        "users",
        sa.column("id", sa.String),
        sa.column("chatbot_id", sa.String),
        sa.column("external_id", sa.String),
        sa.column("last_seen_at", samtale.storage.base.UTCDateTime(timezone=True)),
        sa.column("order_failed_attempts", sa.Integer),
        sa.column("order_failed_lookups", _json()),
        sa.column("created_at", samtale.storage.base.UTCDateTime(timezone=True)),
    )
    owners = bind.execute(
        sa.select(
            sessions.c.chatbot_id,
            sessions.c.user_id,
            sa.func.min(sessions.c.created_at),
            sa.func.max(sessions.c.updated_at),
        ).group_by(sessions.c.chatbot_id, sessions.c.user_id)
    ).all()
    if owners:
        bind.execute(
            sa.insert(users),
            [
                {
                    "id": _shopper_id(chatbot_id, user_id),
                    "chatbot_id": chatbot_id,
                    "external_id": user_id,
                    "last_seen_at": last_seen,
                    "order_failed_attempts": 0,
                    "order_failed_lookups": [],
                    "created_at": first_seen,
                }
                for chatbot_id, user_id, first_seen, last_seen in owners
            ],
        )
        for chatbot_id, user_id, _first, _last in owners:
            bind.execute(
                sa.update(sessions)
                .where(sessions.c.chatbot_id == chatbot_id, sessions.c.user_id == user_id)
                .values(shopper_id=_shopper_id(chatbot_id, user_id))
            )

    # Renumber the conversations whose sequences are not exactly 1..n.
    uneven = (
        bind.execute(
            sa.select(messages.c.session_id)
            .group_by(messages.c.session_id)
            .having(
                sa.or_(
                    sa.func.min(messages.c.sequence) != 1,
                    sa.func.max(messages.c.sequence) != sa.func.count(),
                    sa.func.count(sa.distinct(messages.c.sequence)) != sa.func.count(),
                )
            )
        )
        .scalars()
        .all()
    )
    for session_id in uneven:
        ids = (
            bind.execute(
                sa.select(messages.c.id)
                .where(messages.c.session_id == session_id)
                .order_by(messages.c.sequence, messages.c.created_at, messages.c.id)
            )
            .scalars()
            .all()
        )
        for number, message_id in enumerate(ids, start=1):
            bind.execute(sa.update(messages).where(messages.c.id == message_id).values(sequence=number))

    count = (
        sa.select(sa.func.count()).where(messages.c.session_id == sessions.c.id).scalar_subquery()
    )
    last = sa.select(sa.func.max(messages.c.created_at)).where(messages.c.session_id == sessions.c.id)
    first_token = (
        sa.select(streams.c.token_hash)
        .where(streams.c.conversation_session_id == sessions.c.id)
        .order_by(streams.c.created_at)
        .limit(1)
    )
    bind.execute(
        sa.update(sessions).values(
            message_count=count,
            last_message_at=last.scalar_subquery(),
            token_hash=first_token.scalar_subquery(),
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("uq_messages_session_sequence")
        batch_op.create_index("ix_messages_session_seq", ["session_id", "sequence"], unique=False)
        batch_op.drop_column("is_edited")

    with op.batch_alter_table("conversation_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_conversation_sessions_user_pinned")
        batch_op.drop_index("ix_conversation_sessions_user_active")
        batch_op.drop_index(batch_op.f("ix_conversation_sessions_shopper_id"))
        batch_op.drop_constraint(batch_op.f("fk_conversation_sessions_shopper_id_users"), type_="foreignkey")
        batch_op.drop_column("deleted_at")
        batch_op.drop_column("last_message_at")
        batch_op.drop_column("token_hash")
        batch_op.drop_column("message_count")
        batch_op.drop_column("shopper_id")

    with op.batch_alter_table("chatbots", schema=None) as batch_op:
        batch_op.drop_column("identity_secret_encrypted")

    with op.batch_alter_table("message_edits", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_message_edits_message_id"))
    op.drop_table("message_edits")
    op.drop_table("users")
