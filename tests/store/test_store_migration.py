"""Migration 0004 on a database that already holds conversations: upgrade keeps every row and
fills the new columns, the schema then matches the models exactly, and downgrade → upgrade works.

Runs on SQLite, and on PostgreSQL when ``SAMTALE_TEST_POSTGRES_URL`` is set (a fresh database).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import samtale.storage.models  # noqa: F401  (registers every table)
from samtale.conversation.shoppers import shopper_id
from samtale.storage.base import Base
from samtale.storage.fulltext import include_object
from samtale.storage.migrate import alembic_config, upgrade_database
from tests.conftest import POSTGRES_ADMIN_URL, _pg_admin_execute, _pg_url


@pytest.fixture
def empty_database_url(tmp_path: Path) -> Iterator[str]:
    """An empty database (no tables) for migrating step by step."""
    if POSTGRES_ADMIN_URL:
        name = f"samtale_m_{uuid.uuid4().hex[:12]}"
        _pg_admin_execute(f'CREATE DATABASE "{name}"')
        yield _pg_url(name)
        _pg_admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        yield f"sqlite+aiosqlite:///{tmp_path / 'migrate.db'}"


def _sync_engine(url: str) -> sa.Engine:
    return sa.create_engine(url.replace("+aiosqlite", "").replace("+asyncpg", "+psycopg2"))


def _seed_0003_rows(engine: sa.Engine) -> None:
    """A conversation as 0003 stored it: two streams, and sequences with a duplicate and a gap."""
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO conversation_sessions (id, chatbot_id, user_id, status, is_archived, is_pinned, state,"
                " created_at, updated_at) VALUES ('s1', 'shop', 'u1', 'active', false, false, '{}',"
                " '2024-01-01 10:00:00+00', '2024-01-01 10:05:00+00')"
            )
        )
        for number, (message_id, sequence) in enumerate([("m1", 1), ("m2", 2), ("m3", 2), ("m4", 5)]):
            conn.execute(
                sa.text(
                    "INSERT INTO messages (id, chatbot_id, session_id, sequence, role, content, status, extra,"
                    f" created_at) VALUES ('{message_id}', 'shop', 's1', {sequence}, 'user', 'hi', 'ok', '{{}}',"
                    f" '2024-01-01 10:00:0{number}+00')"
                )
            )
        conn.execute(
            sa.text(
                "INSERT INTO streaming_sessions (id, chatbot_id, conversation_session_id, token_hash, status,"
                " flow_type, last_event_id, created_at) VALUES"
                " ('st2', 'shop', 's1', 'second', 'completed', 'main', 1, '2024-01-01 10:04:00+00'),"
                " ('st1', 'shop', 's1', 'first', 'completed', 'main', 1, '2024-01-01 10:00:00+00')"
            )
        )


def test_upgrade_carries_conversations_over_and_downgrade_reverses_it(empty_database_url: str) -> None:
    upgrade_database(empty_database_url, "0003")
    engine = _sync_engine(empty_database_url)
    try:
        _seed_0003_rows(engine)
        command.upgrade(alembic_config(empty_database_url), "head")
        with engine.connect() as conn:
            sequences = conn.execute(sa.text("SELECT id, sequence FROM messages ORDER BY sequence")).all()
            session = conn.execute(
                sa.text("SELECT message_count, token_hash, shopper_id, last_message_at FROM conversation_sessions")
            ).one()
            users = conn.execute(sa.text("SELECT id, chatbot_id, external_id FROM users")).all()
            differences = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True, "include_object": include_object}),
                Base.metadata,
            )
        assert [tuple(row) for row in sequences] == [("m1", 1), ("m2", 2), ("m3", 3), ("m4", 4)]
        assert session[0] == 4  # the version counts the stored messages
        assert session[1] == "first"  # the first turn's token keeps working
        assert session[2] == shopper_id(chatbot_id="shop", user_id="u1")
        assert session[3] is not None
        assert [tuple(row) for row in users] == [(shopper_id(chatbot_id="shop", user_id="u1"), "shop", "u1")]
        assert differences == []  # the migrated schema is exactly the models'

        command.downgrade(alembic_config(empty_database_url), "0003")
        with engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
            columns = {column["name"] for column in sa.inspect(conn).get_columns("conversation_sessions")}
            kept = conn.execute(sa.text("SELECT count(*) FROM messages")).scalar_one()
        assert "users" not in tables and "message_edits" not in tables
        assert "message_count" not in columns and kept == 4
        command.upgrade(alembic_config(empty_database_url), "head")
    finally:
        engine.dispose()
