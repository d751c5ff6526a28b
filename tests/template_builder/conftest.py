"""Shared fixtures of the template-builder tests: Meta's example payloads, a migrated SQLite database."""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from samtale.storage.db import Database, create_database
from samtale.storage.migrate import upgrade_database

DATA = Path(__file__).parent / "data"


@pytest.fixture
def meta_examples() -> dict[str, Any]:
    """A fresh copy of Meta's documentation examples (tests may mutate it)."""
    return copy.deepcopy(json.loads((DATA / "meta_examples.json").read_text()))


@pytest.fixture(scope="session")
def migrated_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file migrated to the newest schema once per test run (copied for each test)."""
    path = tmp_path_factory.mktemp("template_db") / "migrated.db"
    upgrade_database(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture
def database_file(tmp_path: Path, migrated_file: Path) -> Path:
    """A copy of the migrated file for one test (copied here, outside the event loop)."""
    path = tmp_path / "templates.db"
    shutil.copyfile(migrated_file, path)
    return path


@pytest.fixture
async def database(database_file: Path) -> AsyncIterator[Database]:
    """A migrated SQLite database in a temporary file of its own."""
    db = create_database(f"sqlite+aiosqlite:///{database_file}")
    yield db
    await db.dispose()
