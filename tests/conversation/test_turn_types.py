"""The turn's typed records stay in step with the tables and the wire they describe."""

from __future__ import annotations

import dataclasses

import pytest
from pydantic import TypeAdapter

from samtale.conversation.events import EVENT_PAYLOADS, EventName
from samtale.conversation.turn import METRIC_FIELDS, TurnMetrics
from samtale.storage.models import ConversationProcessingMetrics

RECORDER_COLUMNS = {"id", "chatbot_id", "session_id", "streaming_session_id", "created_at"}


def test_turn_metrics_mirror_the_metrics_table_column_for_column() -> None:
    columns = set(ConversationProcessingMetrics.__table__.columns.keys())
    assert set(METRIC_FIELDS) == columns - RECORDER_COLUMNS
    assert set(TurnMetrics().row()) == columns - RECORDER_COLUMNS


def test_a_misspelt_phase_is_an_error_not_a_silent_drop() -> None:
    metrics = TurnMetrics()
    with pytest.raises(AttributeError):
        metrics.retreival_ms = 3.0  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        TurnMetrics(retreival_ms=3.0)  # type: ignore[call-arg]
    assert dataclasses.replace(metrics, retrieval_ms=3.0).row()["retrieval_ms"] == 3.0


def test_public_metrics_leave_out_phases_that_did_not_run() -> None:
    metrics = TurnMetrics(config_ms=0.12345, routing_ms=1.0, total_ms=9.87654)
    assert metrics.public() == {
        "config_ms": 0.123,
        "routing_ms": 1.0,
        "retrieval_ms": 0.0,
        "prompt_ms": 0.0,
        "total_ms": 9.877,
    }
    metrics.ttft_ms, metrics.tokens_per_s = 4.0, 123.456
    assert metrics.public()["ttft_ms"] == 4.0 and metrics.public()["tokens_per_s"] == 123.5


def test_every_event_name_has_a_payload_schema() -> None:
    assert set(EVENT_PAYLOADS) == set(EventName)
    for payload in EVENT_PAYLOADS.values():
        schema = TypeAdapter(payload).json_schema()
        assert schema["type"] == "object" and schema["properties"]
    order = TypeAdapter(EVENT_PAYLOADS[EventName.ORDER]).json_schema()
    assert "order_number" in order["properties"]["order"]["properties"]
