"""Fixtures for analytics tests: the shipped shop-topics chatbot and its development questions."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
SHOP_TOPICS = ROOT / "examples" / "shop-topics.yaml"
TOPICS_DEV = Path(__file__).parent / "data" / "topics-dev.csv"

# Read once at import, outside any event loop.
_SHOP_TOPICS_DOCUMENT: dict[str, Any] = yaml.safe_load(SHOP_TOPICS.read_text(encoding="utf-8"))


def shop_topics_document() -> dict[str, Any]:
    """The shipped shop-topics chatbot document (fresh copy)."""
    return copy.deepcopy(_SHOP_TOPICS_DOCUMENT)
