"""Shared fixtures: a fresh, migrated database per test (SQLite, or PostgreSQL when
``SAMTALE_TEST_POSTGRES_URL`` is set), the test settings, the running services, and an HTTP
client on the app.

The schema is migrated once per session into a template (a SQLite file, or a PostgreSQL
template database); each test gets a copy, so every test starts from an empty, real database.

Guards (README, "Development"): warnings are errors (pyproject ``filterwarnings``), a blocking
call inside the running event loop fails the test (the autouse ``blockbuster`` fixture below),
and no test reaches anything but loopback (pytest-socket, ``--allow-hosts`` in pyproject).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest
from blockbuster import BlockBuster, blockbuster_ctx
from redis.asyncio import Redis
from redis.exceptions import RedisError

from samtale.settings import Settings
from samtale.storage.migrate import upgrade_database

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (ROOT / ".." / "shared" / "data").resolve()
POSTGRES_ADMIN_URL = os.environ.get("SAMTALE_TEST_POSTGRES_URL")
REDIS_URL = os.environ.get("SAMTALE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


# Blocking calls we accept inside the event loop, each by the smallest function that makes them:
# (file, function, the guarded calls it may make). Everything else blocking fails the test.
METADATA_READS = ("os.stat", "os.listdir", "os.scandir", "io.TextIOWrapper.read")
ALLOWED_BLOCKING: list[tuple[str, str, tuple[str, ...]]] = [
    # SQLAlchemy turns the SQLite file name into an absolute path when an engine is created (at
    # most a getcwd, once per engine, never per query; queries run in aiosqlite's thread).
    ("sqlalchemy/dialects/sqlite/pysqlite.py", "create_connect_args", ("os.path.abspath",)),
    # Ours: the resident memory read from /proc/self/statm (kernel memory, never the disk) by the
    # monitoring endpoints and the error log (samtale/observability/system.py).
    ("samtale/observability/system.py", "rss_mb", ("io.TextIOWrapper.read",)),
    # qdrant-client reads its own version from the package metadata when a client is created
    # (its User-Agent); once per store client, which samtale keeps for the index's lifetime.
    ("qdrant_client/async_qdrant_remote.py", "__init__", METADATA_READS),
    # FastAPI reads an endpoint's source file and line once (then cached) to describe an
    # exception raised by it; only on the error path of the simulators' endpoints.
    ("fastapi/routing.py", "_extract_endpoint_context", (*METADATA_READS, "io.BufferedReader.read")),
    # redis-py reads its own version from the installed package metadata for every new
    # connection (CLIENT SETINFO); small local files, once per pooled connection.
    ("redis/utils.py", "get_lib_version", METADATA_READS),
    # asyncpg looks for ~/.pgpass and ~/.postgresql/root.crt (path resolution, os.stat, a read if
    # one exists) while parsing a connection's DSN; once per pooled connection, never per query.
    (
        "asyncpg/connect_utils.py",
        "_parse_connect_dsn_and_args",
        (*METADATA_READS, "os.path.abspath", "io.BufferedReader.read"),
    ),
]


@pytest.fixture(autouse=True)
def blockbuster() -> Iterator[BlockBuster]:
    """Fail the test on a blocking call (file IO, sleep, socket, os.stat…) inside the running event loop.

    Code that must block does it before the loop runs, in a sync fixture, or in a worker thread
    (``asyncio.to_thread``); a test that means to block takes ``blockbuster`` and calls
    ``blockbuster.deactivate()`` (README, "Development").
    """
    with blockbuster_ctx() as guard:
        for filename, function, calls in ALLOWED_BLOCKING:
            for call in calls:
                guard.functions[call].can_block_in(filename, function)
        yield guard


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


@contextlib.contextmanager
def _fresh_database(database_template: str, path: Path) -> Iterator[str]:
    if POSTGRES_ADMIN_URL:
        name = f"samtale_t_{uuid.uuid4().hex[:12]}"
        _pg_admin_execute(f'CREATE DATABASE "{name}" TEMPLATE "{database_template}"')
        try:
            yield _pg_url(name)
        finally:
            _pg_admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    else:
        shutil.copyfile(database_template, path)
        yield f"sqlite+aiosqlite:///{path}"


@pytest.fixture
def database_url(database_template: str, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated, empty database for one test."""
    with _fresh_database(database_template, tmp_path / "samtale.db") as url:
        yield url


@pytest.fixture
def second_database_url(database_template: str, tmp_path: Path) -> Iterator[str]:
    """Another fresh, migrated, empty database of the same kind (a second deployment's store)."""
    with _fresh_database(database_template, tmp_path / "second.db") as url:
        yield url


class SettingsFactory(Protocol):
    """Builds test :class:`Settings`; keyword arguments override single fields."""

    def __call__(self, **overrides: Any) -> Settings: ...


@pytest.fixture
def make_settings(database_url: str, tmp_path: Path) -> SettingsFactory:
    """The one factory of test settings: the test's own database and data folder, the offline
    LLM, no Redis, no ``.env`` file; ``make_settings(pool_orders_timeout_s=0.5)`` changes a field."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "environment": "test",
            "database_url": database_url,
            "data_dir": tmp_path / "data",
            "redis_url": None,
            "llm_provider": "offline",
            # The simulators and fake servers of the tests listen on loopback (the outbound guard's
            # own tests set this to []).
            "outbound_allow": ["127.0.0.0/8", "::1"],
            # Each test counts its own rate limits, also in the Redis the tests share.
            "rate_limit_key_prefix": f"test-limits-{uuid.uuid4().hex}",
            # The analytics worker fits a topic classifier per chatbot (seconds of CPU): tests of
            # analytics turn it on (tests/analytics), the others leave it off.
            "analytics_enabled": False,
            **overrides,
        }
        return Settings(_env_file=None, **values)  # type: ignore[call-arg]

    return make


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    """Settings for a test (see ``make_settings``); a module overrides this fixture to change fields."""
    return make_settings()


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[object]:
    """The running services (recorder, hub, pools…), closed after the test."""
    from samtale.services import Services

    running = await asyncio.to_thread(Services.create, settings)
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
    """The test Redis URL; skipped when Redis does not answer, except under CI (or with
    ``SAMTALE_TEST_REQUIRE_SERVICES=1``) where it must."""
    client = Redis.from_url(REDIS_URL, socket_connect_timeout=0.5)
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        if os.environ.get("CI") == "true" or os.environ.get("SAMTALE_TEST_REQUIRE_SERVICES") == "1":
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
