"""The processing-metrics endpoint's figures per chatbot and flow, on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from samtale.observability.processing import interpolated_percentile, processing_metrics
from samtale.storage.db import Database
from samtale.storage.models.observability import ConversationProcessingMetrics

NOW = datetime.now(UTC)


def row(chatbot: str, flow: str, ttft_ms: float | None, *, status: str = "ok", age_h: float = 1.0,
        retrieval_ms: float = 10.0, tokens_per_s: float | None = 100.0) -> ConversationProcessingMetrics:  # fmt: skip
    return ConversationProcessingMetrics(
        chatbot_id=chatbot, session_id="s", streaming_session_id=str(uuid.uuid4()), flow_type=flow,
        provider="offline", status=status, config_ms=1.0, routing_ms=2.0, retrieval_ms=retrieval_ms,
        order_ms=0.0, prompt_ms=0.5, llm_ttft_ms=(ttft_ms or 0) / 2, stream_ms=200.0, persist_ms=3.0,
        ttft_ms=ttft_ms, total_ms=250.0, completion_tokens=20, tokens_per_s=tokens_per_s,
        created_at=NOW - timedelta(hours=age_h),
    )  # fmt: skip


async def test_ttft_percentiles_error_rate_and_phase_means_per_flow(any_db: Database) -> None:
    ttfts = [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0]
    async with any_db.session() as session:
        session.add_all(row("vinhuset", "flow3", t, retrieval_ms=t / 10) for t in ttfts)
        session.add(row("vinhuset", "flow3", None, status="failed", tokens_per_s=None))  # failed before a token
        session.add_all(row("vinhuset", "apiflow", 500.0, tokens_per_s=50.0) for _ in range(3))
        session.add(row("hundeshop", "main", 25.0))
        session.add(row("vinhuset", "flow3", 9999.0, age_h=48))  # outside the 24 h window

    result = await processing_metrics(db=any_db, since=NOW - timedelta(hours=24), chatbot_id="vinhuset")
    by_flow = {r.flow_type: r for r in result}
    assert list(by_flow) == ["apiflow", "flow3"]

    flow3 = by_flow["flow3"]
    assert flow3.count == 11
    assert flow3.errors == 1
    assert flow3.error_rate == round(1 / 11, 4)
    assert flow3.ttft_ms_p50 == 55.0  # percentile_cont over the ten TTFTs
    assert flow3.ttft_ms_p95 == 95.5
    assert flow3.ttft_ms_mean == 55.0
    assert flow3.tokens_per_s_mean == 100.0
    assert flow3.phase_ms_mean["retrieval"] == round((sum(ttfts) / 10 + 10.0) / 11, 2)
    assert flow3.phase_ms_mean["routing"] == 2.0
    assert flow3.completion_tokens == 220

    apiflow = by_flow["apiflow"]
    assert (apiflow.count, apiflow.errors, apiflow.ttft_ms_p50, apiflow.tokens_per_s_mean) == (3, 0, 500.0, 50.0)

    everyone = await processing_metrics(db=any_db, since=NOW - timedelta(hours=24), chatbot_id=None)
    assert [(r.chatbot_id, r.flow_type) for r in everyone] == [
        ("hundeshop", "main"),
        ("vinhuset", "apiflow"),
        ("vinhuset", "flow3"),
    ]


async def test_an_empty_window_has_no_entries(any_db: Database) -> None:
    assert await processing_metrics(db=any_db, since=NOW, chatbot_id=None) == []


def test_percentile_interpolates_like_postgres() -> None:
    assert interpolated_percentile([], 0.5) is None
    assert interpolated_percentile([42.0], 0.95) == 42.0
    assert interpolated_percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
