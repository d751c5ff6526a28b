"""Helpers for knowledge tests: the shared data files and a wine catalogue subset writer."""

from __future__ import annotations

import csv
import uuid
from pathlib import Path

SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
WINES = SHARED_DATA / "catalog" / "winemag-5k.csv"
TERMS = SHARED_DATA / "policies" / "stellaholm-terms.en.md"

#: Columns of the wine catalogue kept as metadata only: numbers and the reviewer say nothing
#: a shopper's question is matched on.
WINE_METADATA_ONLY = ("points", "price", "taster_name", "taster_twitter_handle")


def chatbot_id(name: str) -> str:
    """A chatbot id unique to this run (a shared PostgreSQL database outlives one run)."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


def wine_rows(count: int) -> tuple[list[str], list[dict[str, str]]]:
    """The header and the first ``count`` rows of the wine catalogue."""
    with WINES.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        rows = [row for _, row in zip(range(count), reader, strict=False)]
        return list(reader.fieldnames or []), rows


def write_wines(path: Path, header: list[str], rows: list[dict[str, str]]) -> Path:
    """Write rows as a CSV catalogue file at ``path``."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return path
