"""An operator reads categorised errors in error_logs: recovery advice, system state, no secrets or PII."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import select

from samtale.errors import RECOVERY_SUGGESTIONS, ErrorCategory, NotFoundError
from samtale.observability.errors import log_error, log_exception, mask_text, scrub_context
from samtale.observability.metrics import render_metrics
from samtale.observability.system import register_active_streams
from samtale.storage.db import Database, create_database
from samtale.storage.models.observability import ErrorLog


async def stored(db: Database) -> list[ErrorLog]:
    async with db.session() as session:
        return list((await session.execute(select(ErrorLog).order_by(ErrorLog.id))).scalars())


async def test_order_api_timeout_is_stored_with_recovery_and_state_but_no_shopper_data(db: Database) -> None:
    register_active_streams(lambda: 7)
    try:
        await log_error(
            db=db,
            category=ErrorCategory.ORDER_API,
            code="order_api_timeout",
            message="Shopify did not answer within 15 s for jane.doe@example.com",
            chatbot_id="vinhuset",
            context={
                "flow": "apiflow",
                "order_number": "1001",
                "email": "jane.doe@example.com",
                "phone": "+45 12 34 56 78",
                "shipping_address": "Vestergade 1, 8000 Aarhus",
                "X-Api-Key": "shpat_abcdef",
                "access_token": "secret-token",
                "request": {
                    "url": "https://shop.example/orders.json?name=1001&token=abc123",
                    "headers": {"Authorization": "Bearer sk-live-123", "Accept": "application/json"},
                    "note": "shopper wrote: call me on 20 30 40 50",
                },
                "completion_tokens": 12,
            },
        )
    finally:
        register_active_streams(None)

    [row] = await stored(db)
    assert row.category == "order_api"
    assert row.chatbot_id == "vinhuset"
    assert row.recovery == RECOVERY_SUGGESTIONS[ErrorCategory.ORDER_API]
    assert "jane.doe" not in row.message and "[email]" in row.message
    assert row.context == {
        "flow": "apiflow",
        "order_number": "1001",
        "request": {
            "url": "https://shop.example/orders.json?name=1001&token=[redacted]",
            "headers": {"Accept": "application/json"},
            "note": "shopper wrote: call me on [phone]",
        },
        "completion_tokens": 12,
    }
    assert row.system_state["active_streams"] == 7
    assert row.system_state["rss_mb"] > 10
    assert row.system_state["uptime_s"] >= 0


def test_masking_leaves_order_numbers_and_flows_alone() -> None:
    assert mask_text("order #1001 for flow apiflow") == "order #1001 for flow apiflow"
    assert mask_text("ring +4512345678 eller skriv til kunde@shop.dk") == "ring [phone] eller skriv til [email]"
    assert mask_text("Authorization: Basic dXNlcjpwYXNz") == "Authorization: Basic [redacted]"
    assert scrub_context({"customerName": "Jane", "ip_address": "10.0.0.1", "tokens": 5}) == {"tokens": 5}


async def test_an_exception_gives_its_own_category_and_code(db: Database) -> None:
    await log_exception(db=db, error=NotFoundError("Unknown chatbot 'nope'"), chatbot_id=None, context={})
    [row] = await stored(db)
    assert (row.category, row.code, row.message) == ("validation", "not_found", "Unknown chatbot 'nope'")


async def test_errors_are_counted_by_category_in_prometheus(db: Database) -> None:
    def count() -> float:
        body = render_metrics()[0].decode()
        line = next((x for x in body.splitlines() if x.startswith('samtale_errors_total{category="vector_store"}')), "")
        return float(line.split()[-1]) if line else 0.0

    before = count()
    await log_error(
        db=db, category=ErrorCategory.VECTOR_STORE, code="index_missing", message="x", chatbot_id="a", context={}
    )
    assert count() == before + 1


async def test_a_failing_database_does_not_turn_one_error_into_two(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    empty = create_database(f"sqlite+aiosqlite:///{tmp_path}/no-tables.db")  # error_logs does not exist
    caplog.set_level(logging.WARNING)
    try:
        await log_error(
            db=empty, category=ErrorCategory.LLM, code="llm_down", message="LLM refused", chatbot_id="a", context={}
        )
    finally:
        await empty.dispose()
    assert any("could not store the llm error llm_down" in r.getMessage() for r in caplog.records)


def test_ids_in_the_context_stay_whole_so_the_erasure_finds_their_rows() -> None:
    # This stream id holds "0262-4357", eight digits the phone pattern would otherwise mask.
    stream = "088c6fdc-0262-4357-8d39-bb2a6e86e42e"
    scrubbed = scrub_context({"streaming_session_id": stream, "note": "call +45 12 34 56 78 about " + stream})
    assert scrubbed["streaming_session_id"] == stream
    assert "[phone]" in scrubbed["note"]
