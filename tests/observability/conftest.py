"""Real databases for the observability tests: SQLite always, PostgreSQL when SAMTALE_TEST_POSTGRES_URL is set."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import event, text

import samtale.storage.models  # noqa: F401  (registers every table on Base.metadata)
from samtale.storage.base import Base
from samtale.storage.db import Database, create_database

_POSTGRES_ADMIN_URL = os.environ.get("SAMTALE_TEST_POSTGRES_URL")
# CI passes a plain libpq URL (postgresql://…); the async engine needs the asyncpg driver.
POSTGRES_URL = _POSTGRES_ADMIN_URL.replace("postgresql://", "postgresql+asyncpg://", 1) if _POSTGRES_ADMIN_URL else None


async def _sqlite(tmp_path: Path) -> Database:
    db = create_database(f"sqlite+aiosqlite:///{tmp_path}/samtale.db")
    async with db.engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    return db


async def _postgres() -> tuple[Database, str]:
    """A database in a fresh schema (dropped afterwards) so tests never touch other tables."""
    assert POSTGRES_URL is not None
    schema = f"samtale_test_{uuid.uuid4().hex[:10]}"
    admin = create_database(POSTGRES_URL)
    async with admin.engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    await admin.dispose()
    db = create_database(POSTGRES_URL)

    @event.listens_for(db.engine.sync_engine, "connect")
    def _search_path(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        cursor.execute(f'SET search_path TO "{schema}"')
        cursor.close()

    async with db.engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    return db, schema


async def _drop_schema(schema: str) -> None:
    assert POSTGRES_URL is not None
    admin = create_database(POSTGRES_URL)
    async with admin.engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    await admin.dispose()


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated SQLite database in a temporary file."""
    database = await _sqlite(tmp_path)
    yield database
    await database.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def any_db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """The same test on SQLite and on PostgreSQL (skipped without SAMTALE_TEST_POSTGRES_URL, except under CI)."""
    if request.param == "sqlite":
        database = await _sqlite(tmp_path)
        yield database
        await database.dispose()
        return
    if POSTGRES_URL is None:
        # .ci/run runs the suite twice, on SQLite and with SAMTALE_TEST_POSTGRES_URL (and fails
        # itself when PostgreSQL cannot be reached), so the SQLite pass may skip these.
        if os.environ.get("SAMTALE_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail("SAMTALE_TEST_POSTGRES_URL must be set when SAMTALE_TEST_REQUIRE_POSTGRES=1")
        pytest.skip("SAMTALE_TEST_POSTGRES_URL is not set")
    database, schema = await _postgres()
    yield database
    await database.dispose()
    await _drop_schema(schema)


@pytest.fixture
async def pg_db() -> AsyncIterator[Database]:
    """A PostgreSQL database (skipped without SAMTALE_TEST_POSTGRES_URL, except under CI)."""
    if POSTGRES_URL is None:
        # .ci/run runs the suite twice, on SQLite and with SAMTALE_TEST_POSTGRES_URL (and fails
        # itself when PostgreSQL cannot be reached), so the SQLite pass may skip these.
        if os.environ.get("SAMTALE_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail("SAMTALE_TEST_POSTGRES_URL must be set when SAMTALE_TEST_REQUIRE_POSTGRES=1")
        pytest.skip("SAMTALE_TEST_POSTGRES_URL is not set")
    database, schema = await _postgres()
    yield database
    await database.dispose()
    await _drop_schema(schema)
