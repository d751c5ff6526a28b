"""The `orders:` block of a chatbot document: where it may stand and what it accepts."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from samtale.chatbots.schema import ChatbotConfig

INTEGRATION = {"name": "shop", "kind": "shopify", "settings": {"shop": "demo"}}


def document(**apiflow_extra: object) -> dict:
    return {
        "id": "shop",
        "name": "Shop",
        "flows": [{"type": "main"}, {"type": "apiflow", "route_key": "order", "integration": "shop", **apiflow_extra}],
        "integrations": [INTEGRATION],
    }


def test_the_block_is_optional_and_set_fields_are_kept() -> None:
    assert ChatbotConfig.model_validate(document()).flow("order").orders is None
    orders = (
        ChatbotConfig.model_validate(
            document(orders={"max_failed_attempts": 3, "llm_extraction": True, "order_number_pattern": r"\d{4}"})
        )
        .flow("order")
        .orders
    )
    assert orders is not None
    assert (orders.max_failed_attempts, orders.llm_extraction, orders.llm_timeout_s) == (3, True, 5.0)


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"flows": [{"type": "main", "orders": {"max_failed_attempts": 3}}]}, "only the apiflow"),
        (document(orders={"max_failed_attempts": 0}), "greater than or equal to 1"),
        (document(orders={"order_number_pattern": "(unclosed"}), "not a valid regular expression"),
        (document(orders={"lockout": 3}), "Extra inputs are not permitted"),
    ],
    ids=["not-apiflow", "zero-attempts", "bad-regex", "unknown-field"],
)
def test_bad_blocks_are_refused_with_a_clear_message(change: dict, complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint):
        ChatbotConfig.model_validate({**document(), **change})
