"""Shared fixtures: a fresh, migrated database per test (SQLite, or PostgreSQL when
``SAMTALE_TEST_POSTGRES_URL`` is set), the running services, and an HTTP client on the app.

The schema is migrated once per session into a template (a SQLite file, or a PostgreSQL
template database); each test gets a copy, so every test starts from an empty, real database.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from redis.asyncio import Redis

from samtale.settings import Settings
from samtale.storage.migrate import upgrade_database

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (ROOT / ".." / "shared" / "data").resolve()
POSTGRES_ADMIN_URL = os.environ.get("SAMTALE_TEST_POSTGRES_URL")
REDIS_URL = os.environ.get("SAMTALE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _pg_admin_execute(statement: str) -> None:
    import psycopg2

    assert POSTGRES_ADMIN_URL is not None
    conn = psycopg2.connect(POSTGRES_ADMIN_URL)
    conn.autocommit = True
    try:
        with conn.cursor() as cursor:
            cursor.execute(statement)
    finally:
        conn.close()


def _pg_url(database: str) -> str:
    assert POSTGRES_ADMIN_URL is not None
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{database}"


@pytest.fixture(scope="session")
def database_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated template: a SQLite file path, or a PostgreSQL template database name."""
    if POSTGRES_ADMIN_URL:
        name = f"samtale_tpl_{uuid.uuid4().hex[:10]}"
        _pg_admin_execute(f'CREATE DATABASE "{name}"')
        upgrade_database(_pg_url(name))
        yield name
        _pg_admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        path = tmp_path_factory.mktemp("template") / "template.db"
        upgrade_database(f"sqlite+aiosqlite:///{path}")
        yield str(path)


@pytest.fixture
def database_url(database_template: str, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated, empty database for one test."""
    if POSTGRES_ADMIN_URL:
        name = f"samtale_t_{uuid.uuid4().hex[:12]}"
        _pg_admin_execute(f'CREATE DATABASE "{name}" TEMPLATE "{database_template}"')
        yield _pg_url(name)
        _pg_admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        path = tmp_path / "samtale.db"
        shutil.copyfile(database_template, path)
        yield f"sqlite+aiosqlite:///{path}"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Settings for a test: its own database and data folder, the offline LLM, no Redis."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        environment="test",
        database_url=database_url,
        data_dir=tmp_path / "data",
        redis_url=None,
        llm_provider="offline",
    )


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[object]:
    """The running services (recorder, hub, pools…), closed after the test."""
    from samtale.services import Services

    running = Services.create(settings)
    await running.start(warm_up=False)
    try:
        yield running
    finally:
        await running.aclose()


@pytest.fixture
async def client(services: object) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the app, in process (``httpx.ASGITransport``)."""
    from samtale.app import create_app
    from samtale.services import Services

    assert isinstance(services, Services)
    app = create_app(services=services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://samtale.test", timeout=60) as http:
        yield http


@pytest.fixture
async def redis_url() -> str:
    """The test Redis URL; skipped when Redis does not answer, except under CI where it must."""
    client = Redis.from_url(REDIS_URL, socket_connect_timeout=0.5)
    try:
        await client.ping()
    except Exception as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Redis at {REDIS_URL} does not answer under CI: {exc}")
        pytest.skip(f"Redis at {REDIS_URL} does not answer")
    finally:
        await client.aclose()
    return REDIS_URL


def shared_data(*parts: str) -> Path:
    """A file of ``../shared/data`` (public data for tests); skips nothing: a missing file fails."""
    path = SHARED_DATA.joinpath(*parts)
    assert path.exists(), f"test data missing: {path}"
    return path
