"""Migration 0005_files on a database that already holds a conversation: the table arrives with
its keys and indexes (exactly the model's), its foreign keys behave as documented (a shopper's
files cascade, a conversation's are kept with NULL), and downgrade drops it and nothing else.

Runs on SQLite, and on PostgreSQL when ``SAMTALE_TEST_POSTGRES_URL`` is set (a fresh database).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import samtale.storage.models  # noqa: F401  (registers every table)
from samtale.storage.base import Base
from samtale.storage.fulltext import include_object
from samtale.storage.migrate import alembic_config, upgrade_database
from tests.store.test_store_migration import _sync_engine, empty_database_url

__all__ = ["empty_database_url"]  # the fixture, shared with the 0004 migration test

FILE_ROW = (
    "INSERT INTO files (id, chatbot_id, shopper_id, conversation_session_id, name, mime, bytes, sha256,"
    " storage_backend, storage_key, processed, created_at) VALUES ('{id}', 'shop', 'u-1', 's1', 'cat.png',"
    " 'image/png', 3, '{sha}', 'local', 'shop/2026/11/{id}', false, '2026-11-23 10:00:00+00')"
)


def test_the_files_table_arrives_with_its_indexes_and_keys_and_leaves_alone(empty_database_url: str) -> None:
    upgrade_database(empty_database_url, "0004")
    engine = _sync_engine(empty_database_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO users (id, chatbot_id, external_id, order_failed_attempts, order_failed_lookups,"
                    " created_at) VALUES ('u-1', 'shop', 'anna', 0, '[]', '2026-11-23 09:00:00+00')"
                )
            )
            conn.execute(
                sa.text(
                    "INSERT INTO conversation_sessions (id, chatbot_id, user_id, shopper_id, status, is_archived,"
                    " is_pinned, state, message_count, created_at, updated_at) VALUES ('s1', 'shop', 'anna', 'u-1',"
                    " 'active', false, false, '{}', 0, '2026-11-23 09:00:00+00', '2026-11-23 09:00:00+00')"
                )
            )
        command.upgrade(alembic_config(empty_database_url), "head")
        with engine.begin() as conn:
            if conn.dialect.name == "sqlite":
                conn.execute(sa.text("PRAGMA foreign_keys=ON"))
            conn.execute(sa.text(FILE_ROW.format(id="f1", sha="a" * 64)))
            conn.execute(sa.text(FILE_ROW.format(id="f2", sha="b" * 64)))
            indexes = {index["name"] for index in sa.inspect(conn).get_indexes("files")}
            options = {"compare_type": True, "include_object": include_object}
            differences = compare_metadata(MigrationContext.configure(conn, opts=options), Base.metadata)
            conn.execute(sa.text("DELETE FROM conversation_sessions WHERE id = 's1'"))
            kept = conn.execute(sa.text("SELECT id, conversation_session_id FROM files ORDER BY id")).all()
            conn.execute(sa.text("DELETE FROM users WHERE id = 'u-1'"))
            cascaded = conn.execute(sa.text("SELECT count(*) FROM files")).scalar_one()
        assert differences == []  # the migrated schema is exactly the models'
        assert {"ix_files_chatbot_sha256", "ix_files_conversation", "ix_files_shopper_id", "ix_files_message_id"} <= (
            indexes
        )
        assert [tuple(row) for row in kept] == [("f1", None), ("f2", None)]  # SET NULL
        assert cascaded == 0  # CASCADE from users

        command.downgrade(alembic_config(empty_database_url), "0004")
        with engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
        assert "files" not in tables and {"users", "conversation_sessions", "messages"} <= tables
        command.upgrade(alembic_config(empty_database_url), "head")
    finally:
        engine.dispose()
