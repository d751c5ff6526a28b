"""memories, and full-text search over messages, conversation titles and memories in the chatbot's language

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 09:00:00.000000

Portable: the ``memories`` table (seed 003), a ``language`` column on ``messages`` and
``conversation_sessions`` (filled from each row's chatbot), and the partial index
``ix_conversation_sessions_deleted`` of soft-deleted conversations.

PostgreSQL: stored generated ``tsvector`` columns (``messages.search_vector``,
``conversation_sessions.title_vector``, ``memories.search_vector``) with ``to_tsvector('danish'
| 'english', …)`` picked by the row's ``language``, each with a GIN index;
``ix_messages_search_recent``, a chatbot's messages newest first carrying their ``tsvector``
(a staff search for a common word reads it without touching the table); a GIN index on
``memories.tags``; and, where ``CREATE EXTENSION pg_trgm`` is allowed, a trigram index on
conversation titles (skipped with a log line otherwise).

SQLite: per kind a table of stemmed documents (``*_search_docs``, cascading from its source
row) and an external-content FTS5 table over it kept in step by triggers. Existing messages and
titles are stemmed and indexed here, in Python (``samtale.storage.fulltext``).
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import samtale.storage.base

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

logger = logging.getLogger("alembic.runtime.migration")

# Frozen here: the generated expressions and the SQLite DDL (a migration must not change when the code does).
_CONFIG = "CASE language WHEN 'da' THEN 'danish'::regconfig ELSE 'english'::regconfig END"
PG_COLUMNS = {
    ("messages", "search_vector"): f"to_tsvector({_CONFIG}, content)",
    ("conversation_sessions", "title_vector"): f"to_tsvector({_CONFIG}, coalesce(title, ''))",
    ("memories", "search_vector"): (
        f"setweight(to_tsvector({_CONFIG}, question), 'A') || setweight(to_tsvector({_CONFIG}, answer), 'B')"
        f" || setweight(to_tsvector({_CONFIG}, tags), 'A')"
    ),
}
PG_INDEXES = {
    "ix_messages_search": "messages USING gin (search_vector)",
    "ix_messages_search_recent": "messages (chatbot_id, created_at) INCLUDE (id, session_id, role, search_vector)",
    "ix_conversation_sessions_title_search": "conversation_sessions USING gin (title_vector)",
    "ix_memories_search": "memories USING gin (search_vector)",
    "ix_memories_tags": "memories USING gin (tags jsonb_path_ops)",
}

SQLITE_KINDS = {
    # kind: (source table, key column, key type, indexed columns)
    "message": ("messages", "message_id", "VARCHAR(36)", ("scope", "body")),
    "title": ("conversation_sessions", "session_id", "VARCHAR(64)", ("scope", "body")),
    "memory": ("memories", "memory_id", "VARCHAR(36)", ("scope", "question", "answer", "tags")),
}


def _json() -> sa.types.TypeEngine:  # type: ignore[type-arg]
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "memories",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("chatbot_id", sa.String(length=64), nullable=False),
        sa.Column("shopper_id", sa.String(length=36), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("tags", _json(), nullable=False),
        sa.Column("importance", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=2), server_default="en", nullable=False),
        sa.Column("created_at", samtale.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", samtale.storage.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("importance BETWEEN 1 AND 5", name=op.f("ck_memories_importance_range")),
        sa.ForeignKeyConstraint(
            ["shopper_id"], ["users.id"], name=op.f("fk_memories_shopper_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_memories")),
    )
    op.create_index(
        "ix_memories_shopper_importance", "memories", ["chatbot_id", "shopper_id", "importance", "updated_at"]
    )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("language", sa.String(length=2), server_default="en", nullable=False))
    with op.batch_alter_table("conversation_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("language", sa.String(length=2), server_default="en", nullable=False))
        batch_op.create_index(
            "ix_conversation_sessions_deleted",
            ["chatbot_id", "deleted_at"],
            unique=False,
            postgresql_where=sa.text("deleted_at IS NOT NULL"),
            sqlite_where=sa.text("deleted_at IS NOT NULL"),
        )

    chatbots = sa.table("chatbots", sa.column("id"), sa.column("language"))
    danish = sa.select(chatbots.c.id).where(chatbots.c.language == "da")
    for name in ("messages", "conversation_sessions"):
        table = sa.table(name, sa.column("chatbot_id"), sa.column("language"))
        op.execute(table.update().where(table.c.chatbot_id.in_(danish)).values(language="da"))

    if op.get_bind().dialect.name == "postgresql":
        _postgresql_upgrade()
    else:
        _sqlite_upgrade()


def _postgresql_upgrade() -> None:
    for (table, column), expression in PG_COLUMNS.items():
        op.execute(f"ALTER TABLE {table} ADD COLUMN {column} tsvector GENERATED ALWAYS AS ({expression}) STORED")
    for name, target in PG_INDEXES.items():
        op.execute(f"CREATE INDEX {name} ON {target}")
    bind = op.get_bind()
    try:
        with bind.begin_nested():
            bind.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except sa.exc.DBAPIError as exc:
        logger.warning(
            "pg_trgm cannot be created here (%s): conversation titles get no trigram index; substring title "
            "search still works, unindexed",
            str(exc.orig).strip().splitlines()[0],
        )
        return
    op.execute("CREATE INDEX ix_conversation_sessions_title_trgm ON conversation_sessions USING gin (title gin_trgm_ops)")


def _sqlite_upgrade() -> None:
    for kind, (source, key, key_type, columns) in SQLITE_KINDS.items():
        docs, fts = f"{kind}_search_docs", f"{kind}_search"
        text_columns = ", ".join(f"{column} TEXT NOT NULL" for column in columns)
        listed = ", ".join(columns)
        new_values = ", ".join(f"new.{column}" for column in columns)
        old_values = ", ".join(f"old.{column}" for column in columns)
        op.execute(
            f"CREATE TABLE {docs} (id INTEGER PRIMARY KEY, {key} {key_type} NOT NULL UNIQUE"
            f" REFERENCES {source}(id) ON DELETE CASCADE, {text_columns})"
        )
        op.execute(
            f"CREATE VIRTUAL TABLE {fts} USING fts5({listed}, content='{docs}', content_rowid='id',"
            " tokenize='unicode61 remove_diacritics 0')"
        )
        op.execute(
            f"CREATE TRIGGER {docs}_ai AFTER INSERT ON {docs} BEGIN"
            f" INSERT INTO {fts}(rowid, {listed}) VALUES (new.id, {new_values}); END"
        )
        op.execute(
            f"CREATE TRIGGER {docs}_ad AFTER DELETE ON {docs} BEGIN"
            f" INSERT INTO {fts}({fts}, rowid, {listed}) VALUES ('delete', old.id, {old_values}); END"
        )
        op.execute(
            f"CREATE TRIGGER {docs}_au AFTER UPDATE ON {docs} BEGIN"
            f" INSERT INTO {fts}({fts}, rowid, {listed}) VALUES ('delete', old.id, {old_values});"
            f" INSERT INTO {fts}(rowid, {listed}) VALUES (new.id, {new_values}); END"
        )
    _index_existing_rows()


def _index_existing_rows() -> None:
    """Stem and index the messages and titles stored before this revision (SQLite), 5,000 at a time."""
    from samtale.storage.fulltext import analyzer, chatbot_scope, shopper_scope

    bind = op.get_bind()
    messages = bind.execute(
        sa.text(
            "SELECT m.id, m.chatbot_id, s.shopper_id, m.content, m.language FROM messages m"
            " JOIN conversation_sessions s ON s.id = m.session_id ORDER BY m.created_at, m.id"
        )
    )
    while rows := messages.fetchmany(5000):
        bind.execute(
            sa.text("INSERT INTO message_search_docs (message_id, scope, body) VALUES (:key, :scope, :body)"),
            [
                {
                    "key": message_id,
                    "scope": f"{chatbot_scope(chatbot_id)} {shopper_scope(shopper or '')}",
                    "body": analyzer(language).document(content),
                }
                for message_id, chatbot_id, shopper, content, language in rows
            ],
        )
    titles = bind.execute(
        sa.text(
            "SELECT id, chatbot_id, shopper_id, title, language FROM conversation_sessions WHERE title IS NOT NULL"
            " ORDER BY created_at, id"
        )
    )
    while rows := titles.fetchmany(5000):
        bind.execute(
            sa.text("INSERT INTO title_search_docs (session_id, scope, body) VALUES (:key, :scope, :body)"),
            [
                {
                    "key": session_id,
                    "scope": f"{chatbot_scope(chatbot_id)} {shopper_scope(shopper or '')}",
                    "body": analyzer(language).document(title),
                }
                for session_id, chatbot_id, shopper, title, language in rows
            ],
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_conversation_sessions_title_trgm")
        for name in PG_INDEXES:
            op.execute(f"DROP INDEX IF EXISTS {name}")
        for table, column in PG_COLUMNS:
            op.execute(f"ALTER TABLE {table} DROP COLUMN IF EXISTS {column}")
    else:
        for kind in SQLITE_KINDS:
            op.execute(f"DROP TABLE IF EXISTS {kind}_search")
            op.execute(f"DROP TABLE IF EXISTS {kind}_search_docs")
    with op.batch_alter_table("conversation_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_conversation_sessions_deleted")
        batch_op.drop_column("language")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("language")
    op.drop_index("ix_memories_shopper_importance", table_name="memories")
    op.drop_table("memories")
