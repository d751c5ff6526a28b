"""Shared fixtures of the template-builder tests: Meta's example payloads, a migrated SQLite database."""

from __future__ import annotations

import copy
import json
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


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated SQLite database in a temporary file."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'templates.db'}"
    upgrade_database(url)
    db = create_database(url)
    yield db
    await db.dispose()
