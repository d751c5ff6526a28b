"""Meta's own published example payloads pass the validator unchanged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from samtale.template_builder.validator import validate_template

EXAMPLES: dict[str, Any] = json.loads((Path(__file__).parent / "data" / "meta_examples.json").read_text())
NAMES = [name for name in EXAMPLES if not name.startswith("_")]


@pytest.mark.parametrize("name", NAMES)
def test_meta_documentation_example_is_valid(name: str) -> None:
    result = validate_template(EXAMPLES[name])

    assert result.errors == [], result.summary()
    assert result.valid


def test_every_template_kind_from_the_docs_is_covered() -> None:
    categories = {EXAMPLES[name]["category"].upper() for name in NAMES}
    kinds = {c["type"].upper() for name in NAMES for c in EXAMPLES[name]["components"]}

    assert categories == {"MARKETING", "UTILITY", "AUTHENTICATION"}
    assert {"CAROUSEL", "LIMITED_TIME_OFFER", "HEADER", "FOOTER", "BUTTONS"} <= kinds
