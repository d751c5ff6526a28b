"""Fixtures for knowledge tests: one migrated database per test module, shared so the embedding
cache is too (the model embeds each wine once per module), and the local embedder.

The database is a temporary SQLite file; ``SAMTALE_TEST_DATABASE_URL`` (a fresh PostgreSQL
database) is used instead when set, and ``SAMTALE_TEST_POSTGRES_URL`` (an admin URL, as CI sets
it) makes a new PostgreSQL database per module. Tests use their own chatbot ids, so they never
see each other's indexes.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from samtale.knowledge.embedders import LocalEmbedder
from samtale.storage.db import Database, create_database
from samtale.storage.migrate import upgrade_database


def _pg_admin(statement: str, admin_url: str) -> None:
    import psycopg2

    conn = psycopg2.connect(admin_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cursor:
            cursor.execute(statement)
    finally:
        conn.close()


@pytest.fixture(scope="module")
def kb_database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database for one test module."""
    if url := os.environ.get("SAMTALE_TEST_DATABASE_URL"):
        upgrade_database(url)
        yield url
    elif admin_url := os.environ.get("SAMTALE_TEST_POSTGRES_URL"):
        name = f"samtale_kb_{uuid.uuid4().hex[:10]}"
        _pg_admin(f'CREATE DATABASE "{name}"', admin_url)
        base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
        url = f"{base}/{name}"
        upgrade_database(url)
        yield url
        _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', admin_url)
    else:
        path = tmp_path_factory.mktemp("kb") / "knowledge.db"
        url = f"sqlite+aiosqlite:///{path}"
        upgrade_database(url)
        yield url


@pytest.fixture
async def db(kb_database_url: str) -> AsyncIterator[Database]:
    """An engine on the module's database for one test."""
    database = create_database(kb_database_url)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture(scope="session")
def embedder() -> LocalEmbedder:
    """all-MiniLM-L6-v2 from the packaged files (loaded once per process)."""
    return LocalEmbedder()
