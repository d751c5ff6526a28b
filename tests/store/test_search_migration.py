"""Migration 0006 on a store that already holds conversations: the messages of a Danish shop become
``language = 'da'`` and searchable by their stems at once (*leveringen* by *levering*), and
downgrade → upgrade leaves them searchable.

Runs on SQLite, and on PostgreSQL when ``SAMTALE_TEST_POSTGRES_URL`` is set (a fresh database).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from samtale.conversation.search.messages import MessageHit, search_messages
from samtale.conversation.shoppers import shopper_id
from samtale.storage.db import create_database
from samtale.storage.migrate import alembic_config, upgrade_database
from tests.conftest import POSTGRES_ADMIN_URL, _pg_admin_execute, _pg_url


@pytest.fixture
def empty_database_url(tmp_path: Path) -> Iterator[str]:
    if POSTGRES_ADMIN_URL:
        name = f"samtale_m_{uuid.uuid4().hex[:12]}"
        _pg_admin_execute(f'CREATE DATABASE "{name}"')
        yield _pg_url(name)
        _pg_admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        yield f"sqlite+aiosqlite:///{tmp_path / 'migrate.db'}"


def _seed_0004_rows(url: str) -> None:
    """A Danish shop's conversation as 0004 stored it (and an English one's)."""
    engine = sa.create_engine(url.replace("+aiosqlite", "").replace("+asyncpg", "+psycopg2"))
    now = "2026-01-01 10:00:00+00"
    try:
        with engine.begin() as conn:
            for chatbot, language in (("vinhus", "da"), ("wineshop", "en")):
                conn.execute(
                    sa.text(
                        "INSERT INTO chatbots (id, name, language, config, created_at, updated_at)"
                        " VALUES (:id, :id, :language, '{}', :now, :now)"
                    ),
                    {"id": chatbot, "language": language, "now": now},
                )
                owner = shopper_id(chatbot_id=chatbot, user_id="anna")
                conn.execute(
                    sa.text(
                        "INSERT INTO users (id, chatbot_id, external_id, order_failed_attempts, order_failed_lookups,"
                        " created_at) VALUES (:id, :chatbot, 'anna', 0, '[]', :now)"
                    ),
                    {"id": owner, "chatbot": chatbot, "now": now},
                )
                conn.execute(
                    sa.text(
                        "INSERT INTO conversation_sessions (id, chatbot_id, user_id, shopper_id, status, title,"
                        " is_archived, is_pinned, state, message_count, created_at, updated_at) VALUES"
                        " (:id, :chatbot, 'anna', :owner, 'active', :title, false, false, '{}', 2, :now, :now)"
                    ),
                    {"id": f"s-{chatbot}", "chatbot": chatbot, "owner": owner, "title": f"Spørgsmål {chatbot}",
                     "now": now},
                )  # fmt: skip
                for sequence, text in ((1, "Hvornår kommer leveringen?"), (2, "Levering tager 2 dage.")):
                    conn.execute(
                        sa.text(
                            "INSERT INTO messages (id, chatbot_id, session_id, sequence, role, content, status, extra,"
                            " is_edited, created_at) VALUES (:id, :chatbot, :session, :sequence, :role, :content,"
                            " 'ok', '{}', false, :now)"
                        ),
                        {"id": f"m-{chatbot}-{sequence}", "chatbot": chatbot, "session": f"s-{chatbot}",
                         "sequence": sequence, "role": "user" if sequence == 1 else "assistant", "content": text,
                         "now": now},
                    )  # fmt: skip
    finally:
        engine.dispose()


def _search(url: str, chatbot: str, language: str, query: str) -> list[MessageHit]:
    async def run() -> list[MessageHit]:
        db = create_database(url)
        try:
            return await search_messages(db=db, chatbot_id=chatbot, language=language, query=query)
        finally:
            await db.dispose()

    return asyncio.run(run())


def test_stored_messages_are_searchable_in_their_shops_language_after_the_upgrade(empty_database_url: str) -> None:
    upgrade_database(empty_database_url, "0004")
    _seed_0004_rows(empty_database_url)
    upgrade_database(empty_database_url)

    danish = _search(empty_database_url, "vinhus", "da", "levering")
    assert {hit.message_id for hit in danish} == {"m-vinhus-1", "m-vinhus-2"}
    assert any("<mark>leveringen</mark>" in hit.snippet for hit in danish)
    # The English shop's identical Danish text was stemmed as English: "leveringen" is not "levering" there.
    assert [hit.message_id for hit in _search(empty_database_url, "wineshop", "en", "levering")] == ["m-wineshop-2"]

    if POSTGRES_ADMIN_URL:  # allowed to create pg_trgm here: titles get their trigram index
        engine = sa.create_engine(empty_database_url.replace("+asyncpg", "+psycopg2"))
        with engine.connect() as conn:
            indexes = set(conn.execute(sa.text("SELECT indexname FROM pg_indexes")).scalars())
        engine.dispose()
        assert "ix_conversation_sessions_title_trgm" in indexes

    command.downgrade(alembic_config(empty_database_url), "0005")
    command.upgrade(alembic_config(empty_database_url), "head")
    assert len(_search(empty_database_url, "vinhus", "da", "leveringen")) == 2


@pytest.mark.skipif(not POSTGRES_ADMIN_URL, reason="CREATE EXTENSION is PostgreSQL's")
def test_without_the_right_to_create_pg_trgm_the_migration_skips_the_title_trigram_index_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    role, name = f"samtale_r_{uuid.uuid4().hex[:8]}", f"samtale_m_{uuid.uuid4().hex[:12]}"
    _pg_admin_execute(f"CREATE ROLE {role} LOGIN")
    _pg_admin_execute(f'CREATE DATABASE "{name}"')
    try:
        _pg_admin_execute(f'REVOKE CREATE ON DATABASE "{name}" FROM PUBLIC')
        owner_url = sa.make_url(_pg_url(name).replace("+asyncpg", "+psycopg2"))
        engine = sa.create_engine(owner_url)
        with engine.begin() as conn:  # the role may build tables in public, but not add extensions
            conn.execute(sa.text(f"GRANT ALL ON SCHEMA public TO {role}"))
        engine.dispose()
        url = sa.make_url(_pg_url(name)).set(username=role, password=None).render_as_string(hide_password=False)
        with caplog.at_level("WARNING", logger="alembic.runtime.migration"):
            upgrade_database(url)
        assert any("pg_trgm cannot be created here" in record.getMessage() for record in caplog.records)
        assert _search(url, "vinhus", "da", "levering") == []  # an empty store searches fine without it
        engine = sa.create_engine(sa.make_url(url.replace("+asyncpg", "+psycopg2")))
        with engine.connect() as conn:
            indexes = set(conn.execute(sa.text("SELECT indexname FROM pg_indexes")).scalars())
        engine.dispose()
        assert "ix_messages_search" in indexes and "ix_conversation_sessions_title_trgm" not in indexes
    finally:
        _pg_admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        _pg_admin_execute(f"DROP ROLE IF EXISTS {role}")
